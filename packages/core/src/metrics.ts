/**
 * GZSL evaluation in the xlsa17 protocol (Xian et al.): per-class mean top-1 accuracy,
 * s (test_seen, joint label space), u (test_unseen, joint), H = 2us/(u+s), ZSL T1 (unseen only).
 */
import type { Matrix } from './matrix.js';
import { argmaxRows } from './matrix.js';

/**
 * Mean over `classes` of (correct / images of that class). Classes with no images are left out of the mean,
 * as xlsa17's evaluate.m does (it iterates over the labels present).
 */
export function perClassAccuracy(
  predicted: ArrayLike<number>,
  labels: ArrayLike<number>,
  classes: readonly number[],
): { mean: number; perClass: Map<number, number> } {
  const total = new Map<number, number>();
  const correct = new Map<number, number>();
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    total.set(y, (total.get(y) ?? 0) + 1);
    if (predicted[i] === y) correct.set(y, (correct.get(y) ?? 0) + 1);
  }
  const perClass = new Map<number, number>();
  let sum = 0;
  let n = 0;
  for (const c of classes) {
    const t = total.get(c) ?? 0;
    if (t === 0) continue;
    const acc = (correct.get(c) ?? 0) / t;
    perClass.set(c, acc);
    sum += acc;
    n++;
  }
  return { mean: n === 0 ? 0 : sum / n, perClass };
}

export function harmonicMean(u: number, s: number): number {
  return u + s === 0 ? 0 : (2 * u * s) / (u + s);
}

export interface GzslResult {
  /** test_seen accuracy in the joint label space. */
  readonly s: number;
  /** test_unseen accuracy in the joint label space. */
  readonly u: number;
  readonly H: number;
  /** ZSL top-1: test_unseen images, unseen classes only. */
  readonly zslT1: number;
  readonly perClass: ReadonlyMap<number, number>;
  readonly perClassZsl: ReadonlyMap<number, number>;
  /** Confusion counts over all classes for the GZSL predictions: confusion[true][pred]. */
  readonly confusion: readonly (readonly number[])[];
}

/**
 * Evaluates scores over the joint label space.
 * @param seenScores  test_seen images × numClasses
 * @param unseenScores test_unseen images × numClasses
 */
export function evaluateGzsl(
  seenScores: Matrix,
  seenLabels: ArrayLike<number>,
  unseenScores: Matrix,
  unseenLabels: ArrayLike<number>,
  seen: readonly number[],
  unseen: readonly number[],
): GzslResult {
  const numClasses = seenScores.cols;
  const all = [...seen, ...unseen];
  const predSeen = argmaxRows(seenScores, all);
  const predUnseen = argmaxRows(unseenScores, all);
  const predZsl = argmaxRows(unseenScores, unseen);
  const s = perClassAccuracy(predSeen, seenLabels, seen);
  const u = perClassAccuracy(predUnseen, unseenLabels, unseen);
  const z = perClassAccuracy(predZsl, unseenLabels, unseen);
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < predSeen.length; i++) confusion[seenLabels[i]][predSeen[i]]++;
  for (let i = 0; i < predUnseen.length; i++) confusion[unseenLabels[i]][predUnseen[i]]++;
  const perClass = new Map([...s.perClass, ...u.perClass]);
  return {
    s: s.mean,
    u: u.mean,
    H: harmonicMean(u.mean, s.mean),
    zslT1: z.mean,
    perClass,
    perClassZsl: z.perClass,
    confusion,
  };
}
