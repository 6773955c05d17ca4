/**
 * NIWT stage D on the precomputed-features backbone takes the exact fast path (the MLP head lists its layers),
 * with the same losses as double backprop (1e-4), for both taps (input, hidden).
 */
import { describe, expect, it } from 'vitest';
import { Rng, matrix, memoryTaps, silentLogger, type Dataset, type RunContext } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { FeaturesBackbone, featuresBackboneOptions } from '@niwt/backbones';
import { trainUnseenWeights } from '@niwt/niwt';

await initBackend('wasm');

const D = 24;
function dataset(perClass: number): Dataset {
  const n = 6 * perClass;
  const rng = new Rng(4);
  const data = new Float32Array(n * D);
  for (let i = 0; i < n; i++)
    for (let d = 0; d < D; d++)
      data[i * D + d] = Math.max(0, (Math.floor(d / 4) === i % 6 ? 2 : 0) + 0.5 * rng.normal());
  const samples = Array.from({ length: n }, (_, i) => ({ index: i, classIndex: i % 6, path: `mem://${i}` }));
  const idx = samples.map((s) => s.index);
  return {
    name: 'mem',
    root: 'mem://',
    classes: [0, 1, 2, 3, 4, 5].map((index) => ({ index, name: `c${index}` })),
    samples,
    split: {
      seen: [0, 1, 2, 3],
      unseen: [4, 5],
      trainval: idx.filter((i) => i % 6 < 4),
      testSeen: [],
      testUnseen: idx.filter((i) => i % 6 >= 4),
    },
    features: {
      dim: D,
      source: 'mem://features.npy',
      read: async (indices: readonly number[]) => {
        const out = new Float32Array(indices.length * D);
        indices.forEach((s, k) => out.set(data.subarray(s * D, (s + 1) * D), k * D));
        return matrix(indices.length, D, out);
      },
    },
    readImages: () => {
      throw new Error('no images');
    },
  };
}

const run = (): RunContext => ({ seed: 5, baseDir: '.', cacheDir: '.', runDir: '.' });

describe('NIWT stage D on the features backbone', () => {
  for (const tap of ['input', 'hidden'] as const) {
    it(
      `tap ${tap}: the head lists its layers, 'auto' runs the fast path, losses equal double backprop within ` + `1e-4`,
      async () => {
        const ds = dataset(10);
        const bb = new FeaturesBackbone(
          featuresBackboneOptions.parse({ hidden: [16, 12], tap, train: { epochs: 10, batchSize: 8, lr: 5e-3 } }),
          run(),
          silentLogger,
        );
        await bb.trainSeen({
          dataset: ds,
          seenClasses: [0, 1, 2, 3],
          trainIndices: ds.split.trainval,
          valIndices: ds.split.trainval.slice(0, 8),
        });
        const taps: number[] = [];
        for await (const b of bb.extract(ds, ds.split.trainval, 16)) taps.push(...b.tap);
        const head = bb.head();
        expect(head.layers?.map((l) => l.kind)).toEqual(
          tap === 'input' ? ['flatten', 'dense', 'relu', 'dense', 'relu'] : ['flatten', 'dense', 'relu'],
        );
        const K = bb.tap.shape[2];
        const rng = new Rng(9);
        const targets = matrix(
          2,
          K,
          Float32Array.from({ length: 2 * K }, () => rng.normal()),
        );
        const go = (implementation: 'auto' | 'reference') =>
          trainUnseenWeights(
            {
              head,
              pool: memoryTaps(Float32Array.from(taps), bb.tap.shape),
              seenWeights: bb.seenClassifier().weights,
              targets,
            },
            {
              lambda: 1e-3,
              lr: 1e-2,
              batchSize: 8,
              pairsPerClass: 20,
              maxSteps: 30,
              patience: 1000,
              minImprovement: 0.01,
              seed: 3,
              implementation,
            },
          );
        const fast = go('auto');
        const ref = go('reference');
        expect(fast.implementation).toBe('fast');
        expect(fast.fallbackReason).toBeUndefined();
        expect(ref.implementation).toBe('reference');
        expect(fast.losses).toHaveLength(30);
        for (let i = 0; i < 30; i++) expect(Math.abs(fast.losses[i] - ref.losses[i])).toBeLessThan(1e-4);
        expect(fast.losses[29]).toBeLessThan(fast.losses[0]);
        bb.dispose();
      },
      300_000,
    );
  }
});
