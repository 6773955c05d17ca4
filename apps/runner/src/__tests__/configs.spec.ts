/** Every shipped config validates (plugins, options, paths of keys) — docs that run. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { REPO } from './helpers.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : e.name.endsWith('.yaml') ? [path.join(dir, e.name)] : [],
  );
}

const files = yamlFiles(path.join(REPO, 'configs'));

describe('shipped configs', () => {
  it('include the demo, the λ ablation and the paper presets', () => {
    const names = files.map((f) => path.relative(REPO, f));
    expect(names).toEqual(
      expect.arrayContaining([
        'configs/demo.yaml',
        'configs/demo-lambda.yaml',
        'configs/paper/awa2-vgg16-attributes.yaml',
        'configs/paper/awa2-resnet101-attributes.yaml',
        'configs/paper/cub-vgg16-attributes.yaml',
        'configs/paper/cub-resnet101-attributes.yaml',
        'configs/paper/cub-vgg16-captions.yaml',
        'configs/paper/cub-resnet101-captions.yaml',
      ]),
    );
  });

  it.each(files.map((f) => [path.relative(REPO, f), f]))('%s validates', async (_rel, file) => {
    const exp = await composeExperiment(file, { cwd: REPO, logger: silentLogger });
    expect(exp.methods.length).toBeGreaterThan(0);
  });

  // the release's arg_configs/*.json (ramprs/neuron-importance-zsl): batch_size, reg_lambda, num_epochs − 1, seen
  // biases
  const RELEASE: Record<string, [batch: number, lambda: number, epochs: number, seenBias: string]> = {
    'awa2-resnet101-attributes': [32, 1e-3, 499, 'zero'],
    'awa2-vgg16-attributes': [64, 1e-3, 299, 'keep'],
    'cub-resnet101-attributes': [32, 1e-2, 499, 'zero'],
    'cub-resnet101-captions': [64, 1e-2, 499, 'zero'],
    'cub-vgg16-attributes': [32, 1e-2, 299, 'keep'],
    'cub-vgg16-captions': [32, 1e-4, 299, 'keep'],
  };
  it.each(Object.entries(RELEASE))(
    "paper preset %s uses the release's values for every documented departure",
    async (name, [batch, lambda, epochs, seenBias]) => {
      const exp = await composeExperiment(path.join(REPO, 'configs/paper', `${name}.yaml`), {
        cwd: REPO,
        logger: silentLogger,
      });
      const niwt = exp.methods.find((m) => m.spec.name === 'niwt')!.options as Record<string, unknown>;
      expect(niwt).toMatchObject({
        batchSize: batch,
        lambda,
        maxEpochs: epochs,
        seenBias,
        adamEpsilon: 1e-8,
        finalWeights: 'best-epoch-loss',
        maxSteps: 100_000_000,
      });
      expect(niwt.map).toMatchObject({ heldOutClasses: 5, refit: false, select: 'loss' });
    },
  );
});
