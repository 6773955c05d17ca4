/**
 * Stage D: learn unseen-class weights W_u (D × n_u) on the frozen penultimate features so that the network's
 * own importance for each unseen class matches the importance predicted from its knowledge:
 *
 *   L(W_u) = mean_j [1 − cos(α_{c_j}(x_j; W_u), â_{c_j})] + λ · ½‖W_u − μ1ᵀ‖²
 *
 * α_c(x; W_u) = Σ_ij ∂(W_u[:,c]ᵀ h(A(x)))/∂A_ij. Two exact implementations:
 * - `fast` (default when the head describes its layers): linear passes through the head frozen at each
 *   image's forward state (`LinearizedHead`): one VJP for α, one JVP for ∂L/∂W_u.
 * - `reference`: α by backprop through the head and ∂L/∂W_u by a second backprop (double backprop).
 * Seen-centred initialisation; NIWT's 1 %-in-40-steps stop.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Adam, Rng, variableFrom, matrix, type Matrix, type TapHead } from '@niwt/core';
import { RelativeEarlyStop } from './early-stop.js';
import { LinearizedHead, UnsupportedHead } from './linear-head.js';
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
  /** 'auto': fast when the head lists its layers, else reference. */
  readonly implementation?: 'auto' | 'fast' | 'reference';
}

export interface TransferResult {
  /** D × n_u */
  readonly weights: Matrix;
  readonly steps: number;
  readonly finalLoss: number;
  readonly initialLoss: number;
  readonly implementation: 'fast' | 'reference';
  /** Why `auto` fell back to the reference, if it did. */
  readonly fallbackReason?: string;
  readonly losses: number[];
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
  for (let d = 0; d < seen.rows; d++) for (let c = 0; c < numUnseen; c++) out[d * numUnseen + c] = mean[d] + std[d] * rng.normal();
  return matrix(seen.rows, numUnseen, out);
}

/** Data term of the loss from α: mean_j [1 − cos(α_j, t̂_{c_j})]. */
function cosineTerm(alpha: tf.Tensor2D, targetsHat: tf.Tensor2D, classes: tf.Tensor1D): tf.Scalar {
  const alphaHat = tf.div(alpha, tf.add(tf.norm(alpha, 'euclidean', 1, true), 1e-12));
  return tf.mean(tf.sub(1, tf.sum(tf.mul(alphaHat, tf.gather(targetsHat, classes)), 1)));
}

/**
 * The stage D loss for one batch as a differentiable function of W_u (the reference: double backprop).
 * @param tapBatch B × h × w × k; `classes` the unseen column of each pair; `targetsHat` n_u × K unit rows.
 */
export function transferLoss(head: TapHead, wu: tf.Tensor2D, tapBatch: tf.Tensor4D, classes: tf.Tensor1D, targetsHat: tf.Tensor2D, mu: tf.Tensor2D, lambda: number): tf.Scalar {
  // one-hot matmul instead of gather: gather's gradient needs UnsortedSegmentSum, which WASM lacks
  const wPer = tf.matMul(tf.oneHot(classes, wu.shape[1]), wu, false, true) as tf.Tensor2D; // B × D
  const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(head.apply(a as tf.Tensor4D), wPer)))(tapBatch);
  const alpha = tf.sum(grad, [1, 2]) as tf.Tensor2D; // B × K
  return tf.add(cosineTerm(alpha, targetsHat, classes), tf.mul(lambda / 2, tf.sum(tf.square(tf.sub(wu, mu))))) as tf.Scalar;
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

export function trainUnseenWeights(data: TransferData, opts: TransferOptions, onStep?: (step: number, loss: number) => void): TransferResult {
  const rng = new Rng(opts.seed);
  const nU = data.targets.rows;
  const K = data.targets.cols;
  const [h, w, k] = data.pool.shape;
  const init = seenCentredInit(data.seenWeights, nU, rng);

  // A uniform number of pairs per unseen class, images drawn from the pool.
  const pairs: [number, number][] = [];
  for (let c = 0; c < nU; c++) {
    const order = rng.shuffle(Array.from({ length: data.pool.size }, (_, i) => i));
    for (let j = 0; j < opts.pairsPerClass; j++) pairs.push([order[j % order.length], c]);
  }

  let lin: LinearizedHead | undefined;
  let fallbackReason: string | undefined;
  const want = opts.implementation ?? 'auto';
  if (want !== 'reference') {
    if (!data.head.layers) fallbackReason = 'the backbone head does not list its layers';
    else {
      try {
        lin = new LinearizedHead(data.head.layers, [h, w, k]);
      } catch (e) {
        if (!(e instanceof UnsupportedHead)) throw e;
        fallbackReason = e.message;
      }
    }
    if (!lin && want === 'fast') throw new UnsupportedHead(`fast stage D is not available: ${fallbackReason}`);
  }

  const { mean } = rowStats(data.seenWeights);
  const wu = variableFrom<tf.Rank.R2>(init.data, [init.rows, nU]);
  const mu = tf.tidy(() => tf.tile(tf.tensor2d(mean, [mean.length, 1]), [1, nU]) as tf.Tensor2D);
  const targetsHat = tf.tidy(() => {
    const t = tf.tensor2d(data.targets.data, [nU, K]);
    return tf.div(t, tf.add(tf.norm(t, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
  });
  const optimizer = new Adam([wu], { lr: opts.lr });
  const stop = new RelativeEarlyStop(opts.patience, opts.minImprovement);
  const store = lin ? new StateStore(lin, data.pool, [...new Set(pairs.map(([img]) => img))].sort((a, b) => a - b), Math.max(1, opts.batchSize)) : undefined;
  let order = rng.shuffle(pairs);
  let cursor = 0;
  let step = 0;
  let loss = NaN;
  const losses: number[] = [];
  try {
    for (step = 1; step <= opts.maxSteps; step++) {
      if (cursor + opts.batchSize > order.length) {
        order = rng.shuffle(pairs);
        cursor = 0;
      }
      const batch = order.slice(cursor, cursor + opts.batchSize);
      cursor += batch.length;
      const cls = tf.tensor1d(Int32Array.from(batch, ([, c]) => c), 'int32');
      if (lin && store) {
        loss = fastStep(lin, store.read(batch.map(([img]) => img)), batch.length, wu, cls, targetsHat, mu, opts.lambda, optimizer);
      } else {
        const a = tf.tensor4d(data.pool.read(batch.map(([img]) => img)), [batch.length, h, w, k]);
        loss = optimizer.step(() => transferLoss(data.head, wu, a, cls, targetsHat, mu, opts.lambda));
        a.dispose();
      }
      cls.dispose();
      losses.push(loss);
      onStep?.(step, loss);
      if (stop.step(loss)) break;
    }
    return {
      weights: matrix(init.rows, nU, wu.dataSync().slice() as Float32Array),
      steps: Math.min(step, opts.maxSteps),
      finalLoss: loss,
      initialLoss: losses[0],
      implementation: lin ? 'fast' : 'reference',
      fallbackReason,
      losses,
    };
  } finally {
    store?.close();
    lin?.dispose();
    optimizer.dispose();
    tf.dispose([wu, mu, targetsHat]);
  }
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
    const onehot = tf.oneHot(cls, wu.shape[1]);
    const wPer = tf.matMul(onehot, wu, false, true) as tf.Tensor2D; // B × D
    const alpha = lin.alpha(masks, wPer); // B × K
    const { value, grad } = tf.valueAndGrad((a: tf.Tensor) => cosineTerm(a as tf.Tensor2D, targetsHat, cls))(alpha);
    const diff = tf.sub(wu, mu);
    const gW = tf.add(tf.matMul(lin.adjoint(masks, grad as tf.Tensor2D), onehot, true, false), tf.mul(lambda, diff)); // D × n_u
    loss = value.dataSync()[0] + (lambda / 2) * tf.sum(tf.square(diff)).dataSync()[0];
    optimizer.applyGradients([gW]);
  });
  return loss;
}
