import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng, matrix, memoryTaps } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { importance, rowStats, seenCentredInit, trainUnseenWeights, transferLoss } from '../index.js';
import { randomTap, vggLikeHead } from './fixtures.js';
import { convHead, resnetHead, vggHead } from './heads.js';

await initBackend('cpu');

describe('stage D gradient', () => {
  const [B, nU] = [5, 2];
  it.each([
    ['VGG-like', () => vggHead(1, [4, 4, 3], 6), [4, 4, 3]],
    ['conv + max/avg pool', () => convHead(2, [4, 4, 2], 6), [4, 4, 2]],
    ['ResNet-like (BN, residual)', () => resnetHead(3, [3, 3, 4]), [3, 3, 4]],
  ] as const)('∂L/∂W_u from double backprop matches float64 finite differences (through G(x)): %s', (_n, make, shp) => {
    const head = make();
    const [h, w, k] = shp;
    const D = head.outDim;
    const tap = randomTap(12, B, h, w, k);
    const rng = new Rng(13);
    const wu0 = Float32Array.from({ length: D * nU }, () => rng.normal());
    const mu0 = Float32Array.from({ length: D }, () => rng.normal() * 0.1);
    const targets = Float32Array.from({ length: nU * k }, () => rng.normal());
    const cls = Int32Array.from([0, 1, 1, 0, 1]);
    const lambda = 0.05;
    const tNorm = (c: number) => {
      const t = targets.subarray(c * k, (c + 1) * k);
      const n = Math.hypot(...t);
      return Array.from(t, (v) => v / n);
    };
    // G(x_j): K × D, column d = α for w = e_d (validated by the stage B finite-difference test)
    const G = Array.from({ length: B }, (_, j) =>
      Array.from({ length: D }, (_, d) =>
        tf.tidy(() => {
          const e = tf.oneHot(tf.tensor1d([d], 'int32'), D).reshape([D, 1]) as tf.Tensor2D;
          return importance(
            head,
            tf.tensor4d(tap.subarray(j * h * w * k, (j + 1) * h * w * k), [1, h, w, k]),
            e,
            tf.tensor1d([0], 'int32'),
          ).arraySync()[0];
        }),
      ),
    );
    const loss64 = (wu: Float64Array): number => {
      let s = 0;
      for (let j = 0; j < B; j++) {
        const a = Array.from({ length: k }, (_, kk) =>
          G[j].reduce((acc, col, d) => acc + col[kk] * wu[d * nU + cls[j]], 0),
        );
        const na = Math.hypot(...a);
        const t = tNorm(cls[j]);
        s += 1 - a.reduce((acc, v, kk) => acc + (v / na) * t[kk], 0);
      }
      let pull = 0;
      for (let d = 0; d < D; d++) for (let c = 0; c < nU; c++) pull += (wu[d * nU + c] - mu0[d]) ** 2;
      return s / B + (lambda / 2) * pull;
    };
    const grad = tf.tidy(() => {
      const a = tf.tensor4d(tap, [B, h, w, k]);
      const c = tf.tensor1d(cls, 'int32');
      const tH = tf.tensor2d(Float32Array.from([...tNorm(0), ...tNorm(1)]), [nU, k]);
      const mu = tf.tile(tf.tensor2d(mu0, [D, 1]), [1, nU]) as tf.Tensor2D;
      const L = tf.grad((wu: tf.Tensor) => transferLoss(head, wu as tf.Tensor2D, a, c, tH, mu, lambda))(
        tf.tensor2d(wu0, [D, nU]),
      );
      return Array.from(L.dataSync());
    });
    head.dispose();
    const eps = 1e-4;
    let maxRel = 0;
    for (let i = 0; i < D * nU; i++) {
      const p = Float64Array.from(wu0);
      const m = Float64Array.from(wu0);
      p[i] += eps;
      m[i] -= eps;
      const fd = (loss64(p) - loss64(m)) / (2 * eps);
      maxRel = Math.max(maxRel, Math.abs(fd - grad[i]) / Math.max(1e-2, Math.abs(fd)));
    }
    expect(maxRel).toBeLessThan(1e-3);
  });
});

describe('stage D', () => {
  const [B, h, w, k, D, nU] = [5, 4, 4, 3, 6, 2];
  const head = vggLikeHead(11, h, w, k, D);
  const tap = randomTap(12, B, h, w, k);
  afterAll(() => head.dispose());

  it('initialises around the seen rows (seen-centred)', () => {
    const rng = new Rng(1);
    const seen = matrix(3, 4, [1, 2, 3, 4, 0, 0, 0, 0, -1, 1, -1, 1]);
    const { mean, std } = rowStats(seen);
    expect(Array.from(mean)).toEqual([2.5, 0, 0]);
    expect(std[0]).toBeCloseTo(Math.sqrt(1.25), 6);
    expect(std[2]).toBeCloseTo(1, 6);
    const init = seenCentredInit(seen, 2000, rng);
    const r = rowStats(init);
    expect(Math.abs(r.mean[0] - 2.5)).toBeLessThan(0.1);
    expect(Math.abs(r.std[0] - Math.sqrt(1.25))).toBeLessThan(0.1);
    expect(r.std[1]).toBe(0);
  });

  it(
    "finalWeights 'best-epoch-loss' returns the end of the epoch of lowest mean loss; maxEpochs caps the " +
      'passes; Adam ε is used',
    () => {
      const rng = new Rng(5);
      const seenW = matrix(
        D,
        4,
        Float32Array.from({ length: D * 4 }, () => rng.normal()),
      );
      const targets = matrix(
        nU,
        k,
        Float32Array.from({ length: nU * k }, () => rng.normal()),
      );
      // 2 classes × 10 pairs, batch 4: an epoch is 5 steps
      const base = {
        lambda: 0.01,
        lr: 1,
        batchSize: 4,
        pairsPerClass: 10,
        patience: 1000,
        minImprovement: 0.01,
        seed: 3,
      };
      const go = (o: object) =>
        trainUnseenWeights(
          { head, pool: memoryTaps(tap, [h, w, k]), seenWeights: seenW, targets },
          { ...base, maxSteps: 80, ...o },
        );
      const last = go({});
      // independent: epoch means from the per-step losses, the last of the lowest
      const means = Array.from(
        { length: 16 },
        (_, e) => last.losses.slice(5 * e, 5 * e + 5).reduce((a, b) => a + b, 0) / 5,
      );
      let bestEpoch = 0;
      means.forEach((m, e) => (bestEpoch = m <= means[bestEpoch] ? e : bestEpoch));
      expect(bestEpoch).toBeLessThan(15); // not the last epoch: the rule differs from 'last' here
      const best = go({ finalWeights: 'best-epoch-loss' });
      expect(best.bestEpoch?.epoch).toBe(bestEpoch + 1);
      expect(best.bestEpoch?.meanLoss).toBeCloseTo(means[bestEpoch], 6);
      expect(Array.from(best.weights.data)).toEqual(Array.from(go({ maxSteps: 5 * (bestEpoch + 1) }).weights.data));
      expect(best.losses).toEqual(last.losses);
      const capped = go({ maxEpochs: 3 });
      expect(capped.steps).toBe(15);
      expect(Array.from(capped.weights.data)).toEqual(Array.from(go({ maxSteps: 15 }).weights.data));
      // ε enters Adam's step: a huge ε slows the first steps
      expect(go({ adamEpsilon: 1e3, maxSteps: 3 }).losses[2]).not.toBe(go({ maxSteps: 3 }).losses[2]);
    },
  );

  it('lowers the loss and reaches the target importances, with flat tensor memory', () => {
    const rng = new Rng(21);
    const seenW = matrix(
      D,
      4,
      Float32Array.from({ length: D * 4 }, () => rng.normal()),
    );
    // targets = the importance of known weights, so a perfect solution exists
    const wStar = tf.tensor2d(
      Float32Array.from({ length: D * nU }, () => rng.normal()),
      [D, nU],
    );
    const targets = tf.tidy(() => {
      const a = tf.tensor4d(tap, [B, h, w, k]);
      const rows = [0, 1].map((c) =>
        tf.mean(importance(head, a, wStar, tf.tensor1d(new Array(B).fill(c), 'int32')), 0),
      );
      return tf.stack(rows).dataSync() as Float32Array;
    });
    wStar.dispose();
    const before = tf.memory().numTensors;
    const res = trainUnseenWeights(
      { head, pool: memoryTaps(tap, [h, w, k]), seenWeights: seenW, targets: matrix(nU, k, targets) },
      {
        lambda: 0,
        lr: 0.05,
        batchSize: 4,
        pairsPerClass: 10,
        maxSteps: 400,
        patience: 40,
        minImprovement: 0.01,
        seed: 3,
      },
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(res.finalLoss).toBeLessThan(res.initialLoss * 0.5);
    expect(res.steps).toBeGreaterThan(40);
  });
});
