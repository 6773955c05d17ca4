import * as tf from '@tensorflow/tfjs';

/**
 * A trainable variable holding `data`. `tf.variable(tensor)` leaves the initial tensor alive (it shares
 * its data), so creating variables directly leaks one tensor each; this does not.
 */
export function variableFrom<R extends tf.Rank>(
  data: Float32Array,
  shape: readonly number[],
  name?: string,
  trainable = true,
): tf.Variable<R> {
  return tf.tidy(() => tf.variable(tf.tensor<tf.Rank>(data, [...shape]), trainable, name)) as tf.Variable<R>;
}
