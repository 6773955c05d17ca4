/**
 * ALE's SGD is the classic per-sample procedure (one rank-1 update per violating image, in a shuffled order),
 * computed exactly but in blocks: for a block of images the scores against the block's starting W come from
 * one GEMM, each image's score is corrected by the rank-1 updates of the
 * images before it in the block, and the block's updates are applied with one more GEMM. That is the same
 * sequence of updates as the per-sample loop, at GEMM speed on the WASM backend. (The Gram entries are only
 * needed against images that were updated, so they are computed on demand.)
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, type Matrix } from '@niwt/core';
import { rankWeights } from './model.js';

export interface AleProblem {
  /** N × D, preprocessed. */
  readonly x: Matrix;
  /** Row of `classEmb` of each image. */
  readonly labels: Int32Array;
  /** C × E class embeddings of the training classes (unit-L2 rows). */
  readonly classEmb: Matrix;
}

export interface AleTrainOptions {
  readonly lr: number;
  readonly margin: number;
  readonly blockSize: number;
  readonly seed: number;
  /**
   * How a block gets the dot products of its images with its earlier updated images (speed only):
   * `auto` picks one GEMM for the whole block after a block with many updates, else on-demand dot products.
   */
  readonly gram?: 'auto' | 'gemm' | 'dot';
}

/** Per-epoch record: how many images found a violating label (and so were updated). */
export interface AleEpoch {
  readonly updates: number;
  readonly updateRate: number;
}

/**
 * `auto` computes a block's Gram matrix with one GEMM when the previous block updated at least 1/GRAM_GEMM_RATIO
 * of its images: on-demand JS dot products cost ~(updates · block / 2) · D multiply-adds, the GEMM block² · D at
 * ~20× the speed plus packing the block (measured break-even ≈ a quarter of the block updated).
 */
const GRAM_GEMM_RATIO = 4;

/**
 * Sequential ALE SGD. Random stream (seeded): W₀ = N(0,1)/√D row-major, then per epoch a shuffle of the
 * images and, per image, up to C−1 uniform draws of a wrong class (with replacement).
 *
 * Exact blocks: a block's scores come from one GEMM against the block's starting weights; image i's scores
 * are then corrected by the updates of the block's earlier images b (each adds (x_i·x_b)·u_b, u_b the score
 * change per unit Gram), and the block's updates go into W with one GEMM of the updated rows only. Scores are
 * taken in the smaller of class space (V = W·Aᵀ, D × C: F is read directly) and embedding space (V = W,
 * D × E: F = s·φ(c) per draw); at AWA2 scale (C = 40 < E = 85) the former halves the GEMM.
 */
export class AleTrainer {
  readonly D: number;
  readonly E: number;
  readonly C: number;
  private readonly rng: Rng;
  private readonly beta: Float64Array;
  /** Scores in class space (C ≤ E) or embedding space. */
  private readonly byClass: boolean;
  /** Width of the scoring matrix V: C or E. */
  private readonly R: number;
  /** C × R, row c: the change of an image's score vector per unit step toward φ(c) (A·Aᵀ or A). */
  private readonly T: Float64Array;
  /** Aᵀ (E × C) when scoring in class space. */
  private readonly At: tf.Tensor2D | undefined;
  private W: tf.Tensor2D;
  /** D × R scoring matrix, W·Aᵀ or W itself. */
  private V: tf.Tensor2D;
  // Per-block scratch, allocated once (blockSize rows).
  private readonly xBlock: Float32Array;
  private readonly xActive: Float32Array;
  private readonly mActive: Float32Array;
  private readonly uBlock: Float64Array;
  private readonly active: Int32Array;
  private readonly v: Float64Array;

  constructor(
    private readonly p: AleProblem,
    private readonly opts: AleTrainOptions,
  ) {
    const { D, E, C } = { D: p.x.cols, E: p.classEmb.cols, C: p.classEmb.rows };
    this.D = D;
    this.E = E;
    this.C = C;
    this.rng = new Rng(opts.seed);
    this.beta = rankWeights(Math.max(1, C - 1));
    this.byClass = C <= E;
    this.R = this.byClass ? C : E;
    const A = p.classEmb.data;
    this.T = new Float64Array(C * this.R);
    if (this.byClass) {
      for (let c = 0; c < C; c++) for (let k = 0; k < C; k++) this.T[c * C + k] = dot32(A, c * E, A, k * E, E);
    } else this.T.set(A);
    const w0 = new Float32Array(D * E);
    const scale = 1 / Math.sqrt(D);
    for (let i = 0; i < w0.length; i++) w0[i] = this.rng.normal() * scale;
    this.W = tf.tensor2d(w0, [D, E]);
    this.At = this.byClass ? tf.tidy(() => tf.transpose(tf.tensor2d(A, [C, E]))) : undefined;
    this.V = this.scoring(this.W);
    const B = opts.blockSize;
    this.xBlock = new Float32Array(B * D);
    this.xActive = new Float32Array(B * D);
    this.mActive = new Float32Array(B * E);
    this.uBlock = new Float64Array(B * this.R);
    this.active = new Int32Array(B);
    this.v = new Float64Array(this.R);
  }

  epoch(): AleEpoch {
    const { D, E, C, R, T, rng, beta, byClass, v, active } = this;
    const X = this.p.x.data;
    const N = this.p.x.rows;
    const labels = this.p.labels;
    const A = this.p.classEmb.data;
    const U = this.uBlock;
    const M = this.mActive;
    const { lr, margin, gram = 'auto' } = this.opts;
    const order = rng.shuffle(Array.from({ length: N }, (_, i) => i));
    const B = this.opts.blockSize;
    let updates = 0;
    let lastActive = 0;
    for (let start = 0; start < N; start += B) {
      const nb = Math.min(B, N - start);
      const xb = this.xBlock.subarray(0, nb * D);
      for (let i = 0; i < nb; i++) xb.set(X.subarray(order[start + i] * D, (order[start + i] + 1) * D), i * D);
      const gemmGram = gram === 'gemm' || (gram === 'auto' && lastActive * GRAM_GEMM_RATIO >= nb);
      let S: Float32Array = new Float32Array(0);
      let G: Float32Array | undefined;
      tf.tidy(() => {
        const t = tf.tensor2d(xb, [nb, D]);
        S = tf.matMul(t, this.V).dataSync() as Float32Array;
        if (gemmGram) G = tf.matMul(t, t, false, true).dataSync() as Float32Array;
      });
      let na = 0;
      for (let i = 0; i < nb; i++) {
        for (let r = 0; r < R; r++) v[r] = S[i * R + r];
        const xi = order[start + i] * D;
        for (let a = 0; a < na; a++) {
          const b = active[a];
          const g = G !== undefined ? G[i * nb + b] : dot32(X, xi, X, order[start + b] * D, D);
          if (g !== 0) for (let r = 0; r < R; r++) v[r] += g * U[b * R + r];
        }
        if (C < 2) continue;
        const y = labels[order[start + i]];
        const fy = byClass ? v[y] : dot64(v, A, y * E, E);
        for (let k = 1; k < C; k++) {
          let j = rng.int(C - 1);
          if (j >= y) j++;
          const fj = byClass ? v[j] : dot64(v, A, j * E, E);
          if (margin + fj > fy) {
            const coef = lr * beta[Math.floor((C - 1) / k)];
            for (let r = 0; r < R; r++) U[i * R + r] = coef * (T[y * R + r] - T[j * R + r]);
            for (let e = 0; e < E; e++) M[na * E + e] = coef * (A[y * E + e] - A[j * E + e]);
            active[na++] = i;
            break;
          }
        }
      }
      if (na > 0) {
        const xa = this.xActive.subarray(0, na * D);
        for (let a = 0; a < na; a++) xa.set(xb.subarray(active[a] * D, (active[a] + 1) * D), a * D);
        const next = tf.tidy(
          () =>
            tf.add(
              this.W,
              tf.matMul(tf.tensor2d(xa, [na, D]), tf.tensor2d(M.subarray(0, na * E), [na, E]), true, false),
            ) as tf.Tensor2D,
        );
        if (this.V !== this.W) this.V.dispose();
        this.W.dispose();
        this.W = next;
        this.V = this.scoring(next);
      }
      lastActive = na;
      updates += na;
    }
    return { updates, updateRate: updates / Math.max(1, N) };
  }

  /** W (D × E), row-major. */
  weights(): Float32Array {
    return this.W.dataSync().slice() as Float32Array;
  }

  dispose(): void {
    if (this.V !== this.W) this.V.dispose();
    this.W.dispose();
    this.At?.dispose();
  }

  private scoring(w: tf.Tensor2D): tf.Tensor2D {
    const At = this.At;
    return At === undefined ? w : tf.tidy(() => tf.matMul(w, At));
  }
}

/**
 * Σ_k a[ia + k]·b[ib + k] for k < n, in four independent float64 sums (one sum would be latency-bound).
 * Two copies, one per element type, so each stays monomorphic in V8.
 */
function dot32(a: Float32Array, ia: number, b: Float32Array, ib: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    s0 += a[ia + k] * b[ib + k];
    s1 += a[ia + k + 1] * b[ib + k + 1];
    s2 += a[ia + k + 2] * b[ib + k + 2];
    s3 += a[ia + k + 3] * b[ib + k + 3];
  }
  for (; k < n; k++) s0 += a[ia + k] * b[ib + k];
  return s0 + s1 + s2 + s3;
}

/** v · b[ib … ib + n) for a float64 score vector against a float32 row. */
function dot64(v: Float64Array, b: Float32Array, ib: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let k = 0;
  for (; k + 1 < n; k += 2) {
    s0 += v[k] * b[ib + k];
    s1 += v[k + 1] * b[ib + k + 1];
  }
  for (; k < n; k++) s0 += v[k] * b[ib + k];
  return s0 + s1;
}
