/** The precomputed-features backbone on an in-memory dataset with a FeatureSource. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  DatasetError,
  Rng,
  matrix,
  silentLogger,
  type Dataset,
  type ExtractedBatch,
  type RunContext,
} from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { FeaturesBackbone } from './features-backbone.js';
import { featuresBackboneOptions } from './options.js';

await initBackend('wasm');

const D = 24;
/** Class c: features concentrated on dims 4c..4c+3 plus noise (ReLU'd, like pool5). */
function dataset(perClass: number, withFeatures = true): Dataset {
  const n = 5 * perClass;
  const rng = new Rng(4);
  const data = new Float32Array(n * D);
  for (let i = 0; i < n; i++)
    for (let d = 0; d < D; d++)
      data[i * D + d] = Math.max(0, (Math.floor(d / 4) === i % 5 ? 2 : 0) + 0.5 * rng.normal());
  const samples = Array.from({ length: n }, (_, i) => ({ index: i, classIndex: i % 5, path: `mem://${i}` }));
  const idx = samples.map((s) => s.index);
  return {
    name: 'mem',
    root: 'mem://',
    classes: [0, 1, 2, 3, 4].map((index) => ({ index, name: `c${index}` })),
    samples,
    split: {
      seen: [0, 1, 2, 3],
      unseen: [4],
      trainval: idx.filter((i) => i % 5 < 4),
      testSeen: [],
      testUnseen: idx.filter((i) => i % 5 === 4),
    },
    ...(withFeatures
      ? {
          features: {
            dim: D,
            source: 'mem://features.npy',
            read: async (indices: readonly number[]) => {
              const out = new Float32Array(indices.length * D);
              indices.forEach((s, k) => out.set(data.subarray(s * D, (s + 1) * D), k * D));
              return matrix(indices.length, D, out);
            },
          },
        }
      : {}),
    readImages: () => {
      throw new Error('no images');
    },
  };
}

const run = (): RunContext => ({ seed: 5, baseDir: '.', cacheDir: '.', runDir: '.' });
const make = (o: object): FeaturesBackbone =>
  new FeaturesBackbone(featuresBackboneOptions.parse(o), run(), silentLogger);

describe('backbone: features', () => {
  it(
    'trains the MLP head on seen features; taps [N,1,1,K]; head(tap) reproduces the features; importance ' +
      'varies per image',
    async () => {
      const ds = dataset(12);
      const bb = make({ hidden: [16], train: { epochs: 30, batchSize: 8, lr: 5e-3 } });
      const train = ds.split.trainval.filter((_, k) => k % 3 !== 0);
      const val = ds.split.trainval.filter((_, k) => k % 3 === 0);
      const report = await bb.trainSeen({
        dataset: ds,
        seenClasses: [0, 1, 2, 3],
        trainIndices: train,
        valIndices: val,
      });
      expect(report.valAccuracy).toBeGreaterThan(0.9);
      expect(bb.tap).toEqual({ name: 'input', shape: [1, 1, D] });
      expect(bb.penultimateDim).toBe(16);
      const batches: ExtractedBatch[] = [];
      for await (const b of bb.extract(ds, [0, 1, 2, 3, 5], 3)) batches.push(b);
      expect(batches.map((b) => b.indices.length)).toEqual([3, 2]);
      expect(batches[0].tap).toHaveLength(3 * D);
      expect(batches[0].features).toHaveLength(3 * 16);
      const head = bb.head();
      const replay = tf.tidy(() => head.apply(tf.tensor4d(batches[0].tap, [3, 1, 1, D])).dataSync());
      Array.from(replay).forEach((v, i) => expect(v).toBeCloseTo(batches[0].features[i], 4));
      // importance = d(score of class 0)/d(tap): different for different images (ReLU masks differ)
      const sc = bb.seenClassifier();
      const grads = tf.tidy(() => {
        const w = tf.tensor2d(sc.weights.data, [sc.weights.rows, sc.weights.cols]);
        const f = (a: tf.Tensor) => tf.sum(tf.matMul(head.apply(a as tf.Tensor4D), w).slice([0, 0], [-1, 1]));
        return tf
          .grad(f)(tf.tensor4d(batches[0].tap, [3, 1, 1, D]))
          .arraySync() as number[][][][];
      });
      const flat = grads.map((g) => g.flat(3));
      expect(flat[0]).not.toEqual(flat[1]);
      bb.dispose();
    },
  );

  it('tap hidden: needs two hidden layers (schema), taps the first one', () => {
    expect(featuresBackboneOptions.safeParse({ tap: 'hidden' }).success).toBe(false);
    expect(featuresBackboneOptions.safeParse({ tap: 'hidden', hidden: [16] }).error?.issues[0].message).toMatch(
      /needs at least two hidden layers/,
    );
    const bb = make({ tap: 'hidden', hidden: [16, 8] });
    expect(bb.tap).toEqual({ name: 'hidden', shape: [1, 1, 16] });
    expect(bb.penultimateDim).toBe(8);
    bb.dispose();
  });

  it('saves and loads; extract after load gives the same features', async () => {
    const ds = dataset(6);
    const bb = make({ tap: 'hidden', hidden: [12, 8], train: { epochs: 3, batchSize: 8 } });
    await bb.trainSeen({ dataset: ds, seenClasses: [0, 1, 2, 3], trainIndices: ds.split.trainval, valIndices: [] });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-features-'));
    await bb.save(dir);
    const again = make({ tap: 'hidden', hidden: [12, 8] });
    expect(await again.load(dir)).toBe(true);
    const a: number[] = [];
    for await (const b of bb.extract(ds, [0, 4], 8)) a.push(...b.features);
    const b2: number[] = [];
    for await (const b of again.extract(ds, [0, 4], 8)) b2.push(...b.features);
    expect(b2).toEqual(a);
    expect(again.seenClassifier().classes).toEqual([0, 1, 2, 3]);
    expect(await make({ hidden: [5] }).load(dir)).toBe(false);
    bb.dispose();
    again.dispose();
  });

  it('interrupted mid-epoch and resumed from its checkpoint folder: the same weights (bytes) and report', async () => {
    const ds = dataset(12);
    const o = { hidden: [16, 8], train: { epochs: 8, batchSize: 8, lr: 5e-3, patience: 3, dropout: 0.3 } };
    const trainIndices = ds.split.trainval.filter((_, k) => k % 3 !== 0);
    const valIndices = ds.split.trainval.filter((_, k) => k % 3 === 0);
    const data = (checkpointDir?: string) => ({
      dataset: ds,
      seenClasses: [0, 1, 2, 3],
      trainIndices,
      valIndices,
      checkpointDir,
    });
    const weights = (bb: FeaturesBackbone) => Buffer.from(bb.seenClassifier().weights.data.buffer.slice(0));
    const ref = make(o);
    const refReport = await ref.trainSeen(data());
    const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-features-ckpt-'));
    let ticks = 0;
    const stopping = {
      ...silentLogger,
      progress: () => ({
        tick: (_n?: number, detail?: string) => {
          if (detail === 'epoch 3' && ++ticks === 2) throw new Error('interrupted');
        },
        done: () => undefined,
      }),
    };
    const first = new FeaturesBackbone(featuresBackboneOptions.parse(o), run(), stopping);
    await expect(first.trainSeen(data(dir))).rejects.toThrow('interrupted');
    first.dispose();
    const infos: string[] = [];
    const recording = { ...silentLogger, info: (m: string) => void infos.push(m) };
    const again = new FeaturesBackbone(featuresBackboneOptions.parse(o), run(), recording);
    const report = await again.trainSeen(data(dir));
    expect(infos).toEqual([`train features MLP: resuming after epoch 2 from ${path.join(dir, 'seen-loop.ckpt')}`]);
    expect({ ...report, seconds: 0 }).toEqual({ ...refReport, seconds: 0 });
    expect(weights(again).equals(weights(ref))).toBe(true);
    const feats = async (bb: FeaturesBackbone) => {
      const out: number[] = [];
      for await (const b of bb.extract(ds, [0, 1, 2, 3, 5], 8)) out.push(...b.features);
      return out;
    };
    expect(await feats(again)).toEqual(await feats(ref));
    ref.dispose();
    again.dispose();
  });

  it('a dataset without precomputed features is a DatasetError', async () => {
    const ds = dataset(2, false);
    const bb = make({});
    const e = await bb
      .trainSeen({ dataset: ds, seenClasses: [0], trainIndices: [0], valIndices: [] })
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DatasetError);
    expect((e as Error).message).toBe(
      'mem://: dataset "mem" has no precomputed features; expected the xlsa17 dataset, or awa2/cub with ' +
        'features: true (backbone: { name: features } reads Dataset.features)',
    );
  });
});
