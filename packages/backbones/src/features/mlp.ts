/** The MLP of the features backbone, as plain tfjs variables (named per instance: tfjs names are global). */
import * as tf from '@tensorflow/tfjs';
import { type Rng } from '@niwt/core';
import { variableFrom } from '@niwt/compute';

export interface Dense {
  readonly name: string;
  readonly w: tf.Variable<tf.Rank.R2>;
  readonly b: tf.Variable<tf.Rank.R1>;
}

let instances = 0;
export function newScope(): string {
  instances++;
  return `features${instances}/`;
}

/** He-normal dense layer from a seeded stream. */
export function dense(rng: Rng, scope: string, name: string, din: number, dout: number): Dense {
  const w = new Float32Array(din * dout);
  const std = Math.sqrt(2 / din);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
  return {
    name,
    w: variableFrom<tf.Rank.R2>(w, [din, dout], `${scope}${name}/kernel`),
    b: variableFrom<tf.Rank.R1>(new Float32Array(dout), [dout], `${scope}${name}/bias`),
  };
}

export function applyDense(layer: Dense, x: tf.Tensor2D, relu: boolean): tf.Tensor2D {
  const y = tf.add(tf.matMul(x, layer.w), layer.b) as tf.Tensor2D;
  return relu ? tf.relu(y) : y;
}

/** Rows scaled to unit L2 norm (zero rows stay zero). */
export function l2Rows(data: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < data.length / cols; r++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += data[r * cols + j] ** 2;
    const k = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < cols; j++) out[r * cols + j] = data[r * cols + j] * k;
  }
  return out;
}
