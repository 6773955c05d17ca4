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
import { Rng, matrix, row, selectRows, type Matrix } from '@niwt/core';
import { Adam, variableFrom } from '@niwt/compute';
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
  /** Seen classes held out for model selection; none: train exactly `epochs` epochs and keep the last. */
  readonly heldOutClasses: readonly number[];
}

export interface MapOptions {
  readonly lr: number;
  readonly epochs: number;
  /** 'spearman' (the paper) or 'cosine' (held-out cosine loss). */
  readonly select: 'spearman' | 'cosine';
  readonly seed: number;
  /** 'linear' (the paper) or a one-hidden-layer ReLU MLP of `hidden` units. */
  readonly kind?: 'linear' | 'mlp';
  readonly hidden?: number;
  /** 'class' (exact class-level form, the default) or 'image' (the per-image loss over every image). */
  readonly objective?: 'class' | 'image';
}

export interface LinearMap {
  /** E × K */
  readonly M: Matrix;
  /** K */
  readonly b: Float32Array;
}

/** f(d) = ReLU(d·W1 + b1)·W2 + b2. */
export interface MlpMap {
  readonly W1: Matrix;
  readonly b1: Float32Array;
  readonly W2: Matrix;
  readonly b2: Float32Array;
}

export type KnowledgeMap = LinearMap | MlpMap;

const isLinear = (m: KnowledgeMap): m is LinearMap => 'M' in m;

export interface MapResult {
  readonly map: KnowledgeMap;
  readonly bestEpoch: number;
  /** Held-out score of the selected epoch (ρ, or cosine loss). */
  readonly bestScore: number;
  readonly history: readonly { epoch: number; trainLoss: number; heldOut: number }[];
}

function affine(x: Matrix, W: Matrix, b: Float32Array, relu: boolean): Matrix {
  const out = new Float32Array(x.rows * W.cols);
  for (let i = 0; i < x.rows; i++) {
    const o = out.subarray(i * W.cols, (i + 1) * W.cols);
    o.set(b);
    for (let e = 0; e < W.rows; e++) {
      const d = x.data[i * x.cols + e];
      if (d === 0) continue;
      const wr = row(W, e);
      for (let k = 0; k < W.cols; k++) o[k] += d * wr[k];
    }
    if (relu) for (let k = 0; k < o.length; k++) if (o[k] < 0) o[k] = 0;
  }
  return matrix(x.rows, W.cols, out);
}

/** f(d) for every row of `knowledge`: numClasses × K. */
export function applyMap(map: KnowledgeMap, knowledge: Matrix): Matrix {
  if (isLinear(map)) return affine(knowledge, map.M, map.b, false);
  return affine(affine(knowledge, map.W1, map.b1, true), map.W2, map.b2, false);
}

/** Class-level statistics: per class, the mean of unit-normalised importances and the image count. */
export function classMeans(
  importances: Matrix,
  labels: Int32Array,
  classes: readonly number[],
): { means: Matrix; counts: Float32Array } {
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
export function perImageLoss(
  map: KnowledgeMap,
  data: Pick<MapTrainingData, 'importances' | 'labels' | 'knowledge'>,
  classes: readonly number[],
): number {
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
export function classLevelLoss(
  map: KnowledgeMap,
  data: Pick<MapTrainingData, 'importances' | 'labels' | 'knowledge'>,
  classes: readonly number[],
): number {
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
        if (keep.has(data.labels[i]))
          this.imageRanks.push({ label: data.labels[i], r: standardRanks(row(data.importances, i)) });
      }
    }
  }

  /** Mean Spearman ρ over held-out images (higher is better), or held-out cosine loss (lower is better). */
  score(map: KnowledgeMap): number {
    if (this.data.heldOutClasses.length === 0) return NaN;
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

/**
 * Trains the map with Adam, full batch, on the class-level objective (default) or the per-image one (the
 * same function, evaluated over every image — kept to prove the equivalence). Linear maps start from
 * N(0,1) as in the release; MLP layers from N(0, 1/fan_in).
 */
export function trainKnowledgeMap(
  data: MapTrainingData,
  opts: MapOptions,
  onEpoch?: (epoch: number, trainLoss: number, heldOut: number) => void,
): MapResult {
  const E = data.knowledge.cols;
  const K = data.importances.cols;
  const kind = opts.kind ?? 'linear';
  const H = opts.hidden ?? 256;
  const rng = new Rng(opts.seed);
  const randn = (n: number, scale: number): Float32Array =>
    Float32Array.from({ length: n }, () => scale * rng.normal());
  const vars: tf.Variable[] =
    kind === 'linear'
      ? [variableFrom<tf.Rank.R2>(randn(E * K, 1), [E, K]), variableFrom<tf.Rank.R1>(randn(K, 1), [K])]
      : [
          variableFrom<tf.Rank.R2>(randn(E * H, 1 / Math.sqrt(E)), [E, H]),
          variableFrom<tf.Rank.R1>(new Float32Array(H), [H]),
          variableFrom<tf.Rank.R2>(randn(H * K, 1 / Math.sqrt(H)), [H, K]),
          variableFrom<tf.Rank.R1>(new Float32Array(K), [K]),
        ];
  const f = (d: tf.Tensor2D): tf.Tensor2D =>
    kind === 'linear'
      ? (tf.add(tf.matMul(d, vars[0] as tf.Tensor2D), vars[1]) as tf.Tensor2D)
      : (tf.add(
          tf.matMul(tf.relu(tf.add(tf.matMul(d, vars[0] as tf.Tensor2D), vars[1])), vars[2] as tf.Tensor2D),
          vars[3],
        ) as tf.Tensor2D);
  const unit = (x: tf.Tensor2D): tf.Tensor2D =>
    tf.div(x, tf.add(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;

  const inputs: tf.Tensor[] = [];
  let loss: () => tf.Scalar;
  if ((opts.objective ?? 'class') === 'class') {
    const { means, counts } = classMeans(data.importances, data.labels, data.trainClasses);
    const total = counts.reduce((a, b) => a + b, 0);
    const D = new Float32Array(data.trainClasses.length * E);
    data.trainClasses.forEach((c, p) => D.set(row(data.knowledge, c), p * E));
    const dT = tf.tensor2d(D, [data.trainClasses.length, E]);
    const mT = tf.tensor2d(means.data, [means.rows, K]);
    const wT = tf.tensor1d(counts.map((c) => c / total));
    inputs.push(dT, mT, wT);
    loss = () => tf.sub(1, tf.sum(tf.mul(wT, tf.sum(tf.mul(mT, unit(f(dT))), 1)))) as tf.Scalar;
  } else {
    const keep = new Set(data.trainClasses);
    const rowsIdx = Array.from(data.labels.keys()).filter((i) => keep.has(data.labels[i]));
    const dT = tf.tensor2d(
      selectRows(
        data.knowledge,
        rowsIdx.map((i) => data.labels[i]),
      ).data,
      [rowsIdx.length, E],
    );
    const aT = tf.tidy(() => unit(tf.tensor2d(selectRows(data.importances, rowsIdx).data, [rowsIdx.length, K])));
    inputs.push(dT, aT);
    loss = () => tf.sub(1, tf.mean(tf.sum(tf.mul(unit(f(dT)), aT), 1))) as tf.Scalar;
  }
  const optimizer = new Adam(vars, { lr: opts.lr });
  const better = (a: number, bst: number): boolean => (opts.select === 'spearman' ? a > bst : a < bst);
  const m = (v: tf.Variable): Matrix => matrix(v.shape[0], v.shape[1] ?? 1, v.dataSync().slice() as Float32Array);
  const vec = (v: tf.Variable): Float32Array => v.dataSync().slice() as Float32Array;
  const snapshot = (): KnowledgeMap =>
    kind === 'linear'
      ? { M: m(vars[0]), b: vec(vars[1]) }
      : { W1: m(vars[0]), b1: vec(vars[1]), W2: m(vars[2]), b2: vec(vars[3]) };

  const scorer = new HeldOutScorer(data, opts.select);
  let best = { epoch: 0, score: opts.select === 'spearman' ? -Infinity : Infinity, map: snapshot() };
  const history: { epoch: number; trainLoss: number; heldOut: number }[] = [];
  try {
    for (let epoch = 1; epoch <= opts.epochs; epoch++) {
      const trainLoss = optimizer.step(loss);
      const current = snapshot();
      const score = scorer.score(current);
      history.push({ epoch, trainLoss, heldOut: score });
      onEpoch?.(epoch, trainLoss, score);
      if (data.heldOutClasses.length === 0 ? epoch === opts.epochs : better(score, best.score))
        best = { epoch, score, map: current };
    }
  } finally {
    optimizer.dispose();
    tf.dispose([...vars, ...inputs]);
  }
  return { map: best.map, bestEpoch: best.epoch, bestScore: best.score, history };
}

/**
 * The linear map closest to any map on a set of knowledge rows (ridge least squares): textual explanations
 * invert linear maps, so an MLP map is explained through its best linear fit on the classes.
 */
export function linearSurrogate(map: KnowledgeMap, knowledge: Matrix, ridge = 1e-3): LinearMap {
  if (isLinear(map)) return map;
  const F = applyMap(map, knowledge);
  const n = knowledge.rows;
  const E = knowledge.cols;
  const K = F.cols;
  const md = new Float64Array(E);
  const mf = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    for (let e = 0; e < E; e++) md[e] += knowledge.data[i * E + e] / n;
    for (let k = 0; k < K; k++) mf[k] += F.data[i * K + k] / n;
  }
  // (DcᵀDc + εI) M = DcᵀFc, solved by Gauss-Jordan (E is small)
  const A = new Float64Array(E * E);
  const R = new Float64Array(E * K);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < E; a++) {
      const da = knowledge.data[i * E + a] - md[a];
      for (let c = 0; c < E; c++) A[a * E + c] += da * (knowledge.data[i * E + c] - md[c]);
      for (let k = 0; k < K; k++) R[a * K + k] += da * (F.data[i * K + k] - mf[k]);
    }
  let tr = 0;
  for (let a = 0; a < E; a++) tr += A[a * E + a];
  for (let a = 0; a < E; a++) A[a * E + a] += (ridge * tr) / E + 1e-12;
  for (let c = 0; c < E; c++) {
    let p = c;
    for (let r = c + 1; r < E; r++) if (Math.abs(A[r * E + c]) > Math.abs(A[p * E + c])) p = r;
    for (let k = 0; k < E; k++) [A[c * E + k], A[p * E + k]] = [A[p * E + k], A[c * E + k]];
    for (let k = 0; k < K; k++) [R[c * K + k], R[p * K + k]] = [R[p * K + k], R[c * K + k]];
    const d = A[c * E + c];
    for (let k = 0; k < E; k++) A[c * E + k] /= d;
    for (let k = 0; k < K; k++) R[c * K + k] /= d;
    for (let r = 0; r < E; r++) {
      if (r === c || A[r * E + c] === 0) continue;
      const fct = A[r * E + c];
      for (let k = 0; k < E; k++) A[r * E + k] -= fct * A[c * E + k];
      for (let k = 0; k < K; k++) R[r * K + k] -= fct * R[c * K + k];
    }
  }
  const M = Float32Array.from(R);
  const b = Float32Array.from({ length: K }, (_, k) => {
    let s = mf[k];
    for (let e = 0; e < E; e++) s -= md[e] * M[e * K + k];
    return s;
  });
  return { M: matrix(E, K, M), b };
}
