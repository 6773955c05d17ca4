/**
 * Small helpers both baselines share: class-disjoint validation splits, unit-L2 class rows, feature
 * preprocessing with training statistics, and per-class accuracy on a candidate set.
 */
import { Rng, StateError, perClassAccuracy, type Matrix } from '@niwt/core';

/** Seen classes split into a training part and a class-disjoint validation part (the xlsa17 train/val idea). */
export interface ClassSplit {
  readonly train: readonly number[];
  readonly val: readonly number[];
}

/**
 * Holds out `round(fraction · seen)` seen classes for validation, at least 2 (one class alone scores 100 %)
 * and leaving at least 2 to train on. Seeded, so the split is part of the run's reproducible state.
 */
export function splitSeenClasses(seen: readonly number[], fraction: number, seed: number): ClassSplit {
  const shuffled = new Rng(seed).shuffle(seen);
  const nVal = Math.min(Math.max(2, Math.round(fraction * seen.length)), Math.max(0, seen.length - 2));
  return { val: shuffled.slice(0, nVal).sort((a, b) => a - b), train: shuffled.slice(nVal).sort((a, b) => a - b) };
}

/** Sample positions whose label is in `classes`. */
export function samplesOf(labels: ArrayLike<number>, classes: readonly number[]): number[] {
  const set = new Set(classes);
  const out: number[] = [];
  for (let i = 0; i < labels.length; i++) if (set.has(labels[i])) out.push(i);
  return out;
}

/** Rows scaled to unit L2 norm (zero rows stay zero): the xlsa17 `att` convention for class embeddings. */
export function l2NormalizeRows(m: Matrix): Matrix {
  const out = new Float32Array(m.data);
  for (let i = 0; i < m.rows; i++) {
    let s = 0;
    for (let j = 0; j < m.cols; j++) s += out[i * m.cols + j] ** 2;
    const n = Math.sqrt(s);
    if (n > 0) for (let j = 0; j < m.cols; j++) out[i * m.cols + j] /= n;
  }
  return { rows: m.rows, cols: m.cols, data: out };
}

export type FeatureNorm = 'xian' | 'l2' | 'none';

/**
 * A fitted feature preprocessing. `xian`: z-score with the training mean and population std (zero std → 1),
 * then divide by the global max of the standardised training matrix (xlsa17's ALE code); `l2`: each image
 * to unit norm (no statistics); `none`: as is.
 */
export interface FeaturePreprocessing {
  readonly kind: FeatureNorm;
  readonly mean?: Float32Array;
  readonly std?: Float32Array;
  readonly max?: number;
}

export function fitPreprocessing(kind: FeatureNorm, x: Matrix, rows?: readonly number[]): FeaturePreprocessing {
  if (kind !== 'xian') return { kind };
  const D = x.cols;
  const idx = rows ?? Array.from({ length: x.rows }, (_, i) => i);
  const mean = new Float64Array(D);
  const sq = new Float64Array(D);
  for (const i of idx) {
    const o = i * D;
    for (let d = 0; d < D; d++) mean[d] += x.data[o + d];
  }
  for (let d = 0; d < D; d++) mean[d] /= Math.max(1, idx.length);
  for (const i of idx) {
    const o = i * D;
    for (let d = 0; d < D; d++) sq[d] += (x.data[o + d] - mean[d]) ** 2;
  }
  const std = new Float32Array(D);
  for (let d = 0; d < D; d++) {
    const s = Math.sqrt(sq[d] / Math.max(1, idx.length));
    std[d] = s > 0 ? s : 1;
  }
  const m32 = Float32Array.from(mean);
  let max = -Infinity;
  for (const i of idx) {
    const o = i * D;
    for (let d = 0; d < D; d++) max = Math.max(max, (x.data[o + d] - m32[d]) / std[d]);
  }
  return { kind, mean: m32, std, max: max > 0 ? max : 1 };
}

/** Applies a fitted preprocessing to the given rows (all rows by default), returning a new matrix. */
export function applyPreprocessing(p: FeaturePreprocessing, x: Matrix, rows?: readonly number[]): Matrix {
  const D = x.cols;
  const idx = rows ?? null;
  const n = idx ? idx.length : x.rows;
  const out = new Float32Array(n * D);
  for (let k = 0; k < n; k++) {
    const i = idx ? idx[k] : k;
    const src = x.data.subarray(i * D, (i + 1) * D);
    const dst = out.subarray(k * D, (k + 1) * D);
    if (p.kind === 'xian') {
      const { mean, std, max } = p as Required<FeaturePreprocessing>;
      for (let d = 0; d < D; d++) dst[d] = (src[d] - mean[d]) / std[d] / max;
    } else if (p.kind === 'l2') {
      let s = 0;
      for (let d = 0; d < D; d++) s += src[d] * src[d];
      const norm = Math.sqrt(s) || 1;
      for (let d = 0; d < D; d++) dst[d] = src[d] / norm;
    } else {
      dst.set(src);
    }
  }
  return { rows: n, cols: D, data: out };
}

/** Per-class mean top-1 of `scores` (rows = images, columns = `candidates` in order) on `labels`. */
export function candidateAccuracy(
  scores: Float32Array,
  labels: ArrayLike<number>,
  candidates: readonly number[],
): number {
  const C = candidates.length;
  const pred = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let best = -Infinity;
    let arg = 0;
    for (let c = 0; c < C; c++) {
      const v = scores[i * C + c];
      if (v > best) {
        best = v;
        arg = c;
      }
    }
    pred[i] = candidates[arg];
  }
  return perClassAccuracy(pred, labels, candidates).mean;
}

/** Global class indices → row positions within `classes`. */
export function positions(labels: ArrayLike<number>, rows: readonly number[], classes: readonly number[]): Int32Array {
  const pos = new Map(classes.map((c, i) => [c, i]));
  return Int32Array.from(rows, (r) => {
    const p = pos.get(labels[r]);
    if (p === undefined) throw new StateError(`label ${labels[r]} is not among the training classes`);
    return p;
  });
}
