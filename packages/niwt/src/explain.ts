/**
 * Explanations of NIWT decisions.
 * - Textual: invert the knowledge map. Given an importance vector a, the knowledge d̂ that best explains it
 *   through f(d) = dM + b is the ridge solution d̂ = (a' − b) Mᵀ (M Mᵀ + εI)⁻¹, with a' the vector rescaled to
 *   the map's output scale (the cosine loss leaves f's scale free). Dimensions are ranked by d̂.
 * - Visual: Grad-CAM at the tap for a class: weights α_c(x)/(h·w), map ReLU(Σ_k α_k A_k), normalised to [0, 1].
 */
import * as tf from '@tensorflow/tfjs';
import { row, type Matrix, type TapHead } from '@niwt/core';
import { importance } from './importance.js';
import type { LinearMap } from './knowledge-map.js';

export interface RankedDimension {
  readonly name: string;
  readonly score: number;
}

/** Solves (M Mᵀ + εI) X = R for small E by Cholesky; M is E × K. */
function ridgeInverse(M: Matrix, eps: number): Float64Array {
  const E = M.rows;
  const A = new Float64Array(E * E);
  for (let i = 0; i < E; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      const a = row(M, i);
      const b = row(M, j);
      for (let k = 0; k < a.length; k++) s += a[k] * b[k];
      A[i * E + j] = A[j * E + i] = s;
    }
  let trace = 0;
  for (let i = 0; i < E; i++) trace += A[i * E + i];
  for (let i = 0; i < E; i++) A[i * E + i] += (eps * trace) / E;
  // invert via Gauss-Jordan (E is the knowledge dimension: tens to hundreds)
  const inv = new Float64Array(E * E);
  for (let i = 0; i < E; i++) inv[i * E + i] = 1;
  for (let c = 0; c < E; c++) {
    let p = c;
    for (let r = c + 1; r < E; r++) if (Math.abs(A[r * E + c]) > Math.abs(A[p * E + c])) p = r;
    for (let k = 0; k < E; k++) {
      [A[c * E + k], A[p * E + k]] = [A[p * E + k], A[c * E + k]];
      [inv[c * E + k], inv[p * E + k]] = [inv[p * E + k], inv[c * E + k]];
    }
    const d = A[c * E + c];
    for (let k = 0; k < E; k++) {
      A[c * E + k] /= d;
      inv[c * E + k] /= d;
    }
    for (let r = 0; r < E; r++) {
      if (r === c) continue;
      const f = A[r * E + c];
      if (f === 0) continue;
      for (let k = 0; k < E; k++) {
        A[r * E + k] -= f * A[c * E + k];
        inv[r * E + k] -= f * inv[c * E + k];
      }
    }
  }
  return inv;
}

/** Ranks knowledge dimensions by how much they explain importance vectors, through a trained map. */
export class KnowledgeExplainer {
  private readonly inv: Float64Array;
  private readonly scale: number;

  constructor(
    private readonly map: LinearMap,
    private readonly dimNames: readonly string[],
    /** Typical ‖f(d)‖ of the classes the map was trained on, to bring importances to the map's scale. */
    outputNorm: number,
    ridge = 1e-3,
  ) {
    this.inv = ridgeInverse(map.M, ridge);
    this.scale = outputNorm;
  }

  /** d̂ for an importance vector (length K). */
  knowledgeFor(importance: ArrayLike<number>): Float64Array {
    const { M, b } = this.map;
    const E = M.rows;
    let n = 0;
    for (let k = 0; k < importance.length; k++) n += importance[k] * importance[k];
    const s = n > 0 ? this.scale / Math.sqrt(n) : 0;
    const rhs = new Float64Array(E);
    for (let e = 0; e < E; e++) {
      const m = row(M, e);
      let acc = 0;
      for (let k = 0; k < m.length; k++) acc += (importance[k] * s - b[k]) * m[k];
      rhs[e] = acc;
    }
    const d = new Float64Array(E);
    for (let i = 0; i < E; i++) {
      let acc = 0;
      for (let j = 0; j < E; j++) acc += this.inv[i * E + j] * rhs[j];
      d[i] = acc;
    }
    return d;
  }

  /** The top-k dimensions (largest d̂) with their scores. */
  explain(importance: ArrayLike<number>, k: number): RankedDimension[] {
    const d = this.knowledgeFor(importance);
    return Array.from(d, (score, i) => ({ name: this.dimNames[i], score }))
      .sort((a, b) => b.score - a.score)
      .slice(0, k);
  }
}

/**
 * Grad-CAM maps of class `columns[n]` of `weights` for each image: N × h × w in [0, 1] (each map divided by
 * its maximum; an all-zero map stays zero). Also returns the importances α (N × K).
 */
export function gradCam(
  head: TapHead,
  tap: tf.Tensor4D,
  weights: tf.Tensor2D,
  columns: tf.Tensor1D,
): { maps: Float32Array; alpha: Float32Array } {
  return tf.tidy(() => {
    const [, h, w] = tap.shape;
    const alpha = importance(head, tap, weights, columns); // N × K, Σ over space
    const cam = tf.relu(
      tf.sum(tf.mul(tap, tf.reshape(tf.div(alpha, h * w), [alpha.shape[0], 1, 1, alpha.shape[1]])), 3),
    ); // N × h × w
    const max = tf.max(cam, [1, 2], true);
    const maps = tf.div(cam, tf.maximum(max, 1e-12));
    return { maps: maps.dataSync() as Float32Array, alpha: alpha.dataSync() as Float32Array };
  });
}
