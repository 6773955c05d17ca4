/**
 * The stage keys of the runner: which backbone options reach the seen network's key and which only the
 * activations', and a cached activations entry that does not match the dataset is a clear error, not a crash.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StateError, writeNpy, type Dataset } from '@niwt/core';
import { activationsKey, readActivations, seenNetworkKey, trainingOptions } from '../activations.js';
import type { SeenNetworkInputs } from '../activations.js';
import { tempDir } from './helpers.js';

const BASE: SeenNetworkInputs = {
  dataset: { fingerprint: 'f0', structure: 's0', code: '@niwt/datasets@0.1.0' },
  backbone: {
    name: 'vgg16',
    options: {
      tap: 'block5_conv3',
      engine: 'auto',
      workers: 1,
      inputSize: 224,
      train: { mode: 'finetune', resume: 1 },
    },
    code: '@niwt/backbones@0.1.0',
  },
  seed: 7,
};
const withOptions = (o: Record<string, unknown>): SeenNetworkInputs => ({
  ...BASE,
  backbone: { ...BASE.backbone, options: { ...BASE.backbone.options, ...o } },
});

describe('stage keys', () => {
  it('the network key ignores tap, engine, workers and train.resume; the activations key adds tap and engine', () => {
    const k0 = seenNetworkKey(BASE);
    expect(trainingOptions(BASE.backbone.options)).toEqual({ inputSize: 224, train: { mode: 'finetune' } });
    const ignored = [
      { tap: 'block4_conv3' },
      { engine: 'onnx' },
      { workers: 4 },
      { train: { mode: 'finetune', resume: 0 } },
    ];
    for (const o of ignored) {
      expect(seenNetworkKey(withOptions(o)), JSON.stringify(o)).toBe(k0);
    }
    for (const o of [{ inputSize: 112 }, { train: { mode: 'fixed', resume: 1 } }]) {
      expect(seenNetworkKey(withOptions(o))).not.toBe(k0);
    }
    expect(seenNetworkKey({ ...BASE, seed: 8 })).not.toBe(k0);
    expect(seenNetworkKey({ ...BASE, backbone: { ...BASE.backbone, weights: 'w1' } })).not.toBe(k0);
    for (const part of ['fingerprint', 'structure', 'code'] as const) {
      expect(seenNetworkKey({ ...BASE, dataset: { ...BASE.dataset, [part]: 'changed' } }), part).not.toBe(k0);
    }
    const a0 = activationsKey(k0, BASE.backbone.options);
    expect(activationsKey(k0, { ...BASE.backbone.options, workers: 8, inputSize: 1 })).toBe(a0);
    expect(activationsKey(k0, { ...BASE.backbone.options, tap: 'block4_conv3' })).not.toBe(a0);
    expect(activationsKey(k0, { ...BASE.backbone.options, engine: 'tfjs' })).not.toBe(a0);
    expect(activationsKey('other', BASE.backbone.options)).not.toBe(a0);
  });

  it('cached activations that do not match the split are a StateError naming the entry, not a crash', async () => {
    const dir = path.join(tempDir('acts'), 'entry');
    mkdirSync(dir);
    const samples = [0, 1, 2].map((index) => ({ index, classIndex: index % 2, path: `/x/${index}.png` }));
    const dataset = { name: 'tiny', samples, split: { trainval: [0, 1, 2] } } as unknown as Dataset;
    const write = async (indices: number[]): Promise<void> => {
      await writeNpy(path.join(dir, 'trainval_indices.npy'), Int32Array.from(indices), [indices.length]);
      const features = new Float32Array(indices.length * 2);
      await writeNpy(path.join(dir, 'trainval_features.npy'), features, [indices.length, 2]);
    };
    await write([0, 1, 2]);
    expect(Array.from((await readActivations(dir, 'trainval', dataset, false, [0, 1, 2])).labels)).toEqual([0, 1, 0]);
    await write([0, 1, 5]);
    const err = await readActivations(dir, 'trainval', dataset, false, [0, 1, 2]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateError);
    expect((err as Error).message).toBe(
      `${dir}: cached trainval activations do not match dataset 'tiny' ` +
        '(3 samples cached, 3 in the split; sample 5 at row 2); ' +
        'remove the entry (niwt cache prune --stage activations --all) and rerun',
    );
    await write([0, 1]);
    const short = readActivations(dir, 'trainval', dataset, false, [0, 1, 2]);
    await expect(short).rejects.toThrow('(2 samples cached, 3 in the split)');
  });
});
