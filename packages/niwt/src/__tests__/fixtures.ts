import * as tf from '@tensorflow/tfjs';
import { Rng, type TapHead } from '@niwt/core';

/** A VGG-like head for tests: tap [h,w,k] → maxPool 2×2 → flatten → dense → ReLU → D features. */
export function vggLikeHead(seed: number, h: number, w: number, k: number, D: number): TapHead & { dispose(): void } {
  const rng = new Rng(seed);
  const din = (h / 2) * (w / 2) * k;
  const W = tf.tensor2d(
    Float32Array.from({ length: din * D }, () => rng.normal() * 0.5),
    [din, D],
  );
  const b = tf.tensor1d(Float32Array.from({ length: D }, () => 0.5 + rng.normal() * 0.1));
  return {
    tap: { name: 'tap', shape: [h, w, k] },
    outDim: D,
    apply: (a: tf.Tensor4D) =>
      tf.tidy(
        () =>
          tf.relu(tf.add(tf.matMul(tf.reshape(tf.maxPool(a, 2, 2, 'valid'), [a.shape[0], din]), W), b)) as tf.Tensor2D,
      ),
    dispose: () => tf.dispose([W, b]),
  };
}

export function randomTap(seed: number, n: number, h: number, w: number, k: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * h * w * k }, () => Math.max(0, rng.normal() + 0.3));
}
