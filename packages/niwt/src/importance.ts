/**
 * Stage B: neuron importance α_c(x) = Σ_ij ∂o_c/∂A_ij(x) — the gradient of the raw logit o_c with respect
 * to the tap activations, summed over space — for a batch of cached tap activations.
 */
import * as tf from '@tensorflow/tfjs';
import type { TapHead, TapSource } from '@niwt/core';

/**
 * Importance of class column `columns[n]` of `weights` for image n (the bias does not depend on A).
 * @param activations N × h × w × k tap activations
 * @param weights D × C classifier weights on the penultimate features
 * @returns N × k
 */
export function importance(
  head: TapHead,
  activations: tf.Tensor4D,
  weights: tf.Tensor2D,
  columns: tf.Tensor1D,
): tf.Tensor2D {
  return tf.tidy(() => {
    const wPerImage = tf.transpose(tf.gather(weights, columns, 1)) as tf.Tensor2D; // N × D
    // Images are independent, so the gradient of Σ_n o_{c_n}(A_n) w.r.t. A_n is ∂o_{c_n}/∂A_n.
    const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(head.apply(a as tf.Tensor4D), wPerImage)))(activations);
    return tf.sum(grad, [1, 2]) as tf.Tensor2D;
  });
}

/** Importances for many images in batches, read from a tap source; returns N × k row-major. */
export function importanceInBatches(
  head: TapHead,
  tap: TapSource,
  weights: tf.Tensor2D,
  columns: Int32Array,
  batchSize: number,
): Float32Array {
  const [h, w, k] = head.tap.shape;
  const count = columns.length;
  const out = new Float32Array(count * k);
  for (let s = 0; s < count; s += batchSize) {
    const n = Math.min(batchSize, count - s);
    const idx = Array.from({ length: n }, (_, i) => s + i);
    const res = tf.tidy(() =>
      importance(
        head,
        tf.tensor4d(tap.read(idx), [n, h, w, k]),
        weights,
        tf.tensor1d(columns.subarray(s, s + n), 'int32'),
      ),
    );
    out.set(res.dataSync(), s * k);
    res.dispose();
  }
  return out;
}
