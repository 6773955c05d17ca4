/** The building blocks of the small CNN, written with tfjs core ops so any tap can be cut out. */
import * as tf from '@tensorflow/tfjs';
import { type Rng } from '@niwt/core';
import { variableFrom } from '@niwt/compute';

export interface ConvParams {
  readonly kind: 'conv';
  readonly name: string;
  readonly w: tf.Variable<tf.Rank.R4>;
  readonly b: tf.Variable<tf.Rank.R1>;
}
export interface PoolParams {
  readonly kind: 'pool';
  readonly name: string;
}
export interface DenseParams {
  readonly kind: 'dense';
  readonly name: string;
  readonly w: tf.Variable<tf.Rank.R2>;
  readonly b: tf.Variable<tf.Rank.R1>;
  /** Whether a ReLU follows. */
  readonly relu: boolean;
}
export type Layer = ConvParams | PoolParams | DenseParams;

let instances = 0;

/** A unique variable-name scope: tfjs variable names are global, and two networks must not clash. */
export function newScope(prefix: string): string {
  instances++;
  return `${prefix}${instances}/`;
}

/** He-normal weights from a seeded stream: the same seed gives the same network on every backend. */
export function heNormal(rng: Rng, shape: number[], fanIn: number): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

export function conv(rng: Rng, name: string, k: number, cin: number, cout: number, scope = ''): ConvParams {
  return {
    kind: 'conv',
    name,
    w: variableFrom<tf.Rank.R4>(
      heNormal(rng, [k, k, cin, cout], k * k * cin),
      [k, k, cin, cout],
      `${scope}${name}/kernel`,
    ),
    b: variableFrom<tf.Rank.R1>(new Float32Array(cout), [cout], `${scope}${name}/bias`),
  };
}

export function dense(rng: Rng, name: string, din: number, dout: number, relu: boolean, scope = ''): DenseParams {
  return {
    kind: 'dense',
    name,
    w: variableFrom<tf.Rank.R2>(heNormal(rng, [din, dout], din), [din, dout], `${scope}${name}/kernel`),
    b: variableFrom<tf.Rank.R1>(new Float32Array(dout), [dout], `${scope}${name}/bias`),
    relu,
  };
}

/** Applies one layer; dense layers flatten their input first. */
export function applyLayer(layer: Layer, x: tf.Tensor): tf.Tensor {
  switch (layer.kind) {
    case 'conv':
      return tf.relu(tf.add(tf.conv2d(x as tf.Tensor4D, layer.w, 1, 'same'), layer.b));
    case 'pool':
      return tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid');
    case 'dense': {
      const flat = x.rank === 2 ? (x as tf.Tensor2D) : (tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D);
      const y = tf.add(tf.matMul(flat, layer.w), layer.b);
      return layer.relu ? tf.relu(y) : y;
    }
  }
}
