/**
 * Calibrated stacking (Chao et al., ECCV 2016): subtract γ from every seen class's score before the joint
 * argmax. γ trades s against u; the seen-unseen accuracy curve traces (u(γ), s(γ)) over all γ and its area is
 * AUSUC. Accuracies are the xlsa17 per-class means, exactly as `evaluateGzsl` computes them.
 */
import type { Matrix } from './matrix.js';
import { harmonicMean } from './metrics.js';

/** One point of the curve: the accuracies for every γ in an open interval, `gamma` one value inside it. */
export interface CurvePoint {
  readonly gamma: number;
  readonly s: number;
  readonly u: number;
  readonly H: number;
}

export interface SeenUnseenCurve {
  /** By increasing γ: s falls from the seen-only accuracy to 0, u rises from 0 (or more) to ZSL T1. */
  readonly points: readonly CurvePoint[];
  /** Area under s over u (trapezoids between consecutive points). */
  readonly ausuc: number;
}

/** Scores with γ subtracted from the `seen` columns (a copy). */
export function calibrate(scores: Matrix, seen: readonly number[], gamma: number): Matrix {
  const data = new Float32Array(scores.data);
  for (let i = 0; i < scores.rows; i++) for (const c of seen) data[i * scores.cols + c] -= gamma;
  return { rows: scores.rows, cols: scores.cols, data };
}

/** Whether `y` wins the argmax over `cols` with the first maximum winning, as `argmaxRows` decides. */
function wins(scores: Matrix, i: number, y: number, cols: readonly number[]): boolean {
  const base = i * scores.cols;
  const sy = scores.data[base + y];
  let before = true;
  let found = false;
  for (const c of cols) {
    if (c === y) {
      before = false;
      found = true;
    } else if (before ? scores.data[base + c] >= sy : scores.data[base + c] > sy) return false;
  }
  return found;
}

function rowMax(scores: Matrix, i: number, cols: readonly number[]): number {
  let m = -Infinity;
  for (const c of cols) m = Math.max(m, scores.data[i * scores.cols + c]);
  return m;
}

function classWeights(labels: ArrayLike<number>, classes: readonly number[]): Map<number, number> {
  const counts = new Map<number, number>();
  const keep = new Set(classes);
  for (let i = 0; i < labels.length; i++)
    if (keep.has(labels[i])) counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
  return new Map([...counts].map(([c, n]) => [c, 1 / (n * counts.size)]));
}

/**
 * The exact seen-unseen accuracy curve. Each image has one threshold: a seen image (correct among the seen
 * classes) is correct in the joint space while γ ≤ s_y − max_unseen (ties go to the seen column, which comes
 * first in the joint order); an unseen image (correct among the unseen) while γ > max_seen − s_y. The curve
 * has one point per interval between consecutive distinct thresholds.
 */
export function seenUnseenCurve(
  seenScores: Matrix,
  seenLabels: ArrayLike<number>,
  unseenScores: Matrix,
  unseenLabels: ArrayLike<number>,
  seen: readonly number[],
  unseen: readonly number[],
): SeenUnseenCurve {
  const ws = classWeights(seenLabels, seen);
  const wu = classWeights(unseenLabels, unseen);
  // events: at γ just above t, seen images with threshold t leave (−w) and unseen with threshold t enter (+w)
  const events: { t: number; ds: number; du: number }[] = [];
  let s = 0;
  let u = 0;
  for (let i = 0; i < seenScores.rows; i++) {
    const y = seenLabels[i];
    const w = ws.get(y);
    if (w === undefined || !wins(seenScores, i, y, seen)) continue;
    const t = seenScores.data[i * seenScores.cols + y] - rowMax(seenScores, i, unseen);
    s += w;
    if (Number.isFinite(t)) events.push({ t, ds: -w, du: 0 });
  }
  for (let i = 0; i < unseenScores.rows; i++) {
    const y = unseenLabels[i];
    const w = wu.get(y);
    if (w === undefined || !wins(unseenScores, i, y, unseen)) continue;
    const t = rowMax(unseenScores, i, seen) - unseenScores.data[i * unseenScores.cols + y];
    if (t === -Infinity || Number.isNaN(t)) u += w;
    else if (t !== Infinity) events.push({ t, ds: 0, du: w });
  }
  events.sort((a, b) => a.t - b.t);
  const ts: number[] = [];
  const deltas: { ds: number; du: number }[] = [];
  for (const e of events) {
    if (ts.length > 0 && ts[ts.length - 1] === e.t) {
      deltas[deltas.length - 1].ds += e.ds;
      deltas[deltas.length - 1].du += e.du;
    } else {
      ts.push(e.t);
      deltas.push({ ds: e.ds, du: e.du });
    }
  }
  const clamp = (v: number): number => (Math.abs(v) < 1e-12 ? 0 : v);
  const point = (gamma: number): CurvePoint => ({
    gamma,
    s: clamp(s),
    u: clamp(u),
    H: harmonicMean(clamp(u), clamp(s)),
  });
  const margin = (t: number): number => Math.max(1, Math.abs(t));
  const points: CurvePoint[] = [point(ts.length > 0 ? ts[0] - margin(ts[0]) : 0)];
  for (let k = 0; k < ts.length; k++) {
    s += deltas[k].ds;
    u += deltas[k].du;
    points.push(point(k + 1 < ts.length ? (ts[k] + ts[k + 1]) / 2 : ts[k] + margin(ts[k])));
  }
  let ausuc = 0;
  for (let k = 1; k < points.length; k++)
    ausuc += ((points[k].u - points[k - 1].u) * (points[k].s + points[k - 1].s)) / 2;
  return { points, ausuc };
}

/** The point of highest H (the smallest γ among ties). */
export function bestGamma(curve: SeenUnseenCurve): CurvePoint {
  return curve.points.reduce((best, p) => (p.H > best.H ? p : best), curve.points[0]);
}

/** At most `max` points of a curve, evenly spaced in index, the first and last kept (for charts). */
export function thinCurve(points: readonly CurvePoint[], max: number): CurvePoint[] {
  if (points.length <= max) return [...points];
  const step = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, k) => points[Math.round(k * step)]);
}
