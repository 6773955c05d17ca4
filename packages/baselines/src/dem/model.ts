/**
 * DEM — Deep Embedding Model (Zhang, Xiang & Gong, CVPR 2017): class knowledge is mapped into the visual
 * feature space by FC → ReLU → FC → ReLU, trained with the mean squared error to the images of each class
 * plus λ·½‖θ‖² (biases included), and an image is assigned to the nearest class prototype.
 *
 * The loss of a mini-batch depends on the network output only at the batch's distinct classes:
 * Σ_{i∈c} ‖f_c − x_i‖² = n_c‖f_c − x̄_c‖² + Σ_{i∈c}‖x_i − x̄_c‖², so the forward and backward passes run on
 * one row per distinct class instead of one per image — the same loss and gradient, fewer FLOPs.
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, type Matrix } from '@niwt/core';
import { readTidy } from '../tensors.js';
import type { DemDistance } from './options.js';

export interface DemParams {
  /** E × H */
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  /** H × D */
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

/** The official init: weights truncated normal (σ 0.1, within 2σ), biases 0.1. */
export function initDemParams(E: number, H: number, D: number, seed: number): DemParams {
  const rng = new Rng(seed);
  const tn = (n: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let z = rng.normal();
      while (Math.abs(z) > 2) z = rng.normal();
      out[i] = 0.1 * z;
    }
    return out;
  };
  return { w1: tn(E * H), b1: new Float32Array(H).fill(0.1), w2: tn(H * D), b2: new Float32Array(D).fill(0.1) };
}

/** f(a) = ReLU(ReLU(a W₁ + b₁) W₂ + b₂) for rows a. */
export function demForward(
  v: { w1: tf.Tensor2D; b1: tf.Tensor1D; w2: tf.Tensor2D; b2: tf.Tensor1D },
  a: tf.Tensor2D,
): tf.Tensor2D {
  return tf.tidy(
    () => tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(a, v.w1), v.b1)), v.w2), v.b2)) as tf.Tensor2D,
  );
}

/** A mini-batch grouped by class: the sufficient statistics of the per-image squared error. */
export interface DemBatch {
  /** Row of the knowledge matrix of each distinct class. */
  readonly classes: Int32Array;
  /** Images of each distinct class. */
  readonly counts: Float32Array;
  /** Mean feature of each distinct class (R × D). */
  readonly means: Float32Array;
  /** Σ ‖x_i − x̄_c‖² over the batch (the part of the loss no parameter changes). */
  readonly scatter: number;
  /** Images in the batch. */
  readonly size: number;
}

export function groupBatch(x: Matrix, labels: Int32Array, rows: ArrayLike<number>): DemBatch {
  const D = x.cols;
  const slot = new Map<number, number>();
  for (let k = 0; k < rows.length; k++) if (!slot.has(labels[rows[k]])) slot.set(labels[rows[k]], slot.size);
  const R = slot.size;
  const classes = new Int32Array(R);
  for (const [c, s] of slot) classes[s] = c;
  const counts = new Float32Array(R);
  const sums = new Float64Array(R * D);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    const s = slot.get(labels[r])!;
    counts[s]++;
    const o = r * D;
    for (let d = 0; d < D; d++) sums[s * D + d] += x.data[o + d];
  }
  const means = new Float32Array(R * D);
  for (let s = 0; s < R; s++) for (let d = 0; d < D; d++) means[s * D + d] = sums[s * D + d] / counts[s];
  let scatter = 0;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    const s = slot.get(labels[r])!;
    const o = r * D;
    for (let d = 0; d < D; d++) scatter += (x.data[o + d] - means[s * D + d]) ** 2;
  }
  return { classes, counts, means, scatter, size: rows.length };
}

/** The DEM objective of one batch: mean over batch × dims of (f(a_y) − x)², plus λ·½‖θ‖². */
export function demBatchLoss(
  v: { w1: tf.Tensor2D; b1: tf.Tensor1D; w2: tf.Tensor2D; b2: tf.Tensor1D },
  knowledge: tf.Tensor2D,
  batch: DemBatch,
  lambda: number,
): tf.Scalar {
  return tf.tidy(() => {
    const R = batch.classes.length;
    const D = v.w2.shape[1];
    const f = demForward(v, tf.gather(knowledge, tf.tensor1d(batch.classes, 'int32')));
    const diff = tf.sub(f, tf.tensor2d(batch.means, [R, D]));
    const weighted = tf.sum(tf.mul(tf.sum(tf.square(diff), 1), tf.tensor1d(batch.counts)));
    const mse = tf.div(tf.add(weighted, batch.scatter), batch.size * D);
    const l2 = tf.add(
      tf.add(tf.sum(tf.square(v.w1)), tf.sum(tf.square(v.b1))),
      tf.add(tf.sum(tf.square(v.w2)), tf.sum(tf.square(v.b2))),
    );
    return tf.add(mse, tf.mul(lambda / 2, l2)) as tf.Scalar;
  });
}

/** f(a) from parameters held in JS (a few forward passes per fit: tfjs's speed is plenty). */
export function forwardParams(p: DemParams, knowledge: Matrix): Float32Array {
  const E = knowledge.cols;
  const H = p.b1.length;
  const D = p.b2.length;
  return readTidy(() =>
    demForward(
      { w1: tf.tensor2d(p.w1, [E, H]), b1: tf.tensor1d(p.b1), w2: tf.tensor2d(p.w2, [H, D]), b2: tf.tensor1d(p.b2) },
      tf.tensor2d(knowledge.data, [knowledge.rows, E]),
    ),
  );
}

/** Scores of images against prototypes (N × C): −Euclidean distance, or cosine similarity. */
export function prototypeScores(
  x: Matrix,
  prototypes: Float32Array,
  numPrototypes: number,
  distance: DemDistance,
): Float32Array {
  const D = x.cols;
  return readTidy(() => {
    const X = tf.tensor2d(x.data, [x.rows, D]);
    const P = tf.tensor2d(prototypes, [numPrototypes, D]);
    const dot = tf.matMul(X, P, false, true);
    const x2 = tf.sum(tf.square(X), 1, true);
    const p2 = tf.sum(tf.square(P), 1).reshape([1, numPrototypes]);
    if (distance === 'cosine') return tf.div(dot, tf.maximum(tf.mul(tf.sqrt(x2), tf.sqrt(p2)), 1e-12));
    return tf.neg(tf.sqrt(tf.relu(tf.add(tf.sub(x2, tf.mul(2, dot)), p2))));
  });
}
