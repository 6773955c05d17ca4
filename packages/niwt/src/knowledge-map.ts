/**
 * Stage C: a linear map f(d) = d·M + b from class knowledge to neuron importance, trained with the cosine
 * distance 1 − cos(f(d_y(x)), α(x)) over seen images. Because d is constant within a class, the per-image
 * loss equals a class-level objective:
 *
 *   mean_x [1 − cos(f(d_y), α_x)] = 1 − Σ_c (n_c / N) · m_c · f(d_c)/‖f(d_c)‖,   m_c = mean_{x∈c} α_x/‖α_x‖
 *
 * so training touches C rows instead of N images. Model selection holds out seen classes and scores them
 * after every epoch, by Spearman rank correlation (default) or by held-out cosine loss.
 */
import * as tf from '@tensorflow/tfjs';
import { Adam, Rng, variableFrom, matrix, row, selectRows, type Matrix } from '@niwt/core';
import { cosine, ranks } from './stats.js';

export interface MapTrainingData {
  /** Per-image importances, N × K. */
  readonly importances: Matrix;
  /** Global class per image. */
  readonly labels: Int32Array;
  /** Class knowledge, numClasses × E. */
  readonly knowledge: Matrix;
  /** Classes the map is trained on. */
  readonly trainClasses: readonly number[];
  /** Seen classes held out for model selection. */
  readonly heldOutClasses: readonly number[];
}

export interface MapOptions {
  readonly lr: number;
  readonly epochs: number;
  /** 'spearman' (the paper) or 'cosine' (held-out cosine loss). */
  readonly select: 'spearman' | 'cosine';
  readonly seed: number;
}

export interface LinearMap {
  /** E × K */
  readonly M: Matrix;
  /** K */
  readonly b: Float32Array;
}

export interface MapResult {
  readonly map: LinearMap;
  readonly bestEpoch: number;
  /** Held-out score of the selected epoch (ρ, or cosine loss). */
  readonly bestScore: number;
  readonly history: readonly { epoch: number; trainLoss: number; heldOut: number }[];
}

/** f(d) for every row of `knowledge`: numClasses × K. */
export function applyMap(map: LinearMap, knowledge: Matrix): Matrix {
  const { M, b } = map;
  const out = new Float32Array(knowledge.rows * M.cols);
  for (let i = 0; i < knowledge.rows; i++) {
    const o = out.subarray(i * M.cols, (i + 1) * M.cols);
    o.set(b);
    for (let e = 0; e < M.rows; e++) {
      const d = knowledge.data[i * knowledge.cols + e];
      if (d === 0) continue;
      const mr = row(M, e);
      for (let k = 0; k < M.cols; k++) o[k] += d * mr[k];
    }
  }
  return matrix(knowledge.rows, M.cols, out);
}

/** Class-level statistics: per class, the mean of unit-normalised importances and the image count. */
export function classMeans(importances: Matrix, labels: Int32Array, classes: readonly number[]): { means: Matrix; counts: Float32Array } {
  const K = importances.cols;
  const pos = new Map(classes.map((c, i) => [c, i]));
  const means = new Float32Array(classes.length * K);
  const counts = new Float32Array(classes.length);
  for (let n = 0; n < importances.rows; n++) {
    const p = pos.get(labels[n]);
    if (p === undefined) continue;
    const a = row(importances, n);
    let s = 0;
    for (let k = 0; k < K; k++) s += a[k] * a[k];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let k = 0; k < K; k++) means[p * K + k] += a[k] * inv;
    counts[p]++;
  }
  for (let p = 0; p < classes.length; p++) for (let k = 0; k < K; k++) means[p * K + k] /= Math.max(1, counts[p]);
  return { means: matrix(classes.length, K, means), counts };
}

/** The per-image cosine loss mean_x [1 − cos(f(d_y), α_x)] over images of `classes` (for checks and selection). */
export function perImageLoss(map: LinearMap, data: Pick<MapTrainingData, 'importances' | 'labels' | 'knowledge'>, classes: readonly number[]): number {
  const preds = applyMap(map, data.knowledge);
  const keep = new Set(classes);
  let sum = 0;
  let n = 0;
  for (let i = 0; i < data.importances.rows; i++) {
    if (!keep.has(data.labels[i])) continue;
    sum += 1 - cosine(row(preds, data.labels[i]), row(data.importances, i));
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

/** The class-level form of the same loss (equal to `perImageLoss` up to rounding). */
export function classLevelLoss(map: LinearMap, data: Pick<MapTrainingData, 'importances' | 'labels' | 'knowledge'>, classes: readonly number[]): number {
  const { means, counts } = classMeans(data.importances, data.labels, classes);
  const preds = applyMap(map, data.knowledge);
  const total = counts.reduce((a, b) => a + b, 0);
  let s = 0;
  classes.forEach((c, p) => {
    const f = row(preds, c);
    let ff = 0;
    let mf = 0;
    const m = row(means, p);
    for (let k = 0; k < f.length; k++) {
      ff += f[k] * f[k];
      mf += m[k] * f[k];
    }
    s += (counts[p] / total) * (ff > 0 ? mf / Math.sqrt(ff) : 0);
  });
  return 1 - s;
}

/** Centred, unit-norm ranks: Spearman ρ of two such vectors is their dot product. */
function standardRanks(v: ArrayLike<number>): Float64Array {
  const r = ranks(v);
  const mean = (r.length + 1) / 2;
  let ss = 0;
  for (let i = 0; i < r.length; i++) {
    r[i] -= mean;
    ss += r[i] * r[i];
  }
  const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
  for (let i = 0; i < r.length; i++) r[i] *= inv;
  return r;
}

/**
 * Scores held-out classes after each epoch. The images' importances never change, so their standardised
 * ranks are computed once; each epoch ranks only one prediction per held-out class.
 */
export class HeldOutScorer {
  private readonly imageRanks: { label: number; r: Float64Array }[] = [];

  constructor(
    private readonly data: MapTrainingData,
    private readonly select: MapOptions['select'],
  ) {
    if (select === 'spearman') {
      const keep = new Set(data.heldOutClasses);
      for (let i = 0; i < data.importances.rows; i++) {
        if (keep.has(data.labels[i])) this.imageRanks.push({ label: data.labels[i], r: standardRanks(row(data.importances, i)) });
      }
    }
  }

  /** Mean Spearman ρ over held-out images (higher is better), or held-out cosine loss (lower is better). */
  score(map: LinearMap): number {
    if (this.select === 'cosine') return perImageLoss(map, this.data, this.data.heldOutClasses);
    if (this.imageRanks.length === 0) return 0;
    const preds = applyMap(map, selectRows(this.data.knowledge, this.data.heldOutClasses));
    const predRanks = new Map(this.data.heldOutClasses.map((c, i) => [c, standardRanks(row(preds, i))]));
    let sum = 0;
    for (const { label, r } of this.imageRanks) {
      const p = predRanks.get(label)!;
      let dot = 0;
      for (let k = 0; k < r.length; k++) dot += r[k] * p[k];
      sum += dot;
    }
    return sum / this.imageRanks.length;
  }
}

/** Trains the map with Adam on the class-level objective; N(0,1) initialisation from the seed. */
export function trainKnowledgeMap(data: MapTrainingData, opts: MapOptions, onEpoch?: (epoch: number, trainLoss: number, heldOut: number) => void): MapResult {
  const E = data.knowledge.cols;
  const K = data.importances.cols;
  const rng = new Rng(opts.seed);
  const init = Float32Array.from({ length: E * K }, () => rng.normal());
  const { means, counts } = classMeans(data.importances, data.labels, data.trainClasses);
  const total = counts.reduce((a, b) => a + b, 0);
  const D = new Float32Array(data.trainClasses.length * E);
  data.trainClasses.forEach((c, p) => D.set(row(data.knowledge, c), p * E));

  const M = variableFrom<tf.Rank.R2>(init, [E, K]);
  const b = variableFrom<tf.Rank.R1>(Float32Array.from({ length: K }, () => rng.normal()), [K]);
  const dT = tf.tensor2d(D, [data.trainClasses.length, E]);
  const mT = tf.tensor2d(means.data, [means.rows, K]);
  const wT = tf.tensor1d(counts.map((c) => c / total));
  const optimizer = new Adam([M, b], { lr: opts.lr });
  const better = (a: number, bst: number): boolean => (opts.select === 'spearman' ? a > bst : a < bst);
  const snapshot = (): LinearMap => ({ M: matrix(E, K, M.dataSync().slice() as Float32Array), b: b.dataSync().slice() as Float32Array });

  const scorer = new HeldOutScorer(data, opts.select);
  let best = { epoch: 0, score: opts.select === 'spearman' ? -Infinity : Infinity, map: snapshot() };
  const history: { epoch: number; trainLoss: number; heldOut: number }[] = [];
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const trainLoss = optimizer.step(() => {
        const f = tf.add(tf.matMul(dT, M), b);
        const fHat = tf.div(f, tf.add(tf.norm(f, 'euclidean', 1, true), 1e-12));
        return tf.sub(1, tf.sum(tf.mul(wT, tf.sum(tf.mul(mT, fHat), 1)))) as tf.Scalar;
      });
      const current = snapshot();
      const score = scorer.score(current);
      history.push({ epoch, trainLoss, heldOut: score });
      onEpoch?.(epoch, trainLoss, score);
      if (better(score, best.score)) best = { epoch, score, map: current };
    }
  } finally {
    optimizer.dispose();
    tf.dispose([M, b, dT, mT, wT]);
  }
  return { map: best.map, bestEpoch: best.epoch, bestScore: best.score, history };
}
