/**
 * The fast stage D (linearised head) against double backprop and against finite differences, on heads with
 * conv, max and average pooling, inference BatchNorm and residual adds.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng, matrix, memoryTaps } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { LinearizedHead, importance, trainUnseenWeights, transferLoss } from '../index.js';
import { randomTap } from './fixtures.js';
import { convHead, relErr, resnetHead, vggHead, type TestHead } from './heads.js';

await initBackend('wasm');

const cases: [string, TestHead, [number, number, number]][] = [
  ['VGG-like (pool → fc, commuted spatial sum)', vggHead(1, [4, 4, 3], 6), [4, 4, 3]],
  ['conv → ReLU → max pool → avg pool → fc', convHead(2, [4, 4, 2], 6), [4, 4, 2]],
  ['ResNet-like (2 bottlenecks, BN, residual, GAP)', resnetHead(3, [3, 3, 4]), [3, 3, 4]],
];
afterAll(() => cases.forEach(([, h]) => h.dispose()));

describe.each(cases)('fast stage D: %s', (_name, head, shape) => {
  const B = 5;
  const nU = 3;
  const D = head.outDim;
  const K = shape[2];
  const tap = randomTap(7, B, ...shape);
  const rng = new Rng(9);
  const wu0 = Float32Array.from({ length: D * nU }, () => rng.normal());
  const cls = Int32Array.from([0, 2, 1, 2, 0]);

  it('α equals backprop through the head (relative error < 1e-4)', () => {
    const lin = new LinearizedHead(head.layers!, shape);
    const [fast, ref] = tf.tidy(() => {
      const a = tf.tensor4d(tap, [B, ...shape]);
      const w = tf.tensor2d(wu0, [D, nU]);
      const masks = lin.masks(lin.state(a), B);
      const wPer = tf.matMul(tf.oneHot(tf.tensor1d(cls, 'int32'), nU), w, false, true) as tf.Tensor2D;
      return [lin.alpha(masks, wPer).dataSync(), importance(head, a, w, tf.tensor1d(cls, 'int32')).dataSync()];
    });
    lin.dispose();
    expect(relErr(fast, ref)).toBeLessThan(1e-4);
  });

  it('α matches central finite differences of the logit along each channel', () => {
    const lin = new LinearizedHead(head.layers!, shape);
    const [h, w] = shape;
    const per = h * w * K;
    const alpha = tf.tidy(() => {
      const a = tf.tensor4d(tap, [B, ...shape]);
      const wPer = tf.matMul(
        tf.oneHot(tf.tensor1d(cls, 'int32'), nU),
        tf.tensor2d(wu0, [D, nU]),
        false,
        true,
      ) as tf.Tensor2D;
      return lin.alpha(lin.masks(lin.state(a), B), wPer).dataSync();
    });
    lin.dispose();
    const logit = (x: Float32Array, img: number): number => {
      const out = tf.tidy(() =>
        head.apply(tf.tensor4d(x.subarray(img * per, (img + 1) * per), [1, ...shape])).dataSync(),
      );
      let s = 0;
      for (let d = 0; d < D; d++) s += out[d] * wu0[d * nU + cls[img]];
      return s;
    };
    // These heads are piecewise linear: a central difference is exact (up to rounding) when the step crosses
    // no ReLU or max-pool kink, i.e. when the head's forward state (its masks) is the same at A ± eps.
    const lin2 = new LinearizedHead(head.layers!, shape);
    const stateOf = (x: Float32Array, img: number): string =>
      tf.tidy(() =>
        Buffer.from(lin2.state(tf.tensor4d(x.subarray(img * per, (img + 1) * per), [1, ...shape]))).toString('hex'),
      );
    const fd: number[] = [];
    for (let img = 0; img < B; img++) {
      const s0 = stateOf(tap, img);
      for (let ch = 0; ch < K; ch++) {
        let chosen = NaN;
        for (let eps = 5e-2; eps > 1e-5 && Number.isNaN(chosen); eps /= 2) {
          const p = tap.slice();
          const m = tap.slice();
          for (let q = 0; q < h * w; q++) {
            p[img * per + q * K + ch] += eps;
            m[img * per + q * K + ch] -= eps;
          }
          if (stateOf(p, img) === s0 && stateOf(m, img) === s0) chosen = (logit(p, img) - logit(m, img)) / (2 * eps);
        }
        fd.push(chosen);
      }
    }
    lin2.dispose();
    expect(fd.every((v) => Number.isFinite(v))).toBe(true);
    expect(relErr(alpha, fd)).toBeLessThan(1e-3);
  });

  it('∂L/∂W_u equals double backprop, and training follows the same loss curve', () => {
    const targets = matrix(
      nU,
      K,
      Float32Array.from({ length: nU * K }, () => rng.normal()),
    );
    const run = (implementation: 'fast' | 'reference') =>
      trainUnseenWeights(
        {
          head,
          pool: memoryTaps(tap, shape),
          seenWeights: matrix(
            D,
            4,
            Float32Array.from({ length: D * 4 }, (_, i) => Math.sin(i)),
          ),
          targets,
        },
        {
          lambda: 0.01,
          lr: 0.02,
          batchSize: 4,
          pairsPerClass: 6,
          maxSteps: 25,
          patience: 1000,
          minImprovement: 0.01,
          seed: 5,
          implementation,
        },
      );
    const before = tf.memory().numTensors;
    const fast = run('fast');
    expect(tf.memory().numTensors).toBe(before);
    const ref = run('reference');
    expect(fast.implementation).toBe('fast');
    expect(ref.implementation).toBe('reference');
    expect(fast.losses).toHaveLength(25);
    for (let i = 0; i < 25; i++) expect(Math.abs(fast.losses[i] - ref.losses[i])).toBeLessThan(1e-4);
    expect(relErr(fast.weights.data, ref.weights.data)).toBeLessThan(1e-3);
    // and the reference gradient itself is what tf.grad gives (sanity for the comparison)
    const g = tf.tidy(() =>
      tf
        .grad((w: tf.Tensor) =>
          transferLoss(
            head,
            w as tf.Tensor2D,
            tf.tensor4d(tap, [B, ...shape]),
            tf.tensor1d(cls, 'int32'),
            tf.tensor2d(targets.data, [nU, K]),
            tf.zeros([D, nU]),
            0,
          ),
        )(tf.tensor2d(wu0, [D, nU]))
        .dataSync(),
    );
    expect(g.some((v) => v !== 0)).toBe(true);
  });
});

describe('fast stage D fallbacks', () => {
  it('refuses overlapping max pooling and says why', () => {
    expect(
      () => new LinearizedHead([{ kind: 'maxpool', size: 3, stride: 2, padding: 'same' }, { kind: 'gap' }], [4, 4, 2]),
    ).toThrow('maxpool 3/2 on 4×4 is not a tiling (the fast path needs non-overlapping windows)');
  });
});
