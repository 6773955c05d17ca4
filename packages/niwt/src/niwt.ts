/**
 * NIWT (Selvaraju et al., ECCV 2018) as a `ZeroShotMethod`: stage B importances on the cached tap
 * activations of the seen trainval images, stage C knowledge→importance map, stage D unseen weights.
 * Scores are the joint logits [seen head ; unseen head] on the penultimate features.
 */
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import path from 'node:path';
import {
  Rng,
  StateError,
  TOKENS,
  deriveSeed,
  hashOf,
  matrix,
  readNpy,
  selectRows,
  writeNpy,
  type Explainer,
  type FitSummary,
  type Matrix,
  type ZeroShotContext,
  type ZeroShotMethod,
} from '@niwt/core';
import { importanceInBatches } from './importance.js';
import { applyMap, linearSurrogate, trainKnowledgeMap, type KnowledgeMap } from './knowledge-map.js';
import { KnowledgeExplainer } from './explain.js';
import { trainUnseenWeightsAsync } from './transfer.js';
import { columnNorms, logitRms, meanLogits, meanStd } from './stats.js';

export const niwtOptions = z.strictObject({
  /** λ of the pull towards the seen-weight mean (the seen/unseen calibration knob). */
  lambda: z.number().min(0).default(1e-3),
  /** Adam learning rate of stage D. */
  lr: z.number().positive().default(1e-3),
  batchSize: z.number().int().min(1).default(64),
  /** (pool image, unseen class) pairs per unseen class in stage D. */
  pairsPerClass: z.number().int().min(1).default(200),
  /** A cap on stage D steps (the project's; the release has none — its presets set a high value). */
  maxSteps: z.number().int().min(1).default(3000),
  /** Stage D passes over the pairs (the release: `num_epochs − 1`); no limit by default. */
  maxEpochs: z.number().int().min(1).optional(),
  /** Adam ε of stage D (1e-7, tfjs/Keras; the release: TF1's 1e-8). */
  adamEpsilon: z.number().positive().default(1e-7),
  /** 'last': the weights at the stop; 'best-epoch-loss': the epoch with the lowest mean training loss (release). */
  finalWeights: z.enum(['last', 'best-epoch-loss']).default('last'),
  /** The seen head's biases in the joint scores: 'keep' (default) or 'zero' (the release's ResNet stage D). */
  seenBias: z.enum(['keep', 'zero']).default('keep'),
  /** Stop after this many steps without a relative improvement of `minImprovement`. */
  patience: z.number().int().min(1).default(40),
  minImprovement: z.number().min(0).default(0.01),
  map: z
    .strictObject({
      lr: z.number().positive().default(1e-2),
      /** Full passes of the class-level objective. */
      epochs: z.number().int().min(1).default(500),
      /**
       * Seen classes held out to select the epoch: a number, or 'auto' = `autoHeldOutClasses` (measured; see the
       * README). The release holds out 5 (`n_train_class` = seen − 5).
       */
      heldOutClasses: z.union([z.number().int().min(1), z.literal('auto')]).default('auto'),
      /** After selecting the epoch, retrain the map on all seen classes for that many epochs (the release does not). */
      refit: z.boolean().default(true),
      /** 'spearman' (the paper's wording) or 'loss' (held-out cosine loss: the release's code); 'cosine' = 'loss'. */
      select: z.enum(['spearman', 'loss', 'cosine']).default('spearman'),
      /** 'linear' (the paper) or a one-hidden-layer ReLU MLP. */
      kind: z.enum(['linear', 'mlp']).default('linear'),
      hidden: z.number().int().min(1).default(256),
      /** 'class': train on class rows (exact, fast); 'image': the same loss over every image. */
      objective: z.enum(['class', 'image']).default('class'),
    })
    .prefault({}),
  /** Stage D's images: the seen trainval images (default), or any folder of images (never the test set). */
  pool: z
    .strictObject({
      folder: z.string().min(1).optional(),
      /** Use at most this many images of the folder (a seeded sample). */
      limit: z.number().int().min(1).optional(),
    })
    .prefault({}),
  /**
   * Stage D engine. 'auto': the exact fast path on onnxruntime when it loads ('fast-ort'), else on tfjs
   * ('fast'), else double backprop ('reference', when the head does not list its layers).
   */
  implementation: z.enum(['auto', 'fast-ort', 'fast', 'reference']).default('auto'),
  /** Images per batch in stage B. */
  importanceBatch: z.number().int().min(1).default(64),
});
export type NiwtOptions = z.infer<typeof niwtOptions>;

/**
 * Seen classes held out for the map's epoch selection when `heldOutClasses: auto`: a quarter of the seen
 * classes, rounded, between 2 and 5 (the release's 5 from 20 seen classes on), and never more than seen − 2
 * (chosen by measurement, packages/niwt/README.md "Held-out classes and the refit").
 */
export function autoHeldOutClasses(seen: number): number {
  return Math.max(1, Math.min(5, Math.max(2, Math.round(seen / 4)), seen - 2));
}

interface Fitted {
  readonly numClasses: number;
  readonly seenWeights: Matrix;
  readonly seenBias: Float32Array;
  readonly seenClasses: readonly number[];
  readonly unseenWeights: Matrix;
  readonly unseenClasses: readonly number[];
  readonly map: KnowledgeMap;
  /** The knowledge rows of every class (for the linear surrogate of an MLP map). */
  readonly knowledge: Matrix;
  readonly dimNames: readonly string[];
  /** Mean ‖f(d)‖ over the seen classes: the map's output scale. */
  readonly mapNorm: number;
}

@injectable()
export class Niwt implements ZeroShotMethod {
  private fitted?: Fitted;
  /** Mean seen importances per class and predicted unseen importances (for reports and explanations). */
  importances?: {
    seenMean: Matrix;
    seenClasses: readonly number[];
    predictedUnseen: Matrix;
    unseenClasses: readonly number[];
  };

  constructor(@inject(TOKENS.options) private readonly opts: NiwtOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const { head, seenClassifier: sc, trainval } = ctx;
    if (!trainval.tap) throw new StateError('niwt needs tap activations of the trainval images');
    const K = head.tap.shape[2];
    const colOf = new Map(sc.classes.map((c, i) => [c, i]));
    const columns = Int32Array.from(trainval.labels, (y) => {
      const c = colOf.get(y);
      if (c === undefined) throw new StateError(`niwt: trainval label ${y} is not a seen class`);
      return c;
    });

    // Stage B (cached as .npy under the method's stage cache when the runner provides one)
    let t = ctx.log.stage('niwt B: importances');
    const n = trainval.labels.length;
    const computeB = (): Float32Array => {
      const ws = tf.tensor2d(sc.weights.data, [sc.weights.rows, sc.weights.cols]);
      try {
        return importanceInBatches(head, trainval.tap!, ws, columns, this.opts.importanceBatch);
      } finally {
        ws.dispose();
      }
    };
    let alpha: Float32Array;
    let cached = false;
    if (ctx.cache) {
      const key = hashOf({ stage: 'niwt-importances', inputs: ctx.cache.inputsKey, tap: head.tap.name });
      const entry = await ctx.cache.store.getOrCreate('importances', key, async (dir) =>
        writeNpy(path.join(dir, 'importances.npy'), computeB(), [n, K]),
      );
      alpha = (await readNpy(path.join(entry.dir, 'importances.npy'))).data as Float32Array;
      cached = entry.hit;
    } else {
      alpha = computeB();
    }
    const importances = matrix(n, K, alpha);
    t.end(`${n} images × ${K} channels at ${head.tap.name}${cached ? ' (cached)' : ''}`);

    // Stage C
    t = ctx.log.stage('niwt C: knowledge → importance');
    const rng = new Rng(deriveSeed(ctx.seed, 'niwt/heldout'));
    const mapOpts = this.opts.map;
    const select = mapOpts.select === 'spearman' ? 'spearman' : 'cosine';
    const wanted = mapOpts.heldOutClasses === 'auto' ? autoHeldOutClasses(ctx.seen.length) : mapOpts.heldOutClasses;
    const nHeld = Math.min(wanted, Math.max(1, ctx.seen.length - 2));
    const shuffled = rng.shuffle(ctx.seen);
    const heldOut = shuffled.slice(0, nHeld);
    const mapData = {
      importances,
      labels: trainval.labels,
      knowledge: ctx.knowledge.matrix,
      trainClasses: shuffled.slice(nHeld),
      heldOutClasses: heldOut,
    };
    const mapSeed = deriveSeed(ctx.seed, 'niwt/map');
    const selected = trainKnowledgeMap(mapData, { ...mapOpts, select, seed: mapSeed }, (epoch, loss, score) => {
      if (epoch % 10 === 0 || epoch === 1) {
        ctx.metric('stageC/train_loss', loss, epoch);
        ctx.metric(`stageC/heldout_${select === 'cosine' ? 'loss' : select}`, score, epoch);
      }
    });
    // the refit sees every seen class for the selected number of epochs, from the same initialisation
    const mapResult = mapOpts.refit
      ? trainKnowledgeMap(
          { ...mapData, trainClasses: ctx.seen, heldOutClasses: [] },
          { ...mapOpts, select, epochs: selected.bestEpoch, seed: mapSeed },
        )
      : selected;
    const predicted = applyMap(mapResult.map, selectRows(ctx.knowledge.matrix, ctx.unseen));
    const selectName = select === 'cosine' ? 'loss' : select;
    t.end(
      `best epoch ${selected.bestEpoch} of ${nHeld} held-out classes' ${selectName} ` +
        `${selected.bestScore.toFixed(3)}${mapOpts.refit ? ', refit on all seen' : ''}`,
    );

    // Stage D
    let pool = trainval.tap!;
    let poolName = `seen trainval (${pool.size} images)`;
    if (this.opts.pool.folder) {
      if (!ctx.imagesAtTap) throw new StateError('niwt: pool.folder needs a runner that can extract images at the tap');
      pool = await ctx.imagesAtTap(this.opts.pool.folder, this.opts.pool.limit);
      poolName = `folder ${this.opts.pool.folder} (${pool.size} images)`;
    }
    t = ctx.log.stage('niwt D: importance → weights');
    const transfer = await trainUnseenWeightsAsync(
      { head, pool, seenWeights: sc.weights, targets: predicted },
      { ...this.opts, seed: deriveSeed(ctx.seed, 'niwt/transfer') },
      (step, loss) => ctx.metric('stageD/loss', loss, step),
      ctx.checkpointDir
        ? {
            dir: path.join(ctx.checkpointDir, 'stage-d'),
            onIgnored: (why) => ctx.log.warn(`niwt stage D: ignoring the checkpoint ${why}; starting from step 1`),
            onResumed: (step) => ctx.log.info(`niwt stage D: resuming after step ${step} from its checkpoint`),
          }
        : undefined,
    );
    t.end(
      `${transfer.steps} steps (${transfer.implementation}), loss ${transfer.initialLoss.toFixed(4)} → ` +
        `${transfer.finalLoss.toFixed(4)}`,
    );
    if (transfer.fallbackReason) ctx.log.warn(`niwt stage D used double backprop: ${transfer.fallbackReason}`);
    else if (transfer.implementation === 'fast' && transfer.ortUnavailableReason)
      ctx.log.info(`niwt stage D on tfjs, not onnxruntime: ${transfer.ortUnavailableReason}`);

    const seenPred = applyMap(mapResult.map, selectRows(ctx.knowledge.matrix, ctx.seen));
    let mapNorm = 0;
    for (let i = 0; i < seenPred.rows; i++)
      mapNorm += Math.hypot(...seenPred.data.subarray(i * seenPred.cols, (i + 1) * seenPred.cols)) / seenPred.rows;
    if (pool !== trainval.tap) pool.close?.();
    this.fitted = {
      map: mapResult.map,
      knowledge: ctx.knowledge.matrix,
      dimNames: ctx.knowledge.dimNames,
      mapNorm,
      numClasses: ctx.classNames.length,
      seenWeights: sc.weights,
      seenBias: this.opts.seenBias === 'zero' ? new Float32Array(sc.bias.length) : sc.bias,
      seenClasses: sc.classes,
      unseenWeights: transfer.weights,
      unseenClasses: ctx.unseen,
    };
    this.importances = {
      seenMean: classMeanRows(importances, trainval.labels, ctx.seen),
      seenClasses: ctx.seen,
      predictedUnseen: predicted,
      unseenClasses: ctx.unseen,
    };
    return {
      stageC_best_epoch: selected.bestEpoch,
      [`stageC_heldout_${selectName}`]: selected.bestScore,
      stageC_heldout_classes: heldOut.map((c) => ctx.classNames[c]).join(','),
      stageC_heldout_count: nHeld,
      stageC_refit: mapOpts.refit ? 'all seen classes' : 'no',
      ...(transfer.bestEpoch
        ? { stageD_best_epoch: transfer.bestEpoch.epoch, stageD_best_epoch_loss: transfer.bestEpoch.meanLoss }
        : {}),
      stageD_steps: transfer.steps,
      stageD_implementation: transfer.implementation,
      stageD_pool: poolName,
      stageD_initial_loss: transfer.initialLoss,
      stageD_final_loss: transfer.finalLoss,
      ...weightDiagnostics(sc.weights, sc.bias, transfer.weights, trainval.features),
    };
  }

  explainer(): Explainer | undefined {
    const f = this.fitted;
    if (!f) return undefined;
    const text = new KnowledgeExplainer(linearSurrogate(f.map, f.knowledge), f.dimNames, f.mapNorm);
    return {
      explainImportance: (importance, k) => text.explain(importance, k),
      classWeights: (c) => {
        const [w, j] = f.seenClasses.includes(c)
          ? [f.seenWeights, f.seenClasses.indexOf(c)]
          : [f.unseenWeights, f.unseenClasses.indexOf(c)];
        if (j < 0) throw new StateError(`niwt: class ${c} is neither seen nor unseen`);
        return Float32Array.from({ length: w.rows }, (_, d) => w.data[d * w.cols + j]);
      },
    };
  }

  scores(features: Matrix): Matrix {
    const f = this.fitted;
    if (!f) throw new StateError('niwt: scores() called before fit()');
    const out = new Float32Array(features.rows * f.numClasses).fill(-Infinity);
    const block = (w: Matrix, bias: Float32Array | undefined, classes: readonly number[]): void => {
      const D = w.rows;
      for (let n = 0; n < features.rows; n++) {
        const x = features.data.subarray(n * D, (n + 1) * D);
        for (let j = 0; j < classes.length; j++) {
          let s = bias ? bias[j] : 0;
          for (let d = 0; d < D; d++) s += x[d] * w.data[d * w.cols + j];
          out[n * f.numClasses + classes[j]] = s;
        }
      }
    };
    block(f.seenWeights, f.seenBias, f.seenClasses);
    block(f.unseenWeights, undefined, f.unseenClasses);
    return matrix(features.rows, f.numClasses, out);
  }
}

/** At most this many trainval feature rows enter the stage D diagnostics. */
const DIAGNOSTIC_ROWS = 2000;

/**
 * Stage D diagnostics (how λ moves s and u): per-class weight norms; the logit scale on the trainval features
 * (RMS of wᵀh over images, no bias: it ignores directions the features never use) and its spread (std/mean)
 * over unseen classes; and the std over classes of the mean logit (with the seen biases), which is what lets
 * one class absorb the others' images. The cosine loss is scale-free: these are set by the init, λ and the
 * steps taken.
 */
function weightDiagnostics(
  seen: Matrix,
  seenBias: Float32Array,
  unseen: Matrix,
  allFeatures: Matrix,
): Record<string, number> {
  // an evenly strided sample bounds the cost at AWA2 scale (N × D × C multiply-adds)
  const stride = Math.ceil(allFeatures.rows / DIAGNOSTIC_ROWS);
  const features =
    stride > 1
      ? selectRows(
          allFeatures,
          Array.from({ length: Math.ceil(allFeatures.rows / stride) }, (_, i) => i * stride),
        )
      : allFeatures;
  const unseenNorms = meanStd(columnNorms(unseen));
  const unseenLogits = meanStd(logitRms(features, unseen));
  return {
    stageD_seen_norm_mean: meanStd(columnNorms(seen)).mean,
    stageD_unseen_norm_mean: unseenNorms.mean,
    stageD_unseen_norm_cv: unseenNorms.std / unseenNorms.mean,
    stageD_seen_logit_rms: meanStd(logitRms(features, seen)).mean,
    stageD_unseen_logit_rms: unseenLogits.mean,
    stageD_unseen_logit_cv: unseenLogits.std / unseenLogits.mean,
    stageD_seen_offset_std: meanStd(meanLogits(features, seen, seenBias)).std,
    stageD_unseen_offset_std: meanStd(meanLogits(features, unseen)).std,
  };
}

function classMeanRows(m: Matrix, labels: Int32Array, classes: readonly number[]): Matrix {
  const pos = new Map(classes.map((c, i) => [c, i]));
  const out = new Float32Array(classes.length * m.cols);
  const counts = new Float32Array(classes.length);
  for (let n = 0; n < m.rows; n++) {
    const p = pos.get(labels[n]);
    if (p === undefined) continue;
    counts[p]++;
    for (let k = 0; k < m.cols; k++) out[p * m.cols + k] += m.data[n * m.cols + k];
  }
  for (let p = 0; p < classes.length; p++)
    for (let k = 0; k < m.cols; k++) out[p * m.cols + k] /= Math.max(1, counts[p]);
  return matrix(classes.length, m.cols, out);
}
