/**
 * ALE — Attribute Label Embedding (Akata et al., TPAMI 2016), as benchmarked by Xian et al. (GBU):
 * bilinear compatibility F(x, y) = θ(x)ᵀ W φ(y), trained with the WSABIE/WARP-style weighted approximate
 * ranking loss by SGD with sampled violating labels.
 */
import * as tf from '@tensorflow/tfjs';
import type { Matrix } from '@niwt/core';
import { readTidy } from '../tensors.js';

/** β_k = Σ_{j≤k} 1/j for k = 0…n (β_0 = 0): the weights that emphasise the top of the ranking. */
export function rankWeights(n: number): Float64Array {
  const beta = new Float64Array(n + 1);
  for (let k = 1; k <= n; k++) beta[k] = beta[k - 1] + 1 / k;
  return beta;
}

/**
 * The ALE loss of one image and its gradient in W (D×E, row-major), float64, for checks:
 * ℓ = (β_r / r) Σ_{y≠y_n} max(0, Δ + F(x,y) − F(x,y_n)) with r the number of margin violators.
 * r is piecewise constant in W, so the gradient holds it fixed (valid away from the hinge kinks).
 */
export function aleSampleLoss(
  w: Float64Array,
  D: number,
  E: number,
  x: ArrayLike<number>,
  classEmb: Matrix,
  label: number,
  margin: number,
): { loss: number; grad: Float64Array } {
  const C = classEmb.rows;
  const s = new Float64Array(E);
  for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) s[e] += x[d] * w[d * E + e];
  const F = new Float64Array(C);
  for (let c = 0; c < C; c++) for (let e = 0; e < E; e++) F[c] += s[e] * classEmb.data[c * E + e];
  const violators: number[] = [];
  let hinge = 0;
  for (let c = 0; c < C; c++) {
    if (c === label) continue;
    const h = margin + F[c] - F[label];
    if (h > 0) {
      violators.push(c);
      hinge += h;
    }
  }
  const grad = new Float64Array(D * E);
  const r = violators.length;
  if (r === 0) return { loss: 0, grad };
  const wr = rankWeights(r)[r] / r;
  const dphi = new Float64Array(E);
  for (const c of violators)
    for (let e = 0; e < E; e++) dphi[e] += classEmb.data[c * E + e] - classEmb.data[label * E + e];
  for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) grad[d * E + e] = wr * x[d] * dphi[e];
  return { loss: wr * hinge, grad };
}

/** Compatibility scores X·W·Aᵀ (N × C) for preprocessed features and class embeddings. */
export function aleScores(x: Matrix, w: Float32Array, classEmb: Matrix): Float32Array {
  return readTidy(() =>
    tf.matMul(
      tf.matMul(tf.tensor2d(x.data, [x.rows, x.cols]), tf.tensor2d(w, [x.cols, classEmb.cols])),
      tf.tensor2d(classEmb.data, [classEmb.rows, classEmb.cols]),
      false,
      true,
    ),
  );
}
