/**
 * Tiny-width VGG16 / ResNet-50 / ResNet-101 (same anatomy, 1/16 channels, 32×32 input) train end to end in
 * `finetune` mode on WASM: the loss falls and seen accuracy beats chance; checkpoints resume.
 */
import { mkdtempSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@niwt/core';
import { Adam, initBackend } from '@niwt/compute';
import { ResNet101, ResNet50, Vgg16, imagenetOptions, type ImagenetBackbone, type Family } from '../index.js';
import { FinetuneOptimizer, SeenHead } from '../imagenet/train.js';
import { colourDataset, log, runContext } from './test-data.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function make(family: Family, cacheDir: string, extra: Record<string, unknown> = {}): ImagenetBackbone {
  const opts = imagenetOptions(family).parse({
    inputSize: 32,
    width: 1 / 16,
    ...(family === 'vgg16' ? {} : { tap: 'conv5_block1_out' }),
    train: {
      mode: 'finetune',
      head: { epochs: 3, lr: 1e-3, weightDecay: 1e-4 },
      finetune: { epochs: 3, batchSize: 16, microBatch: 8, lr: 1e-3, patience: 5, dropout: 0.1 },
    },
    ...extra,
  });
  const ctx = runContext(cacheDir);
  return family === 'vgg16'
    ? new Vgg16(opts, ctx, log)
    : family === 'resnet50'
      ? new ResNet50(opts, ctx, log)
      : new ResNet101(opts, ctx, log);
}

describe.each(['vgg16', 'resnet50', 'resnet101'] as const)('tiny %s', (family) => {
  it('fine-tunes on WASM: loss decreases, seen val accuracy above chance, checkpoints written', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), `niwt-${family}-`));
    const ds = colourDataset(4, 16);
    const train = ds.samples.filter((s) => s.index < 48).map((s) => s.index);
    const val = ds.samples.filter((s) => s.index >= 48).map((s) => s.index);
    const bb = make(family, cache);
    const before = tf.memory().numTensors;
    const report = await bb.trainSeen({ dataset: ds, seenClasses: [0, 1, 2, 3], trainIndices: train, valIndices: val });
    expect(bb.trainingLosses.length).toBeGreaterThanOrEqual(2);
    expect(bb.trainingLosses[bb.trainingLosses.length - 1]).toBeLessThan(bb.trainingLosses[0]);
    expect(report.valAccuracy).toBeGreaterThan(0.25 + 0.2);
    expect(existsSync(path.join(cache, 'finetune'))).toBe(true);
    // The head is differentiable twice from the tap (NIWT stage D).
    const h = bb.head();
    const a = tf.randomUniform([1, ...h.tap.shape], 0, 1) as tf.Tensor4D;
    const w = tf.randomNormal([h.outDim, 1]) as tf.Tensor2D;
    const g2 = tf.grad((wv: tf.Tensor) =>
      tf.sum(
        tf.square(tf.grad((av: tf.Tensor) => tf.sum(tf.matMul(h.apply(av as tf.Tensor4D), wv as tf.Tensor2D)))(a)),
      ),
    )(w);
    expect(Number.isFinite((await g2.data())[0])).toBe(true);
    tf.dispose([a, w, g2]);
    // Saved and reloaded: same seen classifier.
    await bb.save(path.join(cache, 'saved'));
    const again = make(family, cache);
    expect(await again.load(path.join(cache, 'saved'))).toBe(true);
    expect(Array.from(again.seenClassifier().bias)).toEqual(Array.from(bb.seenClassifier().bias));
    again.dispose();
    // A rerun with resume picks up the finished fine-tuning from its checkpoint instead of training again.
    const resumed = make(family, cache);
    const r2 = await resumed.trainSeen({
      dataset: ds,
      seenClasses: [0, 1, 2, 3],
      trainIndices: train,
      valIndices: val,
    });
    expect(resumed.trainingLosses).toEqual(bb.trainingLosses);
    expect({ ...r2, seconds: 0 }).toEqual({ ...report, seconds: 0 });
    resumed.dispose();
    bb.dispose();
    expect(tf.memory().numTensors).toBeLessThanOrEqual(before + 2);
  }, 240_000);
});

describe('fixed mode', () => {
  it(
    'a head grid (lr × wd) runs and keeps the best candidate: the report of the first single run with the top ' +
      'val accuracy',
    async () => {
      const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-grid-'));
      const ds = colourDataset(4, 12);
      const data = {
        dataset: ds,
        seenClasses: [0, 1, 2, 3],
        trainIndices: ds.samples.filter((s) => s.index < 32).map((s) => s.index),
        valIndices: ds.samples.filter((s) => s.index >= 32).map((s) => s.index),
      };
      const run = async (
        lr: number | number[],
        weightDecay: number | number[],
      ): Promise<{ valAccuracy: number; trainAccuracy: number; bestEpoch: number }> => {
        const bb = make('vgg16', cache, {
          train: { mode: 'fixed', head: { epochs: 10, batchSize: 8, lr, weightDecay, patience: 5 } },
        });
        const { valAccuracy, trainAccuracy, bestEpoch } = await bb.trainSeen(data);
        bb.dispose();
        return { valAccuracy, trainAccuracy, bestEpoch };
      };
      const before = tf.memory().numTensors;
      // Candidates in the grid's order (lr outer, wd inner); lr 1e-6 barely leaves the random head. Before the grid
      // freed each candidate's variables, the second candidate's head clashed with the first's variable names.
      const grid = await run([1e-6, 1e-3], [1e-5, 1e-1]);
      const singles = [await run(1e-6, 1e-5), await run(1e-6, 1e-1), await run(1e-3, 1e-5), await run(1e-3, 1e-1)];
      const top = Math.max(...singles.map((r) => r.valAccuracy));
      expect(Math.min(...singles.map((r) => r.valAccuracy))).toBeLessThan(top);
      expect(grid).toEqual(singles.find((r) => r.valAccuracy === top));
      expect(tf.memory().numTensors).toBe(before);
    },
    120_000,
  );
});

describe('options', () => {
  it('refuses the degenerate ResNet tap conv5_block3_out and unknown taps, with the reason', () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-opts-'));
    expect(() => make('resnet50', cache, { tap: 'conv5_block3_out' })).toThrow(
      /directly before global average pooling.*allowDegenerateTap/,
    );
    expect(() => make('resnet50', cache, { tap: 'conv5_block3_out', allowDegenerateTap: true })).not.toThrow();
    // an unknown tap is a schema error (an enum per network), before a backbone is built
    expect(() => make('vgg16', cache, { tap: 'block5_conv4' })).toThrow(
      /Invalid option: expected one of .*block1_conv1.*block5_conv3/,
    );
    expect(() => imagenetOptions('vgg16').parse({ tapp: 'x' })).toThrow();
  });

  it('defaults to the NIWT reference presets', () => {
    const v = imagenetOptions('vgg16').parse({});
    expect(v.tap).toBe('block5_conv3');
    expect(v.train.mode).toBe('finetune');
    expect(v.train.finetune).toMatchObject({
      lr: 1e-5,
      weightDecay: 5e-4,
      patience: 10,
      clipNorm: 4,
      dropout: 0.5,
      batchSize: 64,
      microBatch: 2,
    });
    const r = imagenetOptions('resnet101').parse({});
    expect(r.tap).toBe('conv5_block1_out');
    expect(r.train.mode).toBe('fixed');
    expect(r.train.head).toMatchObject({ lr: [1e-4, 1e-3, 1e-2], weightDecay: [1e-5, 1e-4], patience: 10 });
  });
});

describe('FinetuneOptimizer', () => {
  /** The update fine-tuning ran before: whole-set sums, decay and clip in one tidy, core Adam on Σ v·stop(g). */
  function previousStep(
    adam: Adam,
    vars: tf.Variable[],
    kernels: Set<string>,
    micro: tf.Tensor[][],
    o: { weightDecay: number; clipNorm: number },
    norms: number[],
  ): void {
    let acc: tf.Tensor[] | undefined;
    for (const grads of micro) {
      if (!acc) acc = grads;
      else {
        const next = acc.map((a, i) => tf.add(a, grads[i]));
        tf.dispose([...acc, ...grads]);
        acc = next;
      }
    }
    const final = tf.tidy(() =>
      acc!.map((g, i) => {
        const withDecay =
          kernels.has(vars[i].name) && o.weightDecay > 0 ? tf.add(g, tf.mul(o.weightDecay, vars[i])) : g;
        norms.push(tf.norm(withDecay).dataSync()[0]);
        return o.clipNorm > 0
          ? tf.mul(withDecay, tf.minimum(1, tf.div(o.clipNorm, tf.add(tf.norm(withDecay), 1e-12))))
          : withDecay;
      }),
    );
    tf.dispose(acc!);
    adam.step(() => tf.addN(vars.map((v, i) => tf.sum(tf.mul(v, final[i])))) as tf.Scalar);
    tf.dispose(final);
  }

  it(
    'tiny VGG16: 2 steps of 2 micro-batches equal the previous whole-set update bit for bit, decay and ' +
      'clipping active',
    async () => {
      const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-ftopt-'));
      const bb = make('vgg16', cache);
      await bb.ensureWeights();
      const head = SeenHead.random(new Rng(4), bb.penultimateDim, [0, 1, 2, 3], bb.net.scope);
      const vars = [...bb.net.trainableVariables(), head.w, head.b];
      const kernels = new Set([...bb.net.kernels(), head.w].map((v) => v.name));
      const o = { lr: 1e-2, weightDecay: 0.05, clipNorm: 0.5 };
      const ds = colourDataset(4, 2);
      const images: { x: tf.Tensor4D; y: tf.Tensor2D }[] = [];
      for await (const b of ds.readImages([0, 1, 2, 3, 4, 5, 6, 7], { height: 32, width: 32, channels: 3 }, 2)) {
        images.push({
          x: tf.tensor4d(b.pixels, [2, 32, 32, 3]),
          y: tf.oneHot(
            tf.tensor1d(
              b.indices.map((i) => i % 4),
              'int32',
            ),
            4,
          ) as tf.Tensor2D,
        });
      }
      const microGrads = ({ x, y }: { x: tf.Tensor4D; y: tf.Tensor2D }): tf.Tensor[] =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(
            () => tf.mul(tf.losses.softmaxCrossEntropy(y, head.logits(bb.net.features(x))), 0.5) as tf.Scalar,
            vars,
          );
          return vars.map((v) => grads[v.name]);
        });
      const init = vars.map((v) => v.dataSync().slice());
      const before = tf.memory().numTensors;

      const adam = new Adam(vars, { lr: o.lr });
      const norms: number[] = [];
      for (let step = 0; step < 2; step++)
        previousStep(adam, vars, kernels, [microGrads(images[2 * step]), microGrads(images[2 * step + 1])], o, norms);
      adam.dispose();
      const expected = vars.map((v) => v.dataSync().slice());

      tf.tidy(() => vars.forEach((v, i) => v.assign(tf.tensor(init[i], v.shape))));
      const opt = new FinetuneOptimizer(vars, kernels, o);
      for (let step = 0; step < 2; step++) {
        opt.accumulate(microGrads(images[2 * step]));
        opt.accumulate(microGrads(images[2 * step + 1]));
        opt.step();
      }
      opt.dispose();
      expect(tf.memory().numTensors).toBe(before);

      let diff = 0;
      let moved = 0;
      vars.forEach((v, i) => {
        const got = v.dataSync();
        for (let k = 0; k < got.length; k++) {
          diff = Math.max(diff, Math.abs(got[k] - expected[i][k]));
          moved = Math.max(moved, Math.abs(got[k] - init[i][k]));
        }
      });
      // Same float32 ops in the same order: bit for bit (so a fortiori within 1e-5).
      expect(diff).toBe(0);
      // Adam's first steps move each weight by about lr: the update did happen.
      expect(moved).toBeGreaterThan(0.5 * o.lr);
      // Both regimes of the clip occurred: some gradients were scaled down, some were not.
      expect(norms.some((n) => n > o.clipNorm)).toBe(true);
      expect(norms.some((n) => n < o.clipNorm)).toBe(true);
      tf.dispose(images.flatMap((b) => [b.x, b.y]));
      head.dispose();
      bb.dispose();
    },
    60_000,
  );
});
