/**
 * DEM — Deep Embedding Model (Zhang, Xiang & Gong, CVPR 2017): class knowledge is mapped into the visual
 * feature space by FC → ReLU → FC → ReLU, trained with the mean squared error to the images of each class
 * plus λ·½‖θ‖² (biases included), and an image is assigned to the nearest class prototype.
 *
 * The loss of a mini-batch depends on the network output only at the batch's distinct classes:
 * Σ_{i∈c} ‖f_c − x_i‖² = n_c‖f_c − x̄_c‖² + Σ_{i∈c}‖x_i − x̄_c‖², so the forward and backward passes run on
 * one row per distinct class instead of one per image — the same loss and gradient, fewer FLOPs.
 */
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { BackendError, Rng, StateError, TOKENS, deriveSeed, selectRows, type FitSummary, type Matrix, type ZeroShotContext, type ZeroShotMethod } from '@niwt/core';
import { Adam, loadOnnxRuntime, onnxRuntimeUnavailableReason, variableFrom } from '@niwt/compute';
import { candidateAccuracy, l2NormalizeRows, positions, samplesOf, splitSeenClasses } from './common.js';
import { OnnxDemEngine } from './dem-onnx.js';
import { readTidy } from './tensors.js';

export type DemDistance = 'euclidean' | 'cosine';

/**
 * Where the training steps run: `onnx` — onnxruntime (the optional dependency onnxruntime-node) for the
 * forward/backward pass and a fused SIMD Adam; `tfjs` — tfjs autograd and the core `Adam`; `auto` — onnx
 * when onnxruntime-node loads, else tfjs. Both give the same trajectory within float rounding.
 */
export type DemEngineChoice = 'auto' | 'onnx' | 'tfjs';

/** The settings a preset fixes (and explicit options override). */
export interface DemSettings {
  readonly hidden: number;
  readonly lambda: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly distance: DemDistance;
  readonly knowledgeNorm: 'none' | 'l2';
}

/**
 * The official GBU scripts (lzrobots/DeepEmbeddingModel_ZSL, `AwA2_GBU.py`, `CUB1_GBU.py`); `none` is the
 * generic default: the AWA2 architecture on unit-L2 class rows (raw 0–100 attributes blow the first layer up
 * and kill the ReLUs within a few steps on small sets) with a larger learning rate (small sets give few steps).
 */
export const DEM_PRESETS: Readonly<Record<'none' | 'awa2' | 'cub', DemSettings>> = {
  none: { hidden: 1600, lambda: 1e-3, lr: 1e-3, batchSize: 64, distance: 'euclidean', knowledgeNorm: 'l2' },
  awa2: { hidden: 1600, lambda: 1e-3, lr: 1e-4, batchSize: 64, distance: 'euclidean', knowledgeNorm: 'none' },
  cub: { hidden: 1200, lambda: 1e-2, lr: 1e-5, batchSize: 100, distance: 'cosine', knowledgeNorm: 'l2' },
};

const demInput = z.strictObject({
  /** Named official setting; any of the five settings below given explicitly overrides it. */
  preset: z.enum(['none', 'awa2', 'cub']).default('none'),
  hidden: z.number().int().min(1).optional(),
  /** λ of λ·½‖θ‖² (weights and biases). */
  lambda: z.number().min(0).optional(),
  /** Adam learning rate. */
  lr: z.number().positive().optional(),
  batchSize: z.number().int().min(1).optional(),
  /** Nearest-prototype metric. */
  distance: z.enum(['euclidean', 'cosine']).optional(),
  /** Class embeddings as the encoder gives them, or unit-L2 per class (xlsa17 `att`). */
  knowledgeNorm: z.enum(['none', 'l2']).optional(),
  /** Epoch budget of the validation phase (and the cap of the final fit). */
  epochs: z.number().int().min(1).default(100),
  /** Stop after this many validations without a better accuracy on the held-out seen classes. */
  patience: z.number().int().min(1).default(10),
  /** Validate every this many epochs. */
  evalEvery: z.number().int().min(1).default(1),
  /** Fraction of the seen classes held out (class-disjoint) to choose the number of epochs. */
  valFraction: z.number().gt(0).lt(1).default(0.25),
  /** Retrain on all seen classes for the chosen epochs (true), or keep the best network of the split (false). */
  retrain: z.boolean().default(true),
  /** Training engine: onnxruntime when it loads (auto), or forced (onnx, tfjs). Speed only. */
  engine: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
});

/** Options with the preset resolved: what the run records is the setting actually used. */
export const demOptions = demInput.transform((o) => {
  const p = DEM_PRESETS[o.preset];
  return {
    ...o,
    hidden: o.hidden ?? p.hidden,
    lambda: o.lambda ?? p.lambda,
    lr: o.lr ?? p.lr,
    batchSize: o.batchSize ?? p.batchSize,
    distance: o.distance ?? p.distance,
    knowledgeNorm: o.knowledgeNorm ?? p.knowledgeNorm,
  };
});
export type DemOptions = z.output<typeof demOptions>;

export interface DemParams {
  /** E × H */
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  /** H × D */
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

/** The official init: weights truncated normal (σ 0.1, within 2σ), biases 0.1. */
export function initDemParams(E: number, H: number, D: number, seed: number): DemParams {
  const rng = new Rng(seed);
  const tn = (n: number): Float32Array => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let z = rng.normal();
      while (Math.abs(z) > 2) z = rng.normal();
      out[i] = 0.1 * z;
    }
    return out;
  };
  return { w1: tn(E * H), b1: new Float32Array(H).fill(0.1), w2: tn(H * D), b2: new Float32Array(D).fill(0.1) };
}

interface DemVars {
  readonly w1: tf.Variable<tf.Rank.R2>;
  readonly b1: tf.Variable<tf.Rank.R1>;
  readonly w2: tf.Variable<tf.Rank.R2>;
  readonly b2: tf.Variable<tf.Rank.R1>;
}

/** f(a) = ReLU(ReLU(a W₁ + b₁) W₂ + b₂) for rows a. */
export function demForward(v: { w1: tf.Tensor2D; b1: tf.Tensor1D; w2: tf.Tensor2D; b2: tf.Tensor1D }, a: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(a, v.w1), v.b1)), v.w2), v.b2)) as tf.Tensor2D);
}

/** A mini-batch grouped by class: the sufficient statistics of the per-image squared error. */
export interface DemBatch {
  /** Row of the knowledge matrix of each distinct class. */
  readonly classes: Int32Array;
  /** Images of each distinct class. */
  readonly counts: Float32Array;
  /** Mean feature of each distinct class (R × D). */
  readonly means: Float32Array;
  /** Σ ‖x_i − x̄_c‖² over the batch (the part of the loss no parameter changes). */
  readonly scatter: number;
  /** Images in the batch. */
  readonly size: number;
}

export function groupBatch(x: Matrix, labels: Int32Array, rows: ArrayLike<number>): DemBatch {
  const D = x.cols;
  const slot = new Map<number, number>();
  for (let k = 0; k < rows.length; k++) if (!slot.has(labels[rows[k]])) slot.set(labels[rows[k]], slot.size);
  const R = slot.size;
  const classes = new Int32Array(R);
  for (const [c, s] of slot) classes[s] = c;
  const counts = new Float32Array(R);
  const sums = new Float64Array(R * D);
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    const s = slot.get(labels[r])!;
    counts[s]++;
    const o = r * D;
    for (let d = 0; d < D; d++) sums[s * D + d] += x.data[o + d];
  }
  const means = new Float32Array(R * D);
  for (let s = 0; s < R; s++) for (let d = 0; d < D; d++) means[s * D + d] = sums[s * D + d] / counts[s];
  let scatter = 0;
  for (let k = 0; k < rows.length; k++) {
    const r = rows[k];
    const s = slot.get(labels[r])!;
    const o = r * D;
    for (let d = 0; d < D; d++) scatter += (x.data[o + d] - means[s * D + d]) ** 2;
  }
  return { classes, counts, means, scatter, size: rows.length };
}

/** The DEM objective of one batch: mean over batch × dims of (f(a_y) − x)², plus λ·½‖θ‖². */
export function demBatchLoss(
  v: { w1: tf.Tensor2D; b1: tf.Tensor1D; w2: tf.Tensor2D; b2: tf.Tensor1D },
  knowledge: tf.Tensor2D,
  batch: DemBatch,
  lambda: number,
): tf.Scalar {
  return tf.tidy(() => {
    const R = batch.classes.length;
    const D = v.w2.shape[1];
    const f = demForward(v, tf.gather(knowledge, tf.tensor1d(batch.classes, 'int32')));
    const diff = tf.sub(f, tf.tensor2d(batch.means, [R, D]));
    const weighted = tf.sum(tf.mul(tf.sum(tf.square(diff), 1), tf.tensor1d(batch.counts)));
    const mse = tf.div(tf.add(weighted, batch.scatter), batch.size * D);
    const l2 = tf.add(tf.add(tf.sum(tf.square(v.w1)), tf.sum(tf.square(v.b1))), tf.add(tf.sum(tf.square(v.w2)), tf.sum(tf.square(v.b2))));
    return tf.add(mse, tf.mul(lambda / 2, l2)) as tf.Scalar;
  });
}

export interface DemProblem {
  /** N × D image features (raw, as the official code). */
  readonly x: Matrix;
  /** Row of `knowledge` of each image. */
  readonly labels: Int32Array;
  /** C × E class embeddings of the training classes. */
  readonly knowledge: Matrix;
}

/** What `DemTrainer` needs of the settings (the bench passes exactly these, plus the preset name). */
export interface DemTrainerSettings extends Pick<DemSettings, 'hidden' | 'lambda' | 'lr' | 'batchSize'> {
  /** Default `auto`: onnxruntime when it loads, else tfjs. */
  readonly engine?: DemEngineChoice;
  /** Intra-op threads of the onnx engine (default: every core). */
  readonly threads?: number;
}

/** The engine that ran, and why when `auto` fell back to tfjs. */
export interface DemEngineInfo {
  readonly name: 'onnx' | 'tfjs';
  readonly note: string;
}

/** One engine's parameters, optimizer state and step. */
interface DemEngine {
  /** One Adam step; returns the batch loss before the update. */
  step(batch: DemBatch): number | Promise<number>;
  /** The current parameters (copies). */
  params(): DemParams;
  /** f(a) for the rows of `knowledge`. */
  forward(knowledge: Matrix): Float32Array;
  dispose(): void | Promise<void>;
}

/** tfjs autograd through `demBatchLoss`, the core `Adam` on tf.Variables. */
class TfjsDemEngine implements DemEngine {
  private readonly vars: DemVars;
  private readonly adam: Adam;
  private readonly K: tf.Tensor2D;

  constructor(
    knowledge: Matrix,
    featureDim: number,
    init: DemParams,
    private readonly settings: Pick<DemSettings, 'lambda' | 'lr'>,
  ) {
    const E = knowledge.cols;
    const H = init.b1.length;
    this.vars = {
      w1: variableFrom<tf.Rank.R2>(init.w1, [E, H]),
      b1: variableFrom<tf.Rank.R1>(init.b1, [H]),
      w2: variableFrom<tf.Rank.R2>(init.w2, [H, featureDim]),
      b2: variableFrom<tf.Rank.R1>(init.b2, [featureDim]),
    };
    this.adam = new Adam([this.vars.w1, this.vars.b1, this.vars.w2, this.vars.b2], { lr: settings.lr });
    this.K = tf.tensor2d(knowledge.data, [knowledge.rows, E]);
  }

  step(batch: DemBatch): number {
    return this.adam.step(() => demBatchLoss(this.vars, this.K, batch, this.settings.lambda));
  }

  params(): DemParams {
    const read = (t: tf.Tensor): Float32Array => t.dataSync().slice() as Float32Array;
    return { w1: read(this.vars.w1), b1: read(this.vars.b1), w2: read(this.vars.w2), b2: read(this.vars.b2) };
  }

  forward(knowledge: Matrix): Float32Array {
    return readTidy(() => demForward(this.vars, tf.tensor2d(knowledge.data, [knowledge.rows, knowledge.cols])));
  }

  dispose(): void {
    this.adam.dispose();
    tf.dispose([this.vars.w1, this.vars.b1, this.vars.w2, this.vars.b2, this.K]);
  }
}

/** f(a) from parameters held in JS (a few forward passes per fit: tfjs's speed is plenty). */
function forwardParams(p: DemParams, knowledge: Matrix): Float32Array {
  const E = knowledge.cols;
  const H = p.b1.length;
  const D = p.b2.length;
  return readTidy(() =>
    demForward(
      { w1: tf.tensor2d(p.w1, [E, H]), b1: tf.tensor1d(p.b1), w2: tf.tensor2d(p.w2, [H, D]), b2: tf.tensor1d(p.b2) },
      tf.tensor2d(knowledge.data, [knowledge.rows, E]),
    ),
  );
}

/** The onnx engine behind the `DemEngine` interface. */
class OrtDemEngine implements DemEngine {
  constructor(private readonly engine: OnnxDemEngine) {}

  step(batch: DemBatch): Promise<number> {
    return this.engine.step(batch);
  }

  params(): DemParams {
    const p = this.engine.params;
    return { w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
  }

  forward(knowledge: Matrix): Float32Array {
    return forwardParams(this.engine.params, knowledge);
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }
}

/**
 * Adam on the DEM network for one problem; `epoch()` is one shuffled pass in mini-batches. The engine is
 * created on `ready()` (or the first `epoch()`): both engines start from the same initial parameters and
 * see the same batches, so they follow the same trajectory up to float rounding.
 */
export class DemTrainer {
  private readonly init: DemParams;
  private readonly rng: Rng;
  private starting?: Promise<DemEngine>;
  private engine?: DemEngine;
  private info?: DemEngineInfo;

  constructor(
    private readonly p: DemProblem,
    private readonly settings: DemTrainerSettings,
    seed: number,
  ) {
    this.init = initDemParams(p.knowledge.cols, settings.hidden, p.x.cols, deriveSeed(seed, 'init'));
    this.rng = new Rng(deriveSeed(seed, 'batches'));
  }

  /**
   * Creates the engine (for onnx: compiles the step graph); resolves to the engine that runs. Throws
   * BackendError for `engine: onnx` when onnxruntime-node is unavailable.
   */
  async ready(): Promise<DemEngineInfo> {
    this.starting ??= this.start();
    this.engine = await this.starting;
    return this.info!;
  }

  private async start(): Promise<DemEngine> {
    const choice = this.settings.engine ?? 'auto';
    const { knowledge, x } = this.p;
    const opts = { lr: this.settings.lr, lambda: this.settings.lambda };
    const ort = choice === 'tfjs' ? undefined : await loadOnnxRuntime();
    if (choice === 'onnx' && !ort) throw new BackendError(`dem: engine 'onnx' needs onnxruntime-node, which is unavailable (${onnxRuntimeUnavailableReason()}); set the method option engine to 'auto' or 'tfjs'`);
    if (ort) {
      const ortEngine = await OnnxDemEngine.create(knowledge, x.cols, this.init, { ...opts, threads: this.settings.threads });
      this.info = { name: 'onnx', note: `onnx (onnxruntime, ${ortEngine.threads} thread${ortEngine.threads === 1 ? '' : 's'})` };
      return new OrtDemEngine(ortEngine);
    }
    this.info = { name: 'tfjs', note: choice === 'tfjs' ? 'tfjs (chosen)' : `tfjs (onnxruntime unavailable: ${onnxRuntimeUnavailableReason()})` };
    return new TfjsDemEngine(knowledge, x.cols, this.init, opts);
  }

  /** The engine that runs (after `ready()` or an epoch). */
  get engineInfo(): DemEngineInfo | undefined {
    return this.info;
  }

  /** One epoch; returns the mean batch loss. */
  async epoch(): Promise<number> {
    if (!this.engine) await this.ready();
    const engine = this.engine!;
    const N = this.p.x.rows;
    const order = this.rng.shuffle(Array.from({ length: N }, (_, i) => i));
    let total = 0;
    let steps = 0;
    for (let start = 0; start < N; start += this.settings.batchSize) {
      const batch = groupBatch(this.p.x, this.p.labels, order.slice(start, start + this.settings.batchSize));
      total += await engine.step(batch);
      steps++;
    }
    return total / Math.max(1, steps);
  }

  /** Prototypes f(a_c) of the given class embeddings (C′ × D). */
  prototypes(knowledge: Matrix): Float32Array {
    return this.engine ? this.engine.forward(knowledge) : forwardParams(this.init, knowledge);
  }

  /** The current parameters (copies). */
  params(): DemParams {
    if (this.engine) return this.engine.params();
    const p = this.init;
    return { w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
  }

  async dispose(): Promise<void> {
    // A failed start (engine 'onnx' without onnxruntime) has nothing to release.
    const engine = this.engine ?? (this.starting ? await this.starting.catch(() => undefined) : undefined);
    this.engine = undefined;
    await engine?.dispose();
  }
}

/** Scores of images against prototypes (N × C): −Euclidean distance, or cosine similarity. */
export function prototypeScores(x: Matrix, prototypes: Float32Array, numPrototypes: number, distance: DemDistance): Float32Array {
  const D = x.cols;
  return readTidy(() => {
    const X = tf.tensor2d(x.data, [x.rows, D]);
    const P = tf.tensor2d(prototypes, [numPrototypes, D]);
    const dot = tf.matMul(X, P, false, true);
    const x2 = tf.sum(tf.square(X), 1, true);
    const p2 = tf.sum(tf.square(P), 1).reshape([1, numPrototypes]);
    if (distance === 'cosine') return tf.div(dot, tf.maximum(tf.mul(tf.sqrt(x2), tf.sqrt(p2)), 1e-12));
    return tf.neg(tf.sqrt(tf.relu(tf.add(tf.sub(x2, tf.mul(2, dot)), p2))));
  });
}

interface DemFitted {
  /** Prototype of every class (numClasses × D, global class order). */
  readonly prototypes: Float32Array;
  readonly numClasses: number;
}

@injectable()
export class Dem implements ZeroShotMethod {
  private fitted?: DemFitted;

  constructor(@inject(TOKENS.options) private readonly opts: DemOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const o = this.opts;
    const { features, labels } = ctx.trainval;
    const knowledge = o.knowledgeNorm === 'l2' ? l2NormalizeRows(ctx.knowledge.matrix) : ctx.knowledge.matrix;
    const trainer = (classes: readonly number[], seed: number): DemTrainer => {
      const rows = samplesOf(labels, classes);
      return new DemTrainer({ x: selectRows(features, rows), labels: positions(labels, rows, classes), knowledge: selectRows(knowledge, classes) }, o, seed);
    };

    let t = ctx.log.stage('dem: epochs by validation');
    const split = splitSeenClasses(ctx.seen, o.valFraction, deriveSeed(ctx.seed, 'dem/val-split'));
    const valRows = samplesOf(labels, split.val);
    const xVal = selectRows(features, valRows);
    const valLabels = valRows.map((r) => labels[r]);
    const valKnowledge = selectRows(knowledge, split.val);
    const first = trainer(split.train, deriveSeed(ctx.seed, 'dem/select'));
    const engine = await first.ready();
    let best: { acc: number; epoch: number; prototypes: Float32Array } = { acc: -1, epoch: 0, prototypes: new Float32Array(0) };
    let sinceBest = 0;
    let lastLoss = NaN;
    for (let epoch = 1; epoch <= o.epochs && sinceBest < o.patience; epoch++) {
      lastLoss = await first.epoch();
      ctx.metric('select/train_loss', lastLoss, epoch);
      if (epoch % o.evalEvery !== 0 && epoch !== o.epochs) continue;
      const acc = candidateAccuracy(prototypeScores(xVal, first.prototypes(valKnowledge), split.val.length, o.distance), valLabels, split.val);
      ctx.metric('select/val_acc', acc, epoch);
      // Ties go to the later epoch: a saturated validation accuracy says nothing against more training.
      if (acc >= best.acc) {
        sinceBest = acc > best.acc ? 0 : sinceBest + 1;
        best = { acc, epoch, prototypes: o.retrain ? best.prototypes : first.prototypes(knowledge) };
      } else sinceBest++;
    }
    await first.dispose();
    t.end(`best epoch ${best.epoch}, val acc ${(100 * best.acc).toFixed(1)}% on ${split.val.length} held-out seen classes; engine ${engine.note}`);

    let prototypes = best.prototypes;
    if (o.retrain) {
      t = ctx.log.stage('dem: train on all seen classes');
      const final = trainer(ctx.seen, deriveSeed(ctx.seed, 'dem/final'));
      for (let epoch = 1; epoch <= best.epoch; epoch++) {
        lastLoss = await final.epoch();
        ctx.metric('train/loss', lastLoss, epoch);
      }
      prototypes = final.prototypes(knowledge);
      await final.dispose();
      t.end(`${best.epoch} epochs, loss ${lastLoss.toPrecision(4)}`);
    }
    this.fitted = { prototypes, numClasses: knowledge.rows };
    return {
      selected_epochs: best.epoch,
      val_acc: best.acc,
      val_classes: split.val.map((c) => ctx.classNames[c]).join(','),
      final_loss: lastLoss,
      hidden: o.hidden,
      distance: o.distance,
      engine: engine.name,
    };
  }

  scores(features: Matrix): Matrix {
    const f = this.fitted;
    if (!f) throw new StateError('dem: scores() called before fit()');
    return { rows: features.rows, cols: f.numClasses, data: prototypeScores(features, f.prototypes, f.numClasses, this.opts.distance) };
  }
}
