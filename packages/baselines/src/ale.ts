/**
 * ALE — Attribute Label Embedding (Akata et al., TPAMI 2016), as benchmarked by Xian et al. (GBU):
 * bilinear compatibility F(x, y) = θ(x)ᵀ W φ(y), trained with the WSABIE/WARP-style weighted approximate
 * ranking loss by SGD with sampled violating labels.
 *
 * The SGD is the classic per-sample procedure (one rank-1 update per violating image, in a shuffled order),
 * computed exactly but in blocks: for a block of images the scores against the block's starting W come from
 * one GEMM, each image's score is corrected by the rank-1 updates of the
 * images before it in the block, and the block's updates are applied with one more GEMM. That is the same
 * sequence of updates as the per-sample loop, at GEMM speed on the WASM backend. (The Gram entries are only
 * needed against images that were updated, so they are computed on demand.)
 */
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { Rng, StateError, TOKENS, deriveSeed, selectRows, yieldToEventLoop, type FitSummary, type Matrix, type ZeroShotContext, type ZeroShotMethod } from '@niwt/core';
import { applyPreprocessing, candidateAccuracy, fitPreprocessing, l2NormalizeRows, positions, samplesOf, splitSeenClasses, type FeaturePreprocessing } from './common.js';
import { readTidy } from './tensors.js';

export const aleOptions = z.strictObject({
  /** Δ of the ranking hinge: the paper's 0/1 label loss gives 1; the MATLAB port used 0.1. */
  margin: z.number().min(0).default(1),
  /** Image feature preprocessing (see README): Xian-style z-score ÷ global max, per-image L2, or none. */
  featureNorm: z.enum(['xian', 'l2', 'none']).default('xian'),
  /** SGD learning rates tried on the train/val class split (the grid of the reference). */
  lrs: z.array(z.number().positive()).min(1).default([1e-3, 1e-2, 1e-1, 0.3, 1]),
  /** Epoch budget per learning rate while selecting. */
  maxEpochs: z.number().int().min(1).default(50),
  /** Stop a learning rate's run after this many epochs without a better validation accuracy. */
  patience: z.number().int().min(1).default(10),
  /** Fraction of the seen classes held out (class-disjoint) to choose the learning rate and epochs. */
  valFraction: z.number().gt(0).lt(1).default(0.25),
  /** Fixed epoch count: with a single learning rate, skips the validation phase. */
  epochs: z.number().int().min(1).optional(),
  /** Images per exact block update (a speed knob only; results do not depend on it beyond float rounding). */
  blockSize: z.number().int().min(1).max(1024).default(64),
});
export type AleOptions = z.infer<typeof aleOptions>;

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
  for (const c of violators) for (let e = 0; e < E; e++) dphi[e] += classEmb.data[c * E + e] - classEmb.data[label * E + e];
  for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) grad[d * E + e] = wr * x[d] * dphi[e];
  return { loss: wr * hinge, grad };
}

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
        const next = tf.tidy(() => tf.add(this.W, tf.matMul(tf.tensor2d(xa, [na, D]), tf.tensor2d(M.subarray(0, na * E), [na, E]), true, false)) as tf.Tensor2D);
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

/** Compatibility scores X·W·Aᵀ (N × C) for preprocessed features and class embeddings. */
export function aleScores(x: Matrix, w: Float32Array, classEmb: Matrix): Float32Array {
  return readTidy(() =>
    tf.matMul(tf.matMul(tf.tensor2d(x.data, [x.rows, x.cols]), tf.tensor2d(w, [x.cols, classEmb.cols])), tf.tensor2d(classEmb.data, [classEmb.rows, classEmb.cols]), false, true),
  );
}

interface AleFitted {
  readonly pre: FeaturePreprocessing;
  readonly w: Float32Array;
  /** All classes' unit-L2 embeddings (rows in global class order). */
  readonly classEmb: Matrix;
}

@injectable()
export class Ale implements ZeroShotMethod {
  private fitted?: AleFitted;

  constructor(@inject(TOKENS.options) private readonly opts: AleOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const o = this.opts;
    const { features, labels } = ctx.trainval;
    const emb = l2NormalizeRows(ctx.knowledge.matrix);
    const train = (classes: readonly number[], lr: number, seed: number): { trainer: AleTrainer; pre: FeaturePreprocessing } => {
      const rows = samplesOf(labels, classes);
      const pre = fitPreprocessing(o.featureNorm, features, rows);
      const problem = { x: applyPreprocessing(pre, features, rows), labels: positions(labels, rows, classes), classEmb: selectRows(emb, classes) };
      return { trainer: new AleTrainer(problem, { lr, margin: o.margin, blockSize: o.blockSize, seed }), pre };
    };

    let lr = o.lrs[0];
    let epochs = o.epochs ?? o.maxEpochs;
    let valAcc = NaN;
    let valClasses = '';
    if (!(o.epochs !== undefined && o.lrs.length === 1)) {
      const t = ctx.log.stage('ale: select lr, epochs');
      const split = splitSeenClasses(ctx.seen, o.valFraction, deriveSeed(ctx.seed, 'ale/val-split'));
      valClasses = split.val.map((c) => ctx.classNames[c]).join(',');
      const valRows = samplesOf(labels, split.val);
      const valLabels = valRows.map((r) => labels[r]);
      const valEmb = selectRows(emb, split.val);
      let best = { acc: -1, lr, epochs: 1 };
      for (const candidate of o.lrs) {
        const { trainer, pre } = train(split.train, candidate, deriveSeed(ctx.seed, 'ale/select'));
        const xVal = applyPreprocessing(pre, features, valRows);
        // Ties go to the later epoch (a saturated validation accuracy says nothing against more training);
        // across learning rates only a strictly better accuracy wins.
        let sinceBest = 0;
        let run = { acc: -1, epochs: 1 };
        const budget = o.epochs ?? o.maxEpochs;
        for (let epoch = 1; epoch <= budget && sinceBest < o.patience; epoch++) {
          trainer.epoch();
          await yieldToEventLoop(); // signals are handled between epochs
          const acc = candidateAccuracy(aleScores(xVal, trainer.weights(), valEmb), valLabels, split.val);
          ctx.metric(`select/lr_${candidate}/val_acc`, acc, epoch);
          if (acc >= run.acc) {
            sinceBest = acc > run.acc ? 0 : sinceBest + 1;
            run = { acc, epochs: epoch };
          } else sinceBest++;
        }
        if (run.acc > best.acc) best = { acc: run.acc, lr: candidate, epochs: run.epochs };
        trainer.dispose();
      }
      ({ lr, epochs } = best);
      valAcc = best.acc;
      t.end(`lr ${lr}, ${epochs} epochs, val acc ${(100 * valAcc).toFixed(1)}% on ${split.val.length} held-out seen classes`);
    }

    const t = ctx.log.stage('ale: train on all seen classes');
    const { trainer, pre } = train(ctx.seen, lr, deriveSeed(ctx.seed, 'ale/final'));
    let last: AleEpoch = { updates: 0, updateRate: 0 };
    for (let epoch = 1; epoch <= epochs; epoch++) {
      last = trainer.epoch();
      await yieldToEventLoop();
      ctx.metric('train/update_rate', last.updateRate, epoch);
    }
    this.fitted = { pre, w: trainer.weights(), classEmb: emb };
    trainer.dispose();
    t.end(`${epochs} epochs at lr ${lr}, last epoch updated ${(100 * last.updateRate).toFixed(1)}% of images`);
    return {
      selected_lr: lr,
      selected_epochs: epochs,
      ...(Number.isNaN(valAcc) ? {} : { val_acc: valAcc, val_classes: valClasses }),
      final_update_rate: last.updateRate,
    };
  }

  scores(features: Matrix): Matrix {
    const f = this.fitted;
    if (!f) throw new StateError('ale: scores() called before fit()');
    const data = aleScores(applyPreprocessing(f.pre, features), f.w, f.classEmb);
    return { rows: features.rows, cols: f.classEmb.rows, data };
  }
}
