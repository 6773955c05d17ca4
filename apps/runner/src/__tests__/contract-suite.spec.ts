/**
 * The contract suite over every registered plugin: the built-ins (the registry the runner builds) and the
 * example third-party dataset and backbone. Registering a plugin enrols it; one without `testOptions` fails.
 */
import { symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@niwt/compute';
import { ContractBench, checkPlugin, contractSuite, countByGroup, enrolledPlugins } from '../testing/index.js';
import { REPO, tempDir } from './helpers.js';

const BARS = path.join(REPO, 'examples/plugins/bars-dataset.js');
const TINY_NET = path.join(REPO, 'examples/plugins/tiny-net-backbone.js');

await contractSuite({ plugins: [BARS, TINY_NET], builtins: true });
await initBackend('wasm'); // what contractSuite chose, for the checks called directly below

describe('the contract suite', () => {
  it('enrols every plugin of every group: the built-ins and the modules passed to it', async () => {
    const { specs } = await enrolledPlugins({ plugins: [BARS, TINY_NET], builtins: true });
    expect(countByGroup(specs)).toEqual({ dataset: 6, knowledge: 2, backbone: 7, method: 5, tracker: 1 });
    const datasets = specs.filter((s) => s.group === 'dataset').map((s) => s.name);
    expect(datasets).toEqual(['awa2', 'bars', 'cub', 'folder', 'shapes', 'xlsa17']);
  });

  it('given only a module, enrols just its plugins', async () => {
    const { specs } = await enrolledPlugins({ plugins: [BARS] });
    expect(specs.map((s) => `${s.group}:${s.name}`)).toEqual(['dataset:bars']);
  });

  it('fails a plugin without testOptions, telling its author what to add', async () => {
    const dir = tempDir('contract');
    writeFileSync(
      path.join(dir, 'bare.js'),
      `import bars from ${JSON.stringify(BARS)};
import { Container, ContainerModule } from ${JSON.stringify(path.join(REPO, 'node_modules/inversify/lib/index.js'))};
const scratch = new Container();
scratch.load(bars);
const spec = scratch.getAll(Symbol.for('niwt.PluginSpec'))[0];
export default new ContainerModule(({ bind }) => {
  bind(Symbol.for('niwt.PluginSpec')).toConstantValue({ ...spec, name: 'bare', testOptions: undefined });
});
`,
    );
    const bench = await ContractBench.create(['./bare.js'], dir);
    const spec = bench.specs().find((s) => s.name === 'bare')!;
    await expect(checkPlugin(bench, spec)).rejects.toThrow(
      "dataset 'bare' has no testOptions: add tiny options to its registerPlugin spec " +
        '(testOptions: { … } or (context) => …) so the contract suite can run it in seconds',
    );
  });

  it.each([
    // encoded twice (the determinism check), one tensor kept each time
    ['leaky', "knowledge 'leaky': 2 tfjs tensors outlive the check (dispose what you create)"],
    ['noisy', "knowledge 'noisy': embeddings of two encoders differ by up to"],
  ])('fails a knowledge encoder that is %s', async (name, message) => {
    const dir = tempDir('contract');
    symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
    writeFileSync(
      path.join(dir, 'encoders.js'),
      `import * as tf from '@tensorflow/tfjs';
import { ContainerModule, injectable } from 'inversify';
import { z } from 'zod';
import { registerPlugin } from '@niwt/core';

/** The dataset's attributes; 'leaky' keeps a tensor, 'noisy' adds noise that no seed controls. */
const make = (kind) => {
  class Encoder {
    async encode(ds) {
      const m = ds.attributes.matrix;
      if (kind === 'leaky') tf.tensor1d([1, 2, 3]);
      const data = Float32Array.from(m.data, (v) => v + (kind === 'noisy' ? Math.random() : 0));
      return { matrix: { rows: m.rows, cols: m.cols, data }, dimNames: ds.attributes.names, description: kind };
    }
  }
  injectable()(Encoder);
  return Encoder;
};
export default new ContainerModule(({ bind }) => {
  for (const name of ['leaky', 'noisy']) {
    const schema = z.strictObject({});
    registerPlugin(bind, { group: 'knowledge', name, description: name, schema, impl: make(name), testOptions: {} });
  }
});
`,
    );
    const bench = await ContractBench.create(['./encoders.js'], dir);
    const spec = bench.specs().find((s) => s.name === name)!;
    await expect(checkPlugin(bench, spec)).rejects.toThrow(message);
  });
});
