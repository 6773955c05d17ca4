import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runCli, tempDir } from './helpers.js';

describe('third-party plugins listed under plugins:', () => {
  it('load from a module path outside packages/ and run end to end', async () => {
    const dir = tempDir('plugin');
    const plugin = path.join(REPO, 'examples/plugins/bars-dataset.js');
    writeFileSync(
      path.join(dir, 'bars.yaml'),
      `experiment: bars
seed: 2
plugins: [${plugin}]
dataset: { name: bars, imagesPerClass: 24 }
backbone: { name: small-cnn, train: { epochs: 5 } }
methods: [{ name: niwt, map: { epochs: 200 } }]
`,
    );
    const r = await runCli(['run', 'bars.yaml', '--json'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      dataset: { classes: number; unseen: number };
      methods: { zslT1: number }[];
      location: string;
    };
    expect(result.dataset).toMatchObject({ classes: 27, unseen: 3 });
    expect(result.methods[0].zslT1).toBeGreaterThan(0);
    // the run was tracked into ./mlruns of the working directory, with the plugin's dataset name
    expect(result.location.startsWith(path.join(dir, 'mlruns'))).toBe(true);
    expect(readFileSync(path.join(result.location, 'params', 'dataset.name'), 'utf8')).toBe('bars');
  }, 300_000);

  it('a module without a ContainerModule is an error naming it', async () => {
    const dir = tempDir('plugin');
    writeFileSync(path.join(dir, 'empty.js'), 'export const x = 1;\n');
    writeFileSync(
      path.join(dir, 'c.yaml'),
      'plugins: [./empty.js]\ndataset: { name: shapes }\nbackbone: { name: small-cnn }\nmethods: [{ name: niwt }]\n',
    );
    const r = await runCli(['run', 'c.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      "niwt: c.yaml:1 plugins.0: './empty.js' exports no inversify ContainerModule (export one, e.g. as default)\n",
    );
  });
});
