import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, silentLogger, type Dataset, type ImageSpec, type RunContext } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { SmallCnn, smallCnnOptions } from '../index.js';

await initBackend('wasm');

/** An in-memory dataset: class c is a bright square in quadrant c on noise, so it is learnable. */
function quadrants(perClass: number): Dataset {
  const classes = [0, 1, 2, 3].map((index) => ({ index, name: `q${index}` }));
  const samples = Array.from({ length: 4 * perClass }, (_, i) => ({ index: i, classIndex: i % 4, path: `mem://${i}` }));
  const idx = samples.map((s) => s.index);
  return {
    name: 'quadrants',
    root: 'mem://',
    classes,
    samples,
    split: { seen: [0, 1, 2, 3], unseen: [], trainval: idx, testSeen: [], testUnseen: [] },
    async *readImages(indices: readonly number[], spec: ImageSpec, batchSize: number) {
      for (let s = 0; s < indices.length; s += batchSize) {
        const chunk = indices.slice(s, s + batchSize);
        const px = new Float32Array(chunk.length * spec.height * spec.width * 3);
        chunk.forEach((i, k) => {
          const rng = new Rng(i);
          const c = samples[i].classIndex;
          for (let y = 0; y < spec.height; y++)
            for (let x = 0; x < spec.width; x++) {
              const inQ = (y < spec.height / 2 ? 0 : 2) + (x < spec.width / 2 ? 0 : 1) === c;
              for (let ch = 0; ch < 3; ch++)
                px[((k * spec.height + y) * spec.width + x) * 3 + ch] = (inQ ? 200 : 60) + 40 * rng.normal();
            }
        });
        yield { indices: chunk, pixels: px, spec };
      }
    },
  };
}

const run: RunContext = { seed: 5, baseDir: '.', cacheDir: '.', runDir: '.' };
const make = (extra: Record<string, unknown> = {}) =>
  new SmallCnn(
    smallCnnOptions.parse({
      imageSize: 16,
      widths: [4, 6, 8],
      hidden: 12,
      train: { epochs: 6, batchSize: 8, lr: 5e-3 },
      ...extra,
    }),
    run,
    silentLogger,
  );

describe('small-cnn', () => {
  const data = quadrants(12);

  it('trains on WASM: accuracy well above chance (25 %)', async () => {
    const net = make();
    const report = await net.trainSeen({
      dataset: data,
      seenClasses: [0, 1, 2, 3],
      trainIndices: data.split.trainval.slice(0, 36),
      valIndices: data.split.trainval.slice(36),
    });
    expect(report.valAccuracy).toBeGreaterThan(0.6);
    expect(report.bestEpoch).toBeGreaterThan(0);
    net.dispose();
  });

  it('head(tap) reproduces the extracted penultimate features; shapes follow the tap', async () => {
    const net = make({ tap: 'conv2' });
    await net.trainSeen({
      dataset: data,
      seenClasses: [0, 1, 2, 3],
      trainIndices: data.split.trainval.slice(0, 20),
      valIndices: [],
    });
    expect(net.tap.shape).toEqual([8, 8, 6]);
    const batches = [];
    for await (const b of net.extract(data, [0, 1, 2, 3, 4], 3)) batches.push(b);
    expect(batches.map((b) => b.indices.length)).toEqual([3, 2]);
    const b = batches[0];
    const f = tf.tidy(() =>
      net
        .head()
        .apply(tf.tensor4d(b.tap, [3, 8, 8, 6]))
        .dataSync(),
    );
    expect(b.features.length).toBe(3 * 12);
    for (let i = 0; i < f.length; i++) expect(f[i]).toBeCloseTo(b.features[i], 4);
    net.dispose();
  });

  it('save/load restores identical outputs, and memory stays flat across extractions', async () => {
    const net = make();
    await net.trainSeen({
      dataset: data,
      seenClasses: [0, 1, 2, 3],
      trainIndices: data.split.trainval.slice(0, 20),
      valIndices: [],
    });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cnn-'));
    await net.save(dir);
    const other = make();
    expect(await other.load(dir)).toBe(true);
    expect(await other.load(path.join(dir, 'missing'))).toBe(false);
    const collect = async (n: SmallCnn) => {
      const out: number[] = [];
      for await (const b of n.extract(data, [5, 6, 7], 8)) out.push(...b.features);
      return out;
    };
    const before = tf.memory().numTensors;
    const a = await collect(net);
    expect(tf.memory().numTensors).toBe(before);
    expect(await collect(other)).toEqual(a);
    expect(other.seenClassifier().weights.data).toEqual(net.seenClassifier().weights.data);
    net.dispose();
    other.dispose();
  });

  it('rejects an image size that three 2×2 poolings cannot divide', () => {
    expect(() => make({ imageSize: 20 })).toThrow(
      'small-cnn: imageSize must be a multiple of 8 (three 2×2 poolings), got 20',
    );
  });
});
