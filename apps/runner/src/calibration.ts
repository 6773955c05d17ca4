/**
 * Calibrated stacking for every method (Chao et al., ECCV 2016): the seen-unseen accuracy curve and AUSUC on
 * the test sets, and a γ chosen WITHOUT them.
 *
 * γ selection (`chooseGamma`), Chao et al.'s procedure on the seen classes only:
 * 1. a seeded `pseudoUnseenFraction` of the seen classes (at least 1, leaving at least 2) plays "unseen";
 * 2. the other seen classes' trainval images are split per class, seeded: `validationFraction` for validation,
 *    the rest to fit;
 * 3. a fresh instance of the method, same options, is fitted on that smaller problem (seen classifier reduced
 *    to the remaining seen columns; no stage cache; its log silenced);
 * 4. its seen-unseen curve on the validation images (remaining seen) and the pseudo-unseen images gives the
 *    γ of the highest validation H, which is then applied to the test scores of the method fitted on all seen
 *    classes.
 * The test sets are never read. The proxy is optimistic in one known way: the backbone (and the seen head
 * NIWT starts from) was trained on every seen trainval image, pseudo-unseen classes included.
 */
import {
  Rng,
  calibrate,
  bestGamma,
  deriveSeed,
  evaluateGzsl,
  matrix,
  selectRows,
  seenUnseenCurve,
  silentLogger,
  thinCurve,
  type CurvePoint,
  type Matrix,
  type SeenClassifier,
  type TapSource,
  type ZeroShotContext,
  type ZeroShotMethod,
} from '@niwt/core';

export interface CalibrationOptions {
  readonly enabled: boolean;
  readonly pseudoUnseenFraction: number;
  readonly validationFraction: number;
}

/** What a method's run records about calibration. */
export interface Calibration {
  /** Area under the test seen-unseen curve. */
  readonly ausuc: number;
  /** The test curve (thinned to ≤ 400 points for reports; the full curve is the child run's artifact). */
  readonly curve: readonly CurvePoint[];
  /** The γ chosen on the seen classes and the test accuracies at it (absent when calibration is off). */
  readonly chosen?: {
    readonly gamma: number;
    readonly s: number;
    readonly u: number;
    readonly H: number;
    readonly validationH: number;
    readonly pseudoUnseen: readonly string[];
  };
}

/** Test curve and AUSUC of fitted scores. */
export function testCurve(
  seenScores: Matrix,
  seenLabels: ArrayLike<number>,
  unseenScores: Matrix,
  unseenLabels: ArrayLike<number>,
  seen: readonly number[],
  unseen: readonly number[],
): { ausuc: number; points: readonly CurvePoint[] } {
  return seenUnseenCurve(seenScores, seenLabels, unseenScores, unseenLabels, seen, unseen);
}

/** The seen-class split of step 1–2 (seeded). */
export function calibrationSplit(
  seen: readonly number[],
  labels: Int32Array,
  opts: CalibrationOptions,
  seed: number,
): { pseudoUnseen: number[]; remaining: number[]; fitRows: number[]; valRows: number[]; pseudoRows: number[] } {
  const rng = new Rng(deriveSeed(seed, 'calibration'));
  const shuffled = rng.shuffle(seen);
  const nP = Math.max(1, Math.min(Math.round(opts.pseudoUnseenFraction * seen.length), seen.length - 2));
  const pseudoUnseen = shuffled.slice(0, nP).sort((a, b) => a - b);
  const remaining = shuffled.slice(nP).sort((a, b) => a - b);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) byClass.set(labels[i], [...(byClass.get(labels[i]) ?? []), i]);
  const fitRows: number[] = [];
  const valRows: number[] = [];
  for (const c of remaining) {
    const rows = rng.shuffle(byClass.get(c) ?? []);
    // keep at least one image to fit on
    const nVal = Math.min(Math.round(opts.validationFraction * rows.length), Math.max(0, rows.length - 1));
    valRows.push(...rows.slice(0, nVal));
    fitRows.push(...rows.slice(nVal));
  }
  const pseudoRows = pseudoUnseen.flatMap((c) => byClass.get(c) ?? []);
  return {
    pseudoUnseen,
    remaining,
    fitRows: fitRows.sort((a, b) => a - b),
    valRows: valRows.sort((a, b) => a - b),
    pseudoRows: pseudoRows.sort((a, b) => a - b),
  };
}

function subTaps(tap: TapSource, rows: readonly number[]): TapSource {
  return { size: rows.length, shape: tap.shape, read: (indices) => tap.read(indices.map((i) => rows[i])) };
}

function subClassifier(sc: SeenClassifier, classes: readonly number[]): SeenClassifier {
  const cols = classes.map((c) => sc.classes.indexOf(c));
  const w = sc.weights;
  const data = new Float32Array(w.rows * cols.length);
  for (let d = 0; d < w.rows; d++) cols.forEach((j, k) => (data[d * cols.length + k] = w.data[d * w.cols + j]));
  return { weights: matrix(w.rows, cols.length, data), bias: Float32Array.from(cols, (j) => sc.bias[j]), classes };
}

/** Steps 1–4: the γ of the highest H on the seen-class proxy problem. */
export async function chooseGamma(
  create: () => ZeroShotMethod,
  ctx: ZeroShotContext,
  opts: CalibrationOptions,
): Promise<{ gamma: number; validationH: number; pseudoUnseen: number[] }> {
  const { trainval } = ctx;
  const split = calibrationSplit(ctx.seen, trainval.labels, opts, ctx.seed);
  const fitTrainval = {
    indices: split.fitRows.map((i) => trainval.indices[i]),
    labels: Int32Array.from(split.fitRows, (i) => trainval.labels[i]),
    features: selectRows(trainval.features, split.fitRows),
    tap: trainval.tap ? subTaps(trainval.tap, split.fitRows) : undefined,
  };
  const method = create();
  await method.fit({
    ...ctx,
    seen: split.remaining,
    unseen: split.pseudoUnseen,
    trainval: fitTrainval,
    seenClassifier: subClassifier(ctx.seenClassifier, split.remaining),
    seed: deriveSeed(ctx.seed, 'calibration/fit'),
    cache: undefined,
    log: silentLogger,
    metric: () => undefined,
  });
  const curve = seenUnseenCurve(
    method.scores(selectRows(trainval.features, split.valRows)),
    split.valRows.map((i) => trainval.labels[i]),
    method.scores(selectRows(trainval.features, split.pseudoRows)),
    split.pseudoRows.map((i) => trainval.labels[i]),
    split.remaining,
    split.pseudoUnseen,
  );
  const best = bestGamma(curve);
  return { gamma: best.gamma, validationH: best.H, pseudoUnseen: split.pseudoUnseen };
}

/** Test accuracies at a given γ. */
export function atGamma(
  seenScores: Matrix,
  seenLabels: ArrayLike<number>,
  unseenScores: Matrix,
  unseenLabels: ArrayLike<number>,
  seen: readonly number[],
  unseen: readonly number[],
  gamma: number,
): { s: number; u: number; H: number } {
  const r = evaluateGzsl(
    calibrate(seenScores, seen, gamma),
    seenLabels,
    calibrate(unseenScores, seen, gamma),
    unseenLabels,
    seen,
    unseen,
  );
  return { s: r.s, u: r.u, H: r.H };
}

export { thinCurve };
