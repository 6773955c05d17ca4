/** Every shipped config validates (plugins, options, paths of keys) — docs that run. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { REPO } from './helpers.js';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? yamlFiles(path.join(dir, e.name)) : e.name.endsWith('.yaml') ? [path.join(dir, e.name)] : []));
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
});
