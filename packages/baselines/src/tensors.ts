import * as tf from '@tensorflow/tfjs';

/**
 * Runs `fn` in a tidy scope and copies its result out. Returning a typed array from `tf.tidy` itself would
 * make tfjs walk every element looking for tensors (seconds for a few million values).
 */
export function readTidy(fn: () => tf.Tensor): Float32Array {
  let out: Float32Array = new Float32Array(0);
  tf.tidy(() => {
    out = fn().dataSync() as Float32Array;
  });
  return out;
}
