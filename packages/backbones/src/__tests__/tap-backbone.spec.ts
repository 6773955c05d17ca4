/** The plugin kit's backbone base: a subclass that gives only layers, `toTap` and `head()` is a whole Backbone. */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '@niwt/compute';
import type { Logger, RunContext, TapHead } from '@niwt/core';
import { TapBackbone, applyLayer, seenTrainOptions, type ConvParams, type DenseParams } from '../index.js';
import { colourDataset, log, runContext } from './test-data.js';

await initBackend('wasm');

/** conv (tap) → 2×2 max-pool → dense(10): the smallest network with a spatial tap and a described head. */
class Tiny extends TapBackbone {
  private readonly c1: ConvParams;
  private readonly fc: DenseParams;

  constructor(run: RunContext, logger: Logger, tap = 'conv1') {
    const train = { ...seenTrainOptions().parse({}), epochs: 5, batchSize: 8, lr: 5e-3, dropout: 0 };
    const taps = [{ name: 'conv1', shape: [8, 8, 4] as [number, number, number] }];
    const input = { height: 8, width: 8, channels: 3 } as const;
    super({ name: 'tiny', input, taps, tap, train, options: {}, run, log: logger });
    this.c1 = this.conv('conv1', 3, 3, 4);
    this.fc = this.dense('fc', 4 * 4 * 4, 10);
  }

  toTap(pixels: tf.Tensor4D): tf.Tensor4D {
    return applyLayer(this.c1, tf.sub(tf.div(pixels, 127.5), 1)) as tf.Tensor4D;
  }

  head(): TapHead {
    const pool = { kind: 'pool', name: 'pool1' } as const;
    return {
      tap: this.tap,
      outDim: 10,
      apply: (a) => applyLayer(this.fc, applyLayer(pool, a)) as tf.Tensor2D,
      layers: [
        { kind: 'maxpool', size: 2, stride: 2, padding: 'valid' },
        { kind: 'dense', weights: this.fc.w, bias: this.fc.b },
        { kind: 'relu' },
      ],
    };
  }
}

async function features(net: TapBackbone, indices: number[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for await (const b of net.extract(colourDataset(3, 12), indices, 5)) out.push(b.features);
  return out;
}

describe('TapBackbone', () => {
  const data = colourDataset(3, 12);
  const all = data.split.trainval;

  it('trains the seen head from toTap + head, extracts, saves and loads the same network', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-tap-backbone-'));
    const net = new Tiny(runContext(dir), log);
    expect([net.name, net.penultimateDim, net.tap.name]).toEqual(['tiny', 10, 'conv1']);
    const trainIndices = all.slice(0, 27);
    const valIndices = all.slice(27);
    const report = await net.trainSeen({ dataset: data, seenClasses: [0, 1, 2], trainIndices, valIndices });
    // three colour classes with stripes: learnable well above chance (1/3) in a few epochs
    expect(report.valAccuracy).toBeGreaterThan(0.6);
    expect(report.epochs).toBeGreaterThanOrEqual(report.bestEpoch);
    const seen = net.seenClassifier();
    expect([seen.weights.rows, seen.weights.cols, seen.classes]).toEqual([10, 3, [0, 1, 2]]);

    const before = await features(net, all.slice(0, 7));
    expect(before.map((f) => f.length)).toEqual([50, 20]);
    const tapBatch = (await net.extract(data, [0], 1)[Symbol.asyncIterator]().next()).value as { tap: Float32Array };
    expect(tapBatch.tap.length).toBe(8 * 8 * 4);
    await net.save(dir);

    const again = new Tiny({ ...runContext(dir), seed: 99 }, log);
    expect(await again.load(dir)).toBe(true);
    expect(await features(again, all.slice(0, 7))).toEqual(before);
    expect(again.seenClassifier().weights.data).toEqual(seen.weights.data);
    expect(await new Tiny(runContext(dir), log).load(path.join(dir, 'absent'))).toBe(false);
    net.dispose();
    again.dispose();
  });

  it('disposes what it made: tf.memory() is flat after a train/extract/dispose cycle', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-tap-backbone-'));
    const start = tf.memory().numTensors;
    const net = new Tiny(runContext(dir), log);
    await net.trainSeen({ dataset: data, seenClasses: [0, 1, 2], trainIndices: all.slice(0, 12), valIndices: [] });
    await features(net, all.slice(0, 4));
    net.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('an unknown tap is a StateError naming the taps', () => {
    expect(() => new Tiny(runContext('.'), log, 'conv9')).toThrow("tiny: tap 'conv9' is not one of conv1");
  });

  it('the seen classifier before training says what to call', () => {
    const net = new Tiny(runContext('.'), log);
    const message = 'tiny: the seen head does not exist yet; call trainSeen() or load() first';
    expect(() => net.seenClassifier()).toThrow(message);
    net.dispose();
  });
});
