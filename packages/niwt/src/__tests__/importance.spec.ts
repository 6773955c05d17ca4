import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryTaps } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { importance, importanceInBatches } from '../index.js';
import { randomTap, vggLikeHead } from './fixtures.js';

await initBackend('cpu');

describe('stage B importance', () => {
  const [n, h, w, k, D, C] = [3, 4, 4, 5, 6, 4];
  const head = vggLikeHead(1, h, w, k, D);
  const tap = randomTap(2, n, h, w, k);
  const Wc = tf.tensor2d(
    Float32Array.from({ length: D * C }, (_, i) => Math.sin(i + 1)),
    [D, C],
  );
  afterAll(() => {
    head.dispose();
    Wc.dispose();
  });

  it('matches central finite differences of the logit along each channel (summed over space)', () => {
    const cols = Int32Array.from([0, 2, 3]);
    const alpha = tf.tidy(() =>
      importance(head, tf.tensor4d(tap, [n, h, w, k]), Wc, tf.tensor1d(cols, 'int32')).arraySync(),
    );
    const logit = (a: Float32Array, img: number, c: number): number => {
      const t = tf.tidy(() =>
        tf.matMul(head.apply(tf.tensor4d(a.subarray(img * h * w * k, (img + 1) * h * w * k), [1, h, w, k])), Wc),
      );
      const v = (t.arraySync() as number[][])[0][c];
      t.dispose();
      return v;
    };
    const eps = 1e-2;
    let maxRel = 0;
    for (let img = 0; img < n; img++) {
      for (let ch = 0; ch < k; ch++) {
        const plus = tap.slice();
        const minus = tap.slice();
        for (let p = 0; p < h * w; p++) {
          plus[img * h * w * k + p * k + ch] += eps;
          minus[img * h * w * k + p * k + ch] -= eps;
        }
        const fd = (logit(plus, img, cols[img]) - logit(minus, img, cols[img])) / (2 * eps);
        maxRel = Math.max(maxRel, Math.abs(fd - alpha[img][ch]) / Math.max(1e-3, Math.abs(fd)));
      }
    }
    expect(maxRel).toBeLessThan(1e-3);
  });

  it('gives the same values in batches of any size and keeps tensor memory flat', () => {
    const cols = Int32Array.from([1, 1, 0]);
    const before = tf.memory().numTensors;
    const src = memoryTaps(tap, [h, w, k]);
    const a = importanceInBatches(head, src, Wc, cols, 2);
    const b = importanceInBatches(head, src, Wc, cols, 3);
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a.length).toBe(n * k);
  });
});
