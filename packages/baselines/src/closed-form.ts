/**
 * What ESZSL and SAE share: the problem on a set of classes (preprocessed features, class rows), the
 * class-disjoint grid search, and the final refit on all seen classes.
 */
import { StateError, deriveSeed, type FitSummary, type Matrix, type ZeroShotContext } from '@niwt/core';
import {
  applyPreprocessing,
  candidateAccuracy,
  fitPreprocessing,
  l2NormalizeRows,
  positions,
  samplesOf,
  splitSeenClasses,
  type FeatureNorm,
  type FeaturePreprocessing,
} from './common.js';
import { dense, type Dense } from './linalg.js';

/** Training data of a closed-form method on `classes`. */
export interface ClosedFormProblem {
  /** N × D preprocessed features (float64). */
  readonly x: Dense;
  /** Row of `classEmb` of each image. */
  readonly labels: Int32Array;
  /** C × E class embeddings. */
  readonly classEmb: Dense;
}

const toDense = (m: Matrix): Dense => dense(m.rows, m.cols, Float64Array.from(m.data));

/** A fitted closed-form model: `score(x, classEmb)` gives N × C compatibilities. */
export interface ClosedFormModel {
  score(x: Dense, classEmb: Dense): Float32Array;
}

export interface ClosedFormSpec<P> {
  readonly name: string;
  readonly featureNorm: FeatureNorm;
  readonly valFraction: number;
  /** The hyperparameter grid, in order (ties keep the first). */
  readonly grid: readonly P[];
  readonly describe: (p: P) => string;
  readonly fit: (problem: ClosedFormProblem, p: P) => ClosedFormModel;
}

export interface ClosedFormFitted {
  readonly pre: FeaturePreprocessing;
  readonly model: ClosedFormModel;
  readonly classEmb: Dense;
}

/** The grid search on a class-disjoint split of the seen classes, then the refit on all of them. */
export function fitClosedForm<P>(
  ctx: ZeroShotContext,
  spec: ClosedFormSpec<P>,
): { fitted: ClosedFormFitted; summary: FitSummary } {
  const { features, labels } = ctx.trainval;
  const emb = toDense(l2NormalizeRows(ctx.knowledge.matrix));
  const problem = (classes: readonly number[]): { p: ClosedFormProblem; pre: FeaturePreprocessing } => {
    const rows = samplesOf(labels, classes);
    const pre = fitPreprocessing(spec.featureNorm, features, rows);
    return {
      pre,
      p: {
        x: toDense(applyPreprocessing(pre, features, rows)),
        labels: positions(labels, rows, classes),
        classEmb: rowsOf(emb, classes),
      },
    };
  };
  let chosen = spec.grid[0];
  let valAcc = NaN;
  let valClasses = '';
  if (spec.grid.length > 1) {
    const t = ctx.log.stage(`${spec.name}: grid search`);
    const split = splitSeenClasses(ctx.seen, spec.valFraction, deriveSeed(ctx.seed, `${spec.name}/val-split`));
    valClasses = split.val.map((c) => ctx.classNames[c]).join(',');
    const { p, pre } = problem(split.train);
    const valRows = samplesOf(labels, split.val);
    const xVal = toDense(applyPreprocessing(pre, features, valRows));
    const valEmb = rowsOf(emb, split.val);
    const valLabels = valRows.map((r) => labels[r]);
    let best = -1;
    for (const h of spec.grid) {
      const acc = candidateAccuracy(spec.fit(p, h).score(xVal, valEmb), valLabels, split.val);
      ctx.metric(`select/${spec.describe(h)}/val_acc`, acc);
      if (acc > best) [best, chosen] = [acc, h];
    }
    valAcc = best;
    t.end(
      `${spec.describe(chosen)}, val acc ${(100 * valAcc).toFixed(1)}% on ${split.val.length} held-out seen classes`,
    );
  }
  const t = ctx.log.stage(`${spec.name}: fit on all seen classes`);
  const { p, pre } = problem(ctx.seen);
  const model = spec.fit(p, chosen);
  t.end(spec.describe(chosen));
  return {
    fitted: { pre, model, classEmb: emb },
    summary: {
      selected: spec.describe(chosen),
      ...(Number.isNaN(valAcc) ? {} : { val_acc: valAcc, val_classes: valClasses }),
    },
  };
}

/** Scores of every class (N × numClasses) of a fitted closed-form method. */
export function closedFormScores(name: string, f: ClosedFormFitted | undefined, features: Matrix): Matrix {
  if (!f) throw new StateError(`${name}: scores() called before fit()`);
  return {
    rows: features.rows,
    cols: f.classEmb.rows,
    data: f.model.score(toDense(applyPreprocessing(f.pre, features)), f.classEmb),
  };
}

export function rowsOf(m: Dense, rows: readonly number[]): Dense {
  const out = dense(rows.length, m.cols);
  rows.forEach((r, i) => out.data.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols));
  return out;
}
