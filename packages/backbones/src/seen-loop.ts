/**
 * The seen-class training loop the small CNN and the `features` backbone share: Adam on softmax
 * cross-entropy plus λ/2·‖kernels‖², seeded shuffles and dropout seeds (one `rng.fork()` per step),
 * early stopping on the validation accuracy, and the best epoch's weights restored at the end.
 * With a checkpoint folder, the state after every epoch is saved there (`seen-checkpoint.ts`) and a later
 * call resumes after the last saved epoch: a run killed at any moment ends with the same bits as one that
 * was not (a kill mid-epoch loses that epoch's steps only).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng, hashOf, yieldToEventLoop, type Logger, type SeenTrainingData, type SeenTrainingReport } from '@niwt/core';
import { Adam } from '@niwt/compute';
import { readSeenCheckpoint, seenCheckpointFile, writeSeenCheckpoint } from './seen-checkpoint.js';

export interface SeenLoopSettings {
  readonly lr: number;
  readonly weightDecay: number;
  readonly epochs: number;
  readonly patience: number;
  readonly batchSize: number;
}

export interface SeenLoop {
  /** Progress-bar label. */
  readonly label: string;
  /** Every trained variable; those named `…kernel` get the weight decay. */
  readonly vars: readonly tf.Variable[];
  /** Training inputs, one flattened row per sample, and the shape of one row. */
  readonly rows: Float32Array;
  readonly rowShape: readonly number[];
  readonly labels: Int32Array;
  readonly numClasses: number;
  readonly logits: (x: tf.Tensor, dropoutSeed: number) => tf.Tensor2D;
  /** Accuracy on the validation split; absent when there is none (the training accuracy is used). */
  readonly valAccuracy?: () => Promise<number>;
  readonly settings: SeenLoopSettings;
  readonly rng: Rng;
  readonly log: Logger;
  /**
   * Per-epoch checkpoints in `dir`, resumed from when present; `fingerprint` identifies the inputs (a saved
   * checkpoint with another fingerprint, or other shapes or settings, is ignored with a warning).
   */
  readonly checkpoint?: { readonly dir: string; readonly fingerprint: string };
}

/** What a backbone's seen-loop checkpoint is for: its name, options, run seed, and the training data. */
export function seenCheckpointFingerprint(
  backbone: string,
  options: unknown,
  seed: number,
  data: SeenTrainingData,
): string {
  const { dataset, seenClasses, trainIndices, valIndices } = data;
  const source = [dataset.name, dataset.root, dataset.samples.length];
  return hashOf({ backbone, options, seed, dataset: source, seenClasses, trainIndices, valIndices });
}

/** The progress detail after an epoch's checkpoint is on disk (tests kill a run exactly there). */
export const checkpointedDetail = (epoch: number): string => `epoch ${epoch} checkpointed`;

export async function runSeenLoop(o: SeenLoop): Promise<Omit<SeenTrainingReport, 'seconds'>> {
  const { settings: train, labels } = o;
  const per = o.rowShape.reduce((a, b) => a * b, 1);
  const kernels = o.vars.filter((v) => v.name.endsWith('kernel'));
  const optimizer = new Adam(o.vars, { lr: train.lr });
  const steps = Math.ceil(labels.length / train.batchSize);
  const bar = o.log.progress(o.label, train.epochs * steps);
  let rng = o.rng;
  let best = { acc: -1, epoch: 0, weights: [] as readonly Float32Array[] };
  let trainAcc = 0;
  let done = 0;
  let stopped = false;
  const ckpt = o.checkpoint && {
    dir: o.checkpoint.dir,
    // the caller's inputs, plus what this loop can check itself: settings, variable shapes, labels
    fingerprint: hashOf({
      inputs: o.checkpoint.fingerprint,
      settings: train,
      shapes: o.vars.map((v) => v.shape),
      rowShape: o.rowShape,
      labels: hashOf(Array.from(labels)),
    }),
  };
  if (ckpt) {
    const { state, ignored } = readSeenCheckpoint(
      ckpt.dir,
      ckpt.fingerprint,
      o.vars.map((v) => v.size),
    );
    if (ignored) {
      const file = seenCheckpointFile(ckpt.dir);
      o.log.warn(`${o.label}: ignoring the checkpoint ${file}: ${ignored}; training from epoch 1`);
    }
    if (state) {
      tf.tidy(() => o.vars.forEach((v, i) => v.assign(tf.tensor(state.weights[i], v.shape))));
      optimizer.setState(state.adam);
      rng = Rng.fromState(state.rngState);
      best = state.best;
      trainAcc = state.trainAcc;
      done = state.epoch;
      stopped = state.stopped;
      bar.tick(done * steps, `resumed after epoch ${done}`);
      o.log.info(`${o.label}: resuming after epoch ${done} from ${seenCheckpointFile(ckpt.dir)}`);
    }
  }
  for (let epoch = done + 1; epoch <= train.epochs && !stopped; epoch++) {
    const order = rng.shuffle(Array.from({ length: labels.length }, (_, i) => i));
    let correct = 0;
    for (let s = 0; s < steps; s++) {
      const idx = order.slice(s * train.batchSize, (s + 1) * train.batchSize);
      const xb = new Float32Array(idx.length * per);
      idx.forEach((j, k) => xb.set(o.rows.subarray(j * per, (j + 1) * per), k * per));
      const seed = rng.fork();
      const x = tf.tensor(xb, [idx.length, ...o.rowShape]);
      const y = tf.tidy(() =>
        tf.oneHot(
          tf.tensor1d(
            Int32Array.from(idx, (j) => labels[j]),
            'int32',
          ),
          o.numClasses,
        ),
      );
      let hits: tf.Tensor | undefined;
      optimizer.step(() => {
        const logits = o.logits(x, seed);
        hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'int32')));
        const l2 = tf.addN(kernels.map((k) => tf.sum(tf.square(k))));
        return tf.add(tf.losses.softmaxCrossEntropy(y, logits), tf.mul(train.weightDecay / 2, l2)) as tf.Scalar;
      });
      correct += (await hits!.data())[0];
      tf.dispose([x, y, hits!]);
      bar.tick(1, `epoch ${epoch}`);
      await yieldToEventLoop(); // lets SIGINT/SIGTERM handlers run between batches
    }
    trainAcc = correct / Math.max(1, labels.length);
    const valAcc = o.valAccuracy ? await o.valAccuracy() : trainAcc;
    if (valAcc > best.acc)
      best = { acc: valAcc, epoch, weights: o.vars.map((v) => v.dataSync().slice() as Float32Array) };
    else if (epoch - best.epoch >= train.patience) stopped = true;
    done = epoch;
    if (ckpt) {
      const weights = o.vars.map((v) => v.dataSync() as Float32Array);
      const adam = optimizer.getState();
      const rngState = rng.getState();
      writeSeenCheckpoint(ckpt.dir, ckpt.fingerprint, { epoch, stopped, trainAcc, best, weights, adam, rngState });
      bar.tick(0, checkpointedDetail(epoch));
    }
  }
  bar.done();
  optimizer.dispose();
  tf.tidy(() => o.vars.forEach((v, i) => v.assign(tf.tensor(best.weights[i], v.shape))));
  return { epochs: done, bestEpoch: best.epoch, trainAccuracy: trainAcc, valAccuracy: best.acc };
}
