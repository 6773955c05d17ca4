/**
 * Stage D's loss, defined once for every engine (reference double backprop, `fast` tfjs, `fast-ort`):
 *
 *   L(W_u) = mean_j [1 − â_j · t̂_{c_j}] + λ · ½‖W_u − μ1ᵀ‖²,   â = α / (‖α‖ + ε)
 *
 * α_j is pair j's importance at the tap, t̂ the unit target importances, μ the seen weights' row means. The
 * autograd engines use the tfjs forms below; engines that assemble ∂L/∂W_u themselves take the penalty's value
 * and gradient from `weightPenaltyStep`; the ONNX step graph emits the cosine term and its gradient with
 * `onnxCosineTerm`, from the same ε.
 */
import * as tf from '@tensorflow/tfjs';
import type { OnnxGraph } from '@niwt/compute';

/** ε of â = α / (‖α‖ + ε): keeps the cosine defined at α = 0. */
export const COSINE_EPS = 1e-12;

/** t̂ = t / (‖t‖ + ε) per row: the unit target importances of the data term. */
export function unitRows(t: tf.Tensor2D): tf.Tensor2D {
  return tf.div(t, tf.add(tf.norm(t, 'euclidean', 1, true), COSINE_EPS));
}

/** Data term from α (B × K): mean_j [1 − cos(α_j, t̂_{c_j})], differentiable in α. */
export function cosineTerm(alpha: tf.Tensor2D, targetsHat: tf.Tensor2D, classes: tf.Tensor1D): tf.Scalar {
  const alphaHat = tf.div(alpha, tf.add(tf.norm(alpha, 'euclidean', 1, true), COSINE_EPS));
  return tf.mean(tf.sub(1, tf.sum(tf.mul(alphaHat, tf.gather(targetsHat, classes)), 1)));
}

/** The same data term from the pairs' cosines (an engine that computed them itself). */
export function cosineTermOf(cos: ArrayLike<number>): number {
  let sum = 0;
  for (let j = 0; j < cos.length; j++) sum += cos[j];
  return 1 - sum / cos.length;
}

/** λ · ½‖W_u − μ1ᵀ‖², differentiable in W_u (autograd engines). */
export function weightPenalty(wu: tf.Tensor2D, mu: tf.Tensor2D, lambda: number): tf.Scalar {
  return tf.mul(lambda / 2, tf.sum(tf.square(tf.sub(wu, mu))));
}

/** The penalty's value and its gradient λ(W_u − μ1ᵀ) (D × n_u), for engines that build ∂L/∂W_u by hand. */
export function weightPenaltyStep(
  wu: tf.Tensor2D,
  mu: tf.Tensor2D,
  lambda: number,
): { value: number; grad: tf.Tensor2D } {
  const diff = tf.sub(wu, mu);
  return { value: (lambda / 2) * tf.sum(tf.square(diff)).dataSync()[0], grad: tf.mul(lambda, diff) };
}

/**
 * The cosine term as ONNX ops on `alpha` and `t` (batch × K): per-pair cos(α_j, t_j) (batch × 1) and
 * ∂/∂α mean_j [1 − â_j·t_j] as tfjs differentiates `cosineTerm`:
 * −(t/n′ − (α·t) α / (n′² ‖α‖)) / B with n′ = ‖α‖ + ε.
 */
export function onnxCosineTerm(g: OnnxGraph, alpha: string, t: string): { cos: string; grad: string } {
  const norm = g.op('Sqrt', [g.op('ReduceSum', [g.op('Mul', [alpha, alpha]), g.int64s([1])], { keepdims: { i: 1 } })]);
  const np = g.op('Add', [norm, g.constant([COSINE_EPS], [])]);
  const dot = g.op('ReduceSum', [g.op('Mul', [alpha, t]), g.int64s([1])], { keepdims: { i: 1 } });
  const cos = g.op('Div', [dot, np]);
  const batch = g.op('Cast', [g.op('Slice', [g.op('Shape', [alpha]), g.int64s([0]), g.int64s([1])])], { to: { i: 1 } });
  const invB = g.op('Reciprocal', [batch]);
  const radial = g.op('Div', [g.op('Mul', [dot, alpha]), g.op('Mul', [g.op('Mul', [np, np]), norm])]);
  const grad = g.op('Mul', [g.op('Sub', [radial, g.op('Div', [t, np])]), invB]);
  return { cos, grad };
}
