/**
 * Stage D: learn unseen-class weights W_u (D × n_u) on the frozen penultimate features so that the network's
 * own importance for each unseen class matches the importance predicted from its knowledge:
 *
 *   L(W_u) = mean_j [1 − cos(α_{c_j}(x_j; W_u), â_{c_j})] + λ · ½‖W_u − μ1ᵀ‖²
 *
 * where α_c(x; W_u) = Σ_ij ∂(W_u[:,c]ᵀ h(A(x)))/∂A_ij is computed by backprop through the tap head and
 * its gradient in W_u by a second backprop. Seen-centred initialisation; NIWT's 1 %-in-40-steps stop.
 */
import * as tf from '@tensorflow/tfjs';
import { Adam, Rng, variableFrom, matrix, type Matrix, type TapHead } from '@niwt/core';
import { RelativeEarlyStop } from './early-stop.js';

export interface TransferData {
  readonly head: TapHead;
  /** Pool tap activations, P × h × w × k flattened (images that are never test images). */
  readonly poolTap: Float32Array;
  readonly poolSize: number;
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
}

export interface TransferResult {
  /** D × n_u */
  readonly weights: Matrix;
  readonly steps: number;
  readonly finalLoss: number;
  readonly initialLoss: number;
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

/**
 * The stage D loss for one batch, as a differentiable function of W_u.
 * @param tapBatch B × h × w × k; `classes` the unseen column of each pair; `targetsHat` n_u × K unit rows.
 */
export function transferLoss(head: TapHead, wu: tf.Tensor2D, tapBatch: tf.Tensor4D, classes: tf.Tensor1D, targetsHat: tf.Tensor2D, mu: tf.Tensor2D, lambda: number): tf.Scalar {
  // one-hot matmul instead of gather: gather's gradient needs UnsortedSegmentSum, which WASM lacks
  const wPer = tf.matMul(tf.oneHot(classes, wu.shape[1]), wu, false, true) as tf.Tensor2D; // B × D
  const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(head.apply(a as tf.Tensor4D), wPer)))(tapBatch);
  const alpha = tf.sum(grad, [1, 2]) as tf.Tensor2D; // B × K
  const alphaHat = tf.div(alpha, tf.add(tf.norm(alpha, 'euclidean', 1, true), 1e-12));
  const cos = tf.sum(tf.mul(alphaHat, tf.gather(targetsHat, classes)), 1);
  const data = tf.mean(tf.sub(1, cos));
  const pull = tf.mul(lambda / 2, tf.sum(tf.square(tf.sub(wu, mu))));
  return tf.add(data, pull) as tf.Scalar;
}

export function trainUnseenWeights(data: TransferData, opts: TransferOptions, onStep?: (step: number, loss: number) => void): TransferResult {
  const rng = new Rng(opts.seed);
  const nU = data.targets.rows;
  const K = data.targets.cols;
  const [h, w, k] = data.head.tap.shape;
  const per = h * w * k;
  const init = seenCentredInit(data.seenWeights, nU, rng);

  // A uniform number of pairs per unseen class, images drawn from the pool.
  const pairs: [number, number][] = [];
  for (let c = 0; c < nU; c++) {
    const order = rng.shuffle(Array.from({ length: data.poolSize }, (_, i) => i));
    for (let j = 0; j < opts.pairsPerClass; j++) pairs.push([order[j % order.length], c]);
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
  let order = rng.shuffle(pairs);
  let cursor = 0;
  let step = 0;
  let loss = NaN;
  let initialLoss = NaN;
  try {
    for (step = 1; step <= opts.maxSteps; step++) {
      if (cursor + opts.batchSize > order.length) {
        order = rng.shuffle(pairs);
        cursor = 0;
      }
      const batch = order.slice(cursor, cursor + opts.batchSize);
      cursor += batch.length;
      const tapData = new Float32Array(batch.length * per);
      batch.forEach(([img], i) => tapData.set(data.poolTap.subarray(img * per, (img + 1) * per), i * per));
      const a = tf.tensor4d(tapData, [batch.length, h, w, k]);
      const cls = tf.tensor1d(Int32Array.from(batch, ([, c]) => c), 'int32');
      loss = optimizer.step(() => transferLoss(data.head, wu, a, cls, targetsHat, mu, opts.lambda));
      tf.dispose([a, cls]);
      if (step === 1) initialLoss = loss;
      onStep?.(step, loss);
      if (stop.step(loss)) break;
    }
    return { weights: matrix(init.rows, nU, wu.dataSync().slice() as Float32Array), steps: Math.min(step, opts.maxSteps), finalLoss: loss, initialLoss };
  } finally {
    optimizer.dispose();
    tf.dispose([wu, mu, targetsHat]);
  }
}
