/** Small numeric helpers for NIWT's model selection and stage D diagnostics. */
import { FormatError, type Matrix } from '@niwt/core';

/** Ranks (1-based, ties averaged). */
export function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a] - v[b]);
  const r = new Float64Array(v.length);
  for (let i = 0; i < idx.length;) {
    let j = i;
    while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation of two equal-length vectors (0 when either is constant). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = ra.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += ra[i];
    mb += rb[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = ra[i] - ma;
    const y = rb[i] - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa === 0 || sbb === 0 ? 0 : sab / Math.sqrt(saa * sbb);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

/** Euclidean norm of each column of a row-major matrix (a weight matrix's per-class norms). */
export function columnNorms(m: Matrix): Float64Array {
  const out = new Float64Array(m.cols);
  for (let d = 0; d < m.rows; d++) for (let c = 0; c < m.cols; c++) out[c] += m.data[d * m.cols + c] ** 2;
  return out.map(Math.sqrt);
}

/** Mean and population standard deviation of a list of values. */
export function meanStd(v: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  const mean = s / v.length;
  let q = 0;
  for (let i = 0; i < v.length; i++) q += (v[i] - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

/** RMS over the rows of `features` (N × D) of each column's logit featuresᵀw (D × C, no bias). */
export function logitRms(features: Matrix, w: Matrix): Float64Array {
  if (features.cols !== w.rows)
    throw new FormatError(`logitRms: features have ${features.cols} columns but the weights ${w.rows} rows`);
  const out = new Float64Array(w.cols);
  for (let n = 0; n < features.rows; n++) {
    const x = features.data.subarray(n * features.cols, (n + 1) * features.cols);
    for (let c = 0; c < w.cols; c++) {
      let z = 0;
      for (let d = 0; d < w.rows; d++) z += x[d] * w.data[d * w.cols + c];
      out[c] += (z * z) / features.rows;
    }
  }
  return out.map(Math.sqrt);
}

/** Mean over the rows of `features` (N × D) of each column's logit featuresᵀw + bias (D × C): its offset. */
export function meanLogits(features: Matrix, w: Matrix, bias?: ArrayLike<number>): Float64Array {
  if (features.cols !== w.rows)
    throw new FormatError(`meanLogits: features have ${features.cols} columns but the weights ${w.rows} rows`);
  const mean = new Float64Array(features.cols);
  for (let n = 0; n < features.rows; n++)
    for (let d = 0; d < features.cols; d++) mean[d] += features.data[n * features.cols + d] / features.rows;
  const out = new Float64Array(w.cols);
  for (let c = 0; c < w.cols; c++) {
    let z = bias ? bias[c] : 0;
    for (let d = 0; d < w.rows; d++) z += mean[d] * w.data[d * w.cols + c];
    out[c] = z;
  }
  return out;
}
