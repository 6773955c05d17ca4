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
import { Rng, StateError, TOKENS, deriveSeed, selectRows, type FitSummary, type Matrix, type ZeroShotContext, type ZeroShotMethod } from '@niwt/core';
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
}

/** Per-epoch record: how many images found a violating label (and so were updated). */
export interface AleEpoch {
  readonly updates: number;
  readonly updateRate: number;
}

/**
 * Sequential ALE SGD. Random stream (seeded): W₀ = N(0,1)/√D row-major, then per epoch a shuffle of the
 * images and, per image, up to C−1 uniform draws of a wrong class (with replacement).
 */
export class AleTrainer {
  readonly D: number;
  readonly E: number;
  readonly C: number;
  private readonly rng: Rng;
  private readonly beta: Float64Array;
  private W: tf.Tensor2D;

  constructor(
    private readonly p: AleProblem,
    private readonly opts: AleTrainOptions,
  ) {
    this.D = p.x.cols;
    this.E = p.classEmb.cols;
    this.C = p.classEmb.rows;
    this.rng = new Rng(opts.seed);
    this.beta = rankWeights(Math.max(1, this.C - 1));
    const w0 = new Float32Array(this.D * this.E);
    const scale = 1 / Math.sqrt(this.D);
    for (let i = 0; i < w0.length; i++) w0[i] = this.rng.normal() * scale;
    this.W = tf.tensor2d(w0, [this.D, this.E]);
  }

  epoch(): AleEpoch {
    const { D, E, C, rng } = this;
    const X = this.p.x.data;
    const N = this.p.x.rows;
    const A = this.p.classEmb.data;
    const { lr, margin } = this.opts;
    const order = rng.shuffle(Array.from({ length: N }, (_, i) => i));
    const B = this.opts.blockSize;
    const s = new Float64Array(E);
    let updates = 0;
    for (let start = 0; start < N; start += B) {
      const idx = order.slice(start, start + B);
      const nb = idx.length;
      const rowsB = new Float32Array(nb * D);
      for (let i = 0; i < nb; i++) rowsB.set(X.subarray(idx[i] * D, (idx[i] + 1) * D), i * D);
      const xb = tf.tensor2d(rowsB, [nb, D]);
      const S0 = readTidy(() => tf.matMul(xb, this.W));
      const M = new Float32Array(nb * E);
      const active: number[] = [];
      for (let i = 0; i < nb; i++) {
        for (let e = 0; e < E; e++) s[e] = S0[i * E + e];
        // x_i·x_b only for the block's earlier updated images (once training separates, few are).
        for (const b of active) {
          const g = dot(X, idx[i] * D, idx[b] * D, D);
          if (g !== 0) for (let e = 0; e < E; e++) s[e] += g * M[b * E + e];
        }
        if (C < 2) continue;
        const y = this.p.labels[idx[i]];
        let fy = 0;
        for (let e = 0; e < E; e++) fy += s[e] * A[y * E + e];
        for (let k = 1; k < C; k++) {
          let j = rng.int(C - 1);
          if (j >= y) j++;
          let fj = 0;
          for (let e = 0; e < E; e++) fj += s[e] * A[j * E + e];
          if (margin + fj > fy) {
            const coef = lr * this.beta[Math.floor((C - 1) / k)];
            for (let e = 0; e < E; e++) M[i * E + e] = coef * (A[y * E + e] - A[j * E + e]);
            active.push(i);
            break;
          }
        }
      }
      if (active.length > 0) {
        const next = tf.tidy(() => tf.add(this.W, tf.matMul(xb, tf.tensor2d(M, [nb, E]), true, false)));
        this.W.dispose();
        this.W = next as tf.Tensor2D;
      }
      xb.dispose();
      updates += active.length;
    }
    return { updates, updateRate: updates / Math.max(1, N) };
  }

  /** W (D × E), row-major. */
  weights(): Float32Array {
    return this.W.dataSync().slice() as Float32Array;
  }

  dispose(): void {
    this.W.dispose();
  }
}

function dot(x: Float32Array, a: number, b: number, n: number): number {
  let s = 0;
  for (let d = 0; d < n; d++) s += x[a + d] * x[b + d];
  return s;
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
