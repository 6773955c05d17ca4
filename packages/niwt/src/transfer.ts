/**
 * Stage D: learn unseen-class weights W_u (D × n_u) on the frozen penultimate features so that the network's
 * own importance for each unseen class matches the importance predicted from its knowledge:
 *
 *   L(W_u) = mean_j [1 − cos(α_{c_j}(x_j; W_u), â_{c_j})] + λ · ½‖W_u − μ1ᵀ‖²
 *
 * (defined once, for every implementation, in `stage-d-loss.ts`).
 * α_c(x; W_u) = Σ_ij ∂(W_u[:,c]ᵀ h(A(x)))/∂A_ij. Three exact implementations:
 * - `fast-ort` (the default of `trainUnseenWeightsAsync` when onnxruntime-node loads and compiles the head):
 *   the linearised head below as two ONNX graphs (`OrtLinearizedHead`) on every core.
 * - `fast` (the default otherwise when the head describes its layers): linear passes through the head frozen
 *   at each image's forward state (`LinearizedHead`, tfjs): one VJP for α, one JVP for ∂L/∂W_u.
 * - `reference`: α by backprop through the head and ∂L/∂W_u by a second backprop (double backprop).
 * Seen-centred initialisation; NIWT's 1 %-in-40-steps stop. With a checkpoint folder (the last argument of
 * `trainUnseenWeights*`), the run's state is saved at a bounded interval and a later call resumes from it with
 * the same result bits (`checkpoint.ts`).
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { BackendError, Rng, matrix, yieldToEventLoop, type Matrix, type TapHead } from '@niwt/core';
import { Adam, chooseEngine, variableFrom } from '@niwt/compute';
import { RelativeEarlyStop } from './early-stop.js';
import { StageDCheckpointer, stageDFingerprint, type StageDCheckpointing, type StageDState } from './checkpoint.js';
import type { EpochBest } from './epoch-best.js';
import { LinearizedHead, UnsupportedHead } from './linear-head.js';
import { OrtLinearizedHead } from './linear-head-ort.js';
import { cosineTerm, cosineTermOf, unitRows, weightPenalty, weightPenaltyStep } from './stage-d-loss.js';
import type { TapSource } from '@niwt/core';

export interface TransferData {
  readonly head: TapHead;
  /** Tap activations of images that are never test images. */
  readonly pool: TapSource;
  /** Seen weights D × n_s (for the initialisation and the λ pull). */
  readonly seenWeights: Matrix;
  /** Predicted importances of the unseen classes, n_u × K. */
  readonly targets: Matrix;
}

export interface TransferOptions {
  readonly lambda: number;
  readonly lr: number;
  readonly batchSize: number;
  /** Pairs (pool image, unseen class) per unseen class. */
  readonly pairsPerClass: number;
  readonly maxSteps: number;
  readonly patience: number;
  readonly minImprovement: number;
  readonly seed: number;
  /**
   * 'auto': the fastest engine available (`trainUnseenWeightsAsync`: onnxruntime, then tfjs; the synchronous
   * `trainUnseenWeights`: tfjs), double backprop when the head does not list its layers. 'fast' = the
   * linearised head on tfjs, 'fast-ort' = on onnxruntime (async only), 'reference' = double backprop.
   */
  readonly implementation?: 'auto' | 'fast-ort' | 'fast' | 'reference';
  /** Adam ε (default 1e-7, tfjs/Keras; the release ran TF1's `AdamOptimizer`, ε = 1e-8). */
  readonly adamEpsilon?: number;
  /**
   * Which weights are returned: 'last' (those at the stop, default) or 'best-epoch-loss' (the release: the
   * weights at the end of the epoch — one pass over the pairs — with the lowest mean training loss, `<=`).
   */
  readonly finalWeights?: 'last' | 'best-epoch-loss';
  /** Stop after this many passes over the pairs (the release's `num_epochs − 1`); no limit by default. */
  readonly maxEpochs?: number;
}

export interface TransferResult {
  /** D × n_u */
  readonly weights: Matrix;
  readonly steps: number;
  readonly finalLoss: number;
  readonly initialLoss: number;
  readonly implementation: TransferImplementation;
  /** Why `auto` fell back to the reference, if it did. */
  readonly fallbackReason?: string;
  /** Why `auto` (async) did not use onnxruntime, if it did not. */
  readonly ortUnavailableReason?: string;
  readonly losses: number[];
  /** Epoch whose weights were returned with `finalWeights: 'best-epoch-loss'` (1-based), and its mean loss. */
  readonly bestEpoch?: { readonly epoch: number; readonly meanLoss: number };
}

/** Row statistics of the seen weights: mean μ_d and population std σ_d of each row. */
export function rowStats(w: Matrix): { mean: Float32Array; std: Float32Array } {
  const mean = new Float32Array(w.rows);
  const std = new Float32Array(w.rows);
  for (let d = 0; d < w.rows; d++) {
    let s = 0;
    for (let c = 0; c < w.cols; c++) s += w.data[d * w.cols + c];
    const m = s / w.cols;
    let v = 0;
    for (let c = 0; c < w.cols; c++) v += (w.data[d * w.cols + c] - m) ** 2;
    mean[d] = m;
    std[d] = Math.sqrt(v / w.cols);
  }
  return { mean, std };
}

/** Seen-centred initialisation W_u[d, c] ~ N(μ_d, σ_d²). */
export function seenCentredInit(seen: Matrix, numUnseen: number, rng: Rng): Matrix {
  const { mean, std } = rowStats(seen);
  const out = new Float32Array(seen.rows * numUnseen);
  for (let d = 0; d < seen.rows; d++)
    for (let c = 0; c < numUnseen; c++) out[d * numUnseen + c] = mean[d] + std[d] * rng.normal();
  return matrix(seen.rows, numUnseen, out);
}

/** `tf.oneHot`, also for one class (tfjs refuses depth 1: NIWT with a single unseen class). */
function oneHot(classes: tf.Tensor1D, depth: number): tf.Tensor2D {
  return depth === 1 ? tf.ones([classes.shape[0], 1], 'int32') : (tf.oneHot(classes, depth) as tf.Tensor2D);
}

/**
 * The stage D loss for one batch as a differentiable function of W_u (the reference: double backprop).
 * @param tapBatch B × h × w × k; `classes` the unseen column of each pair; `targetsHat` n_u × K unit rows.
 */
export function transferLoss(
  head: TapHead,
  wu: tf.Tensor2D,
  tapBatch: tf.Tensor4D,
  classes: tf.Tensor1D,
  targetsHat: tf.Tensor2D,
  mu: tf.Tensor2D,
  lambda: number,
): tf.Scalar {
  // one-hot matmul instead of gather: gather's gradient needs UnsortedSegmentSum, which WASM lacks
  const wPer = tf.matMul(oneHot(classes, wu.shape[1]), wu, false, true) as tf.Tensor2D; // B × D
  const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(head.apply(a as tf.Tensor4D), wPer)))(tapBatch);
  const alpha = tf.sum(grad, [1, 2]) as tf.Tensor2D; // B × K
  return tf.add(cosineTerm(alpha, targetsHat, classes), weightPenalty(wu, mu, lambda)) as tf.Scalar;
}

/** Per-image forward states of the pool images used, packed as bits in a temporary file (constant memory). */
class StateStore {
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-stage-d-'));
  private readonly fd = openSync(path.join(this.dir, 'states.bin'), 'w+');
  private readonly slot = new Map<number, number>();

  constructor(
    private readonly lin: LinearizedHead,
    pool: TapSource,
    images: readonly number[],
    batch: number,
  ) {
    const [h, w, k] = pool.shape;
    for (let s = 0; s < images.length; s += batch) {
      const idx = images.slice(s, s + batch);
      const tap = tf.tensor4d(pool.read(idx), [idx.length, h, w, k]);
      const bits = lin.state(tap);
      tap.dispose();
      writeSync(this.fd, bits, 0, bits.length, s * lin.bytesPerImage);
      idx.forEach((img, j) => this.slot.set(img, s + j));
    }
  }

  read(images: readonly number[]): Uint8Array {
    const n = this.lin.bytesPerImage;
    const out = new Uint8Array(images.length * n);
    images.forEach((img, j) => readSync(this.fd, out, j * n, n, this.slot.get(img)! * n));
    return out;
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The engine stage D ran on. */
export type TransferImplementation = 'fast-ort' | 'fast' | 'reference';

function linearize(
  data: TransferData,
  want: NonNullable<TransferOptions['implementation']>,
): { lin?: LinearizedHead; fallbackReason?: string } {
  if (want === 'reference') return {};
  let fallbackReason: string | undefined;
  if (!data.head.layers) fallbackReason = 'the backbone head does not list its layers';
  else {
    try {
      return { lin: new LinearizedHead(data.head.layers, data.pool.shape) };
    } catch (e) {
      if (!(e instanceof UnsupportedHead)) throw e;
      fallbackReason = e.message;
    }
  }
  if (want !== 'auto') throw new UnsupportedHead(`fast stage D is not available: ${fallbackReason}`);
  return { fallbackReason };
}

/** The state of one stage D run, shared by the synchronous (tfjs) and asynchronous (onnxruntime) loops. */
class StageD {
  readonly nU: number;
  readonly wu: tf.Variable<tf.Rank.R2>;
  readonly mu: tf.Tensor2D;
  readonly targetsHat: tf.Tensor2D;
  readonly optimizer: Adam;
  readonly store?: StateStore;
  readonly losses: number[] = [];
  private rng: Rng;
  private readonly rows: number;
  private readonly pairs: [number, number][] = [];
  private readonly stop: RelativeEarlyStop;
  private order: [number, number][];
  private cursor = 0;
  step = 0;
  loss = NaN;
  /** The early stop fired (restored from a checkpoint written at the end). */
  stopped = false;
  /** `finalWeights: 'best-epoch-loss'` bookkeeping (part of the loop's state). */
  readonly epochs: EpochBest = { epoch: 1, sum: 0, count: 0 };

  constructor(
    readonly data: TransferData,
    readonly opts: TransferOptions,
    readonly lin: LinearizedHead | undefined,
  ) {
    this.rng = new Rng(opts.seed);
    const nU = (this.nU = data.targets.rows);
    const K = data.targets.cols;
    const init = seenCentredInit(data.seenWeights, nU, this.rng);
    this.rows = init.rows;
    // A uniform number of pairs per unseen class, images drawn from the pool.
    for (let c = 0; c < nU; c++) {
      const order = this.rng.shuffle(Array.from({ length: data.pool.size }, (_, i) => i));
      for (let j = 0; j < opts.pairsPerClass; j++) this.pairs.push([order[j % order.length], c]);
    }
    const { mean } = rowStats(data.seenWeights);
    this.wu = variableFrom<tf.Rank.R2>(init.data, [init.rows, nU]);
    this.mu = tf.tidy(() => tf.tile(tf.tensor2d(mean, [mean.length, 1]), [1, nU]) as tf.Tensor2D);
    this.targetsHat = tf.tidy(() => unitRows(tf.tensor2d(data.targets.data, [nU, K])));
    this.optimizer = new Adam([this.wu], { lr: opts.lr, epsilon: opts.adamEpsilon });
    this.stop = new RelativeEarlyStop(opts.patience, opts.minImprovement);
    this.store = lin
      ? new StateStore(
          lin,
          data.pool,
          [...new Set(this.pairs.map(([img]) => img))].sort((a, b) => a - b),
          Math.max(1, opts.batchSize),
        )
      : undefined;
    this.order = this.rng.shuffle(this.pairs);
  }

  /**
   * Restores the state saved in `c.dir` for this run and engine, if any (`step` is then the last step done);
   * returns the checkpointer the loop calls after each step, or undefined without checkpoints.
   */
  resume(c: StageDCheckpointing | undefined, implementation: TransferImplementation): StageDCheckpointer | undefined {
    if (!c) return undefined;
    const { ortThreads, implementation: _asked, ...rest } = this.opts as TransferOptions & { ortThreads?: number };
    const options = { ...rest, ortThreads: implementation === 'fast-ort' ? ortThreads : undefined };
    const { pool, seenWeights, targets } = this.data;
    const inputs = { tapShape: pool.shape, poolSize: pool.size, seenWeights, targets };
    const ck = new StageDCheckpointer(c, stageDFingerprint(inputs, options, implementation));
    const s = ck.restore(this.wu.size, this.pairs.length);
    if (s) {
      tf.tidy(() => this.wu.assign(tf.tensor2d(s.wu, this.wu.shape)));
      this.optimizer.setState(s.adam);
      this.rng = Rng.fromState(s.rngState);
      const pair = (i: number): [number, number] => [s.order[2 * i], s.order[2 * i + 1]];
      this.order = Array.from({ length: s.order.length / 2 }, (_, i) => pair(i));
      this.cursor = s.cursor;
      this.stop.setState({ monitor: s.stopMonitor, count: s.stopCount });
      this.step = s.step;
      this.stopped = s.stopped;
      this.loss = s.loss;
      this.losses.push(...s.losses);
      Object.assign(this.epochs, s.epochs);
    }
    return ck;
  }

  /** The state after the current step (`stopped`: the early stop fired at it). */
  snapshot(stopped: boolean): StageDState {
    const stop = this.stop.getState();
    return {
      step: this.step,
      stopped,
      wu: this.wu.dataSync() as Float32Array,
      adam: this.optimizer.getState(),
      rngState: this.rng.getState(),
      order: Int32Array.from(this.order.flat()),
      cursor: this.cursor,
      stopMonitor: stop.monitor,
      stopCount: stop.count,
      loss: this.loss,
      losses: this.losses,
      epochs: { ...this.epochs },
    };
  }

  /** The next batch of (pool image, unseen class) pairs, or undefined once `maxEpochs` passes are done. */
  nextBatch(): [number, number][] | undefined {
    if (this.cursor + this.opts.batchSize > this.order.length) {
      this.endEpoch();
      if (this.opts.maxEpochs !== undefined && this.epochs.epoch > this.opts.maxEpochs) return undefined;
      this.order = this.rng.shuffle(this.pairs);
      this.cursor = 0;
    }
    const batch = this.order.slice(this.cursor, this.cursor + this.opts.batchSize);
    this.cursor += batch.length;
    return batch;
  }

  /** Closes the current epoch: keeps its end weights when its mean loss is the lowest so far (the release's `<=`). */
  private endEpoch(): void {
    const e = this.epochs;
    if (e.count > 0 && this.opts.finalWeights === 'best-epoch-loss') {
      const meanLoss = e.sum / e.count;
      if (!e.best || meanLoss <= e.best.meanLoss)
        e.best = { epoch: e.epoch, meanLoss, weights: this.wu.dataSync().slice() as Float32Array };
    }
    if (e.count > 0) e.epoch++;
    e.sum = 0;
    e.count = 0;
  }

  /** Records a step's loss; true when the early stop fires. */
  record(loss: number, onStep?: (step: number, loss: number) => void): boolean {
    this.loss = loss;
    this.losses.push(loss);
    this.epochs.sum += loss;
    this.epochs.count++;
    onStep?.(this.step, loss);
    return this.stop.step(loss);
  }

  /** A reference (double backprop) step. */
  referenceStep(batch: readonly [number, number][], cls: tf.Tensor1D): number {
    const [h, w, k] = this.data.pool.shape;
    const a = tf.tensor4d(this.data.pool.read(batch.map(([img]) => img)), [batch.length, h, w, k]);
    try {
      return this.optimizer.step(() =>
        transferLoss(this.data.head, this.wu, a, cls, this.targetsHat, this.mu, this.opts.lambda),
      );
    } finally {
      a.dispose();
    }
  }

  result(
    implementation: TransferImplementation,
    fallbackReason: string | undefined,
    ortUnavailableReason: string | undefined,
  ): TransferResult {
    // the release also scores the partial epoch the early stop ended
    this.endEpoch();
    const best = this.epochs.best;
    return {
      weights: matrix(this.rows, this.nU, best ? best.weights : (this.wu.dataSync().slice() as Float32Array)),
      bestEpoch: best ? { epoch: best.epoch, meanLoss: best.meanLoss } : undefined,
      steps: this.losses.length,
      finalLoss: this.loss,
      initialLoss: this.losses[0],
      implementation,
      fallbackReason,
      ortUnavailableReason,
      losses: this.losses,
    };
  }

  dispose(): void {
    this.store?.close();
    this.lin?.dispose();
    this.optimizer.dispose();
    tf.dispose([this.wu, this.mu, this.targetsHat]);
  }
}

/**
 * Stage D on tfjs: the linearised head ('fast', also for 'auto') or double backprop ('reference').
 * onnxruntime needs the asynchronous `trainUnseenWeightsAsync`; 'fast-ort' is refused here.
 */
export function trainUnseenWeights(
  data: TransferData,
  opts: TransferOptions,
  onStep?: (step: number, loss: number) => void,
  checkpoint?: StageDCheckpointing,
): TransferResult {
  const want = opts.implementation ?? 'auto';
  if (want === 'fast-ort')
    throw new UnsupportedHead(
      "implementation 'fast-ort' runs on onnxruntime, which is asynchronous: call trainUnseenWeightsAsync",
    );
  const { lin, fallbackReason } = linearize(data, want);
  const run = new StageD(data, opts, lin);
  try {
    const ck = run.resume(checkpoint, lin ? 'fast' : 'reference');
    // a run restored after its early stop has no steps left (its `step` stays the stopping step)
    if (!run.stopped)
      for (run.step += 1; run.step <= opts.maxSteps; run.step++) {
        const batch = run.nextBatch();
        if (!batch) break;
        const cls = tf.tensor1d(
          Int32Array.from(batch, ([, c]) => c),
          'int32',
        );
        let loss: number;
        try {
          loss =
            lin && run.store
              ? fastStep(
                  lin,
                  run.store.read(batch.map(([img]) => img)),
                  batch.length,
                  run.wu,
                  cls,
                  run.targetsHat,
                  run.mu,
                  opts.lambda,
                  run.optimizer,
                )
              : run.referenceStep(batch, cls);
        } finally {
          cls.dispose();
        }
        const stop = run.record(loss, onStep);
        ck?.afterStep(run.step, stop || run.step === opts.maxSteps, () => run.snapshot(stop));
        if (stop) break;
      }
    return run.result(lin ? 'fast' : 'reference', fallbackReason, undefined);
  } finally {
    run.dispose();
  }
}

/**
 * Stage D with every engine: 'auto' prefers the linearised head on onnxruntime ('fast-ort', both cores at
 * the CPU's conv/GEMM speed), then on tfjs ('fast'), then double backprop ('reference'); the result says
 * which ran and why a faster one did not (`ortUnavailableReason`, `fallbackReason`). Same losses as
 * `trainUnseenWeights` (same pairs, batches, states and initialisation).
 */
export async function trainUnseenWeightsAsync(
  data: TransferData,
  opts: TransferOptions & { readonly ortThreads?: number },
  onStep?: (step: number, loss: number) => void,
  checkpoint?: StageDCheckpointing,
): Promise<TransferResult> {
  const want = opts.implementation ?? 'auto';
  if (want === 'fast' || want === 'reference') return trainUnseenWeights(data, opts, onStep, checkpoint);
  if (want === 'auto' && tf.getBackend() === 'tensorflow') {
    // On the native backend, the measured engine table decides between onnxruntime and tfjs.
    const pick = chooseEngine('stageD', ['onnx', 'tensorflow']);
    if (pick.engine === 'tensorflow')
      return {
        ...trainUnseenWeights(data, { ...opts, implementation: 'auto' }, onStep, checkpoint),
        ortUnavailableReason: pick.why,
      };
  }
  const { lin, fallbackReason } = linearize(data, want === 'fast-ort' ? 'fast' : 'auto');
  let ort: OrtLinearizedHead | undefined;
  let ortUnavailableReason: string | undefined;
  if (lin) {
    try {
      ort = await OrtLinearizedHead.create(lin, { threads: opts.ortThreads });
    } catch (e) {
      if (!(e instanceof UnsupportedHead || e instanceof BackendError) || want === 'fast-ort') {
        lin.dispose();
        throw e;
      }
      ortUnavailableReason = e.message;
    }
  }
  if (!ort) {
    lin?.dispose();
    const result = trainUnseenWeights(data, { ...opts, implementation: 'auto' }, onStep, checkpoint);
    return { ...result, ortUnavailableReason: ortUnavailableReason ?? fallbackReason };
  }
  const run = new StageD(data, opts, lin);
  try {
    const ck = run.resume(checkpoint, 'fast-ort');
    // a run restored after its early stop has no steps left (its `step` stays the stopping step)
    if (!run.stopped)
      for (run.step += 1; run.step <= opts.maxSteps; run.step++) {
        const batch = run.nextBatch();
        if (!batch) break;
        const loss = await ortStep(ort, run.store!.read(batch.map(([img]) => img)), batch, run, opts.lambda);
        const stop = run.record(loss, onStep);
        ck?.afterStep(run.step, stop || run.step === opts.maxSteps, () => run.snapshot(stop));
        if (stop) break;
        await yieldToEventLoop(); // onnxruntime's promise may settle without a macrotask: let signals in
      }
    return run.result('fast-ort', undefined, undefined);
  } finally {
    run.dispose();
    await ort.dispose();
  }
}

/** One exact step on onnxruntime (α, the cosine gradient and the adjoint in one graph); Adam in tfjs. */
async function ortStep(
  ort: OrtLinearizedHead,
  bits: Uint8Array,
  batch: readonly [number, number][],
  run: StageD,
  lambda: number,
): Promise<number> {
  const B = batch.length;
  const classes = Int32Array.from(batch, ([, c]) => c);
  let wPer: Float32Array = new Float32Array(0);
  let t: Float32Array = new Float32Array(0);
  // (typed arrays are assigned, not returned: tidy would walk a returned array element by element)
  tf.tidy(() => {
    const cls = tf.tensor1d(classes, 'int32');
    wPer = tf.matMul(oneHot(cls, run.nU), run.wu, false, true).dataSync() as Float32Array; // B × D
    t = tf.gather(run.targetsHat, cls).dataSync() as Float32Array; // B × K
  });
  const { cos, adjoint } = await ort.step(bits, B, wPer, t);
  let loss = cosineTermOf(cos);
  tf.tidy(() => {
    const onehot = oneHot(tf.tensor1d(classes, 'int32'), run.nU);
    const penalty = weightPenaltyStep(run.wu, run.mu, lambda);
    const gW = tf.add(tf.matMul(tf.tensor2d(adjoint, [B, ort.D]), onehot, true, false), penalty.grad); // D × n_u
    loss += penalty.value;
    run.optimizer.applyGradients([gW]);
  });
  return loss;
}

/** One exact step through the linearised head; returns the loss before the update. */
function fastStep(
  lin: LinearizedHead,
  bits: Uint8Array,
  B: number,
  wu: tf.Variable<tf.Rank.R2>,
  cls: tf.Tensor1D,
  targetsHat: tf.Tensor2D,
  mu: tf.Tensor2D,
  lambda: number,
  optimizer: Adam,
): number {
  let loss = NaN;
  tf.tidy(() => {
    const masks = lin.masks(bits, B);
    const onehot = oneHot(cls, wu.shape[1]);
    const wPer = tf.matMul(onehot, wu, false, true) as tf.Tensor2D; // B × D
    const alpha = lin.alpha(masks, wPer); // B × K
    const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => cosineTerm(a as tf.Tensor2D, targetsHat, cls))(alpha);
    const penalty = weightPenaltyStep(wu, mu, lambda);
    const gW = tf.add(tf.matMul(lin.adjoint(masks, grad as tf.Tensor2D), onehot, true, false), penalty.grad); // D × n_u
    loss = value.dataSync()[0] + penalty.value;
    optimizer.applyGradients([gW]);
  });
  return loss;
}
