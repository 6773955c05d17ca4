/**
 * Seen-class training of the ImageNet backbones (NIWT stage A).
 *
 * - fixed: penultimate features are extracted once (cached as .npy under the cache dir) and a new seen
 *   head is trained on them with Adam and weight decay, early-stopped on the seen validation split; a grid
 *   of learning rates × weight decays picks the best validation accuracy.
 * - finetune: the same head first, then every layer (BN statistics frozen) at a lower rate: weight decay,
 *   per-gradient norm clipping, dropout, augmentation, early stopping on the val split. Gradients are
 *   accumulated over micro-batches (the 4 GB WASM heap holds 2 VGG16 images), in JS memory with Adam's
 *   moments (`FinetuneOptimizer`). A checkpoint per epoch (`finetune-checkpoint.ts`: in the runner's
 *   `checkpointDir`, else `<cacheDir>/finetune/<key>/`) with the weights, Adam's moments, the early-stopping
 *   state and the losses; `resume` (default) continues after the last one, bit-identical to an uninterrupted run.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  Rng,
  StateError,
  deriveSeed,
  hashOf,
  readNpy,
  writeNpy,
  type Dataset,
  type Logger,
  type RunContext,
  type SeenTrainingData,
  type SeenTrainingReport,
} from '@niwt/core';
import { Adam, FusedAdam, variableFrom, type AdamState } from '@niwt/compute';
import { checkpointedDetail } from '../seen-loop.js';
import { FinetuneCheckpoints, type FinetuneState } from './finetune-checkpoint.js';
import { readAugmented, readForInference } from '../preprocess/preprocess.js';
import type { ExtractSplitOptions, ExtractSplitResult } from '../extract/extract-split.js';
import type { Network } from './network.js';
import type { Family, ImagenetOptions } from './options.js';

/** The seen-class head: logits = features · w + b. */
export class SeenHead {
  private constructor(
    readonly w: tf.Variable<tf.Rank.R2>,
    readonly b: tf.Variable<tf.Rank.R1>,
    readonly classes: readonly number[],
  ) {}

  static from(w: Float32Array, b: Float32Array, dim: number, classes: readonly number[], scope: string): SeenHead {
    return new SeenHead(
      variableFrom(w, [dim, classes.length], `${scope}seen_head/kernel`),
      variableFrom(b, [classes.length], `${scope}seen_head/bias`),
      [...classes],
    );
  }

  static random(rng: Rng, dim: number, classes: readonly number[], scope: string): SeenHead {
    const w = new Float32Array(dim * classes.length);
    const std = Math.sqrt(1 / dim);
    for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
    return SeenHead.from(w, new Float32Array(classes.length), dim, classes, scope);
  }

  logits(f: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(f, this.w), this.b);
  }

  dispose(): void {
    this.w.dispose();
    this.b.dispose();
  }
}

function argmaxRows(scores: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (scores[i * k + j] > scores[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

async function headAccuracy(head: SeenHead, feats: Float32Array, labels: Int32Array, dim: number): Promise<number> {
  if (labels.length === 0) return 0;
  const s = tf.tidy(() => head.logits(tf.tensor2d(feats, [labels.length, dim])));
  const pred = argmaxRows((await s.data()) as Float32Array, labels.length, head.classes.length);
  s.dispose();
  return pred.reduce((acc, p, i) => acc + (p === labels[i] ? 1 : 0), 0) / labels.length;
}

function l2(kernels: readonly tf.Tensor[]): tf.Scalar {
  return kernels.length ? (tf.addN(kernels.map((k) => tf.sum(tf.square(k)))) as tf.Scalar) : tf.scalar(0);
}

/**
 * Trains a head on fixed features for one (lr, wd); returns the best epoch's head weights (its variables are freed, so
 * a grid never holds two).
 */
async function fitHead(
  trainF: Float32Array,
  trainY: Int32Array,
  valF: Float32Array,
  valY: Int32Array,
  dim: number,
  classes: readonly number[],
  o: { epochs: number; batchSize: number; lr: number; weightDecay: number; patience: number },
  seed: number,
  scope: string,
): Promise<{ w: Float32Array; b: Float32Array; valAcc: number; trainAcc: number; epochs: number; bestEpoch: number }> {
  const rng = new Rng(seed);
  const head = SeenHead.random(rng, dim, classes, scope);
  const adam = new Adam([head.w, head.b], { lr: o.lr });
  let best: { acc: number; epoch: number; w: Float32Array; b: Float32Array } = {
    acc: -1,
    epoch: 0,
    w: new Float32Array(),
    b: new Float32Array(),
  };
  let epoch = 0;
  for (epoch = 1; epoch <= o.epochs; epoch++) {
    const order = rng.shuffle(Array.from({ length: trainY.length }, (_, i) => i));
    for (let s = 0; s < order.length; s += o.batchSize) {
      const idx = order.slice(s, s + o.batchSize);
      const xb = new Float32Array(idx.length * dim);
      idx.forEach((j, k) => xb.set(trainF.subarray(j * dim, (j + 1) * dim), k * dim));
      const x = tf.tensor2d(xb, [idx.length, dim]);
      const y = tf.tidy(() =>
        tf.oneHot(
          tf.tensor1d(
            Int32Array.from(idx, (j) => trainY[j]),
            'int32',
          ),
          classes.length,
        ),
      );
      adam.step(
        () =>
          tf.add(
            tf.losses.softmaxCrossEntropy(y, head.logits(x)),
            tf.mul(o.weightDecay / 2, l2([head.w])),
          ) as tf.Scalar,
      );
      tf.dispose([x, y]);
    }
    const acc = valY.length ? await headAccuracy(head, valF, valY, dim) : await headAccuracy(head, trainF, trainY, dim);
    if (acc > best.acc)
      best = {
        acc,
        epoch,
        w: (await head.w.data()).slice() as Float32Array,
        b: (await head.b.data()).slice() as Float32Array,
      };
    else if (epoch - best.epoch >= o.patience) break;
  }
  adam.dispose();
  tf.tidy(() => {
    head.w.assign(tf.tensor2d(best.w, head.w.shape));
    head.b.assign(tf.tensor1d(best.b));
  });
  const trainAcc = await headAccuracy(head, trainF, trainY, dim);
  head.dispose();
  return { w: best.w, b: best.b, valAcc: best.acc, trainAcc, epochs: Math.min(epoch, o.epochs), bestEpoch: best.epoch };
}

const list = (v: number | number[]): number[] => (Array.isArray(v) ? v : [v]);

/**
 * What fine-tuning reads and calls of an ImageNet backbone. A structural view, not the class, so this
 * module and `backbone.ts` (which calls it) do not import each other.
 */
export interface TrainableBackbone {
  readonly name: Family;
  readonly opts: ImagenetOptions;
  readonly run: RunContext;
  readonly log: Logger;
  readonly penultimateDim: number;
  readonly net: Network;
  forwardKey(): Promise<Record<string, unknown>>;
  extractSplit(
    dataset: Dataset,
    indices: readonly number[],
    dir: string,
    options?: Partial<ExtractSplitOptions>,
  ): Promise<ExtractSplitResult>;
}

export async function trainSeenNetwork(
  bb: TrainableBackbone,
  data: SeenTrainingData,
  previous: SeenHead | undefined,
): Promise<{ head: SeenHead; report: SeenTrainingReport; losses: number[] }> {
  const t0 = performance.now();
  const { train } = bb.opts;
  const seed = bb.run.seed;
  const cacheDir = bb.run.cacheDir;
  const log = bb.log;
  const classPos = new Map(data.seenClasses.map((c, i) => [c, i]));
  const labelOf = (i: number): number => {
    const pos = classPos.get(data.dataset.samples[i].classIndex);
    if (pos === undefined) throw new StateError(`${bb.name}: sample ${i} is not of a seen class`);
    return pos;
  };
  const trainY = Int32Array.from(data.trainIndices, labelOf);
  const valY = Int32Array.from(data.valIndices, labelOf);
  const dim = bb.penultimateDim;

  // 1. Head on cached penultimate features.
  const fkey = hashOf({
    forward: await bb.forwardKey(),
    dataset: data.dataset.name,
    root: data.dataset.root,
    files: await data.dataset.fingerprint?.(), // images replaced under the same names
    train: data.trainIndices,
    val: data.valIndices,
  });
  const fdir = path.join(cacheDir, 'backbone-features', `${bb.name}-${fkey}`);
  const trainF = (await bb.extractSplit(data.dataset, data.trainIndices, path.join(fdir, 'train'), { withTap: false }))
    .features;
  const valF = (await bb.extractSplit(data.dataset, data.valIndices, path.join(fdir, 'val'), { withTap: false }))
    .features;
  let best: Awaited<ReturnType<typeof fitHead>> | undefined;
  for (const lr of list(train.head.lr)) {
    for (const wd of list(train.head.weightDecay)) {
      const r = await fitHead(
        trainF,
        trainY,
        valF,
        valY,
        dim,
        data.seenClasses,
        { ...train.head, lr, weightDecay: wd },
        deriveSeed(seed, `${bb.name}/head`),
        `${bb.net.scope}fit_`,
      );
      log.info(
        `${bb.name}: head lr ${lr} wd ${wd}: val acc ${(100 * r.valAcc).toFixed(1)}% (best epoch ${r.bestEpoch})`,
      );
      if (!best || r.valAcc > best.valAcc) best = r;
    }
  }
  previous?.dispose();
  const fixed = best!;
  const head = SeenHead.from(fixed.w, fixed.b, dim, data.seenClasses, bb.net.scope);
  if (train.mode === 'fixed') {
    return {
      head,
      losses: [],
      report: {
        epochs: fixed.epochs,
        bestEpoch: fixed.bestEpoch,
        trainAccuracy: fixed.trainAcc,
        valAccuracy: fixed.valAcc,
        seconds: (performance.now() - t0) / 1000,
      },
    };
  }

  // 2. Every layer at a lower rate.
  const ft = train.finetune;
  const key = hashOf({ fkey, classes: data.seenClasses, train: bb.opts.train, seed, tap: bb.opts.tap });
  const vars: tf.Variable[] = [...bb.net.trainableVariables(), head.w, head.b];
  const kernels = new Set([...bb.net.kernels(), head.w].map((v) => v.name));
  const weights = {
    save: async (dir: string): Promise<void> => {
      await bb.net.save(path.join(dir, 'network'));
      await writeNpy(path.join(dir, 'seen_head__0.npy'), (await head.w.data()) as Float32Array, head.w.shape);
      await writeNpy(path.join(dir, 'seen_head__1.npy'), (await head.b.data()) as Float32Array, head.b.shape);
    },
    load: async (dir: string): Promise<void> => {
      await bb.net.loadSaved(path.join(dir, 'network'));
      const w = await readNpy(path.join(dir, 'seen_head__0.npy'));
      const b = await readNpy(path.join(dir, 'seen_head__1.npy'));
      tf.tidy(() => {
        head.w.assign(tf.tensor2d(w.data as Float32Array, head.w.shape));
        head.b.assign(tf.tensor1d(b.data as Float32Array));
      });
    },
  };
  // The runner's checkpoint folder for this training, else one under the cache keyed by the inputs.
  const ckptDir = data.checkpointDir
    ? path.join(data.checkpointDir, 'finetune')
    : path.join(cacheDir, 'finetune', `${bb.name}-${key}`);
  const ckpt = new FinetuneCheckpoints(ckptDir, key, weights, log, bb.name);
  let state: FinetuneState = {
    epoch: 0,
    bestAcc: fixed.valAcc,
    bestEpoch: 0,
    trainAcc: fixed.trainAcc,
    stopped: false,
    losses: [],
  };
  const resumed = train.resume ? await ckpt.resume(vars.map((v) => v.size)) : undefined;
  if (resumed) {
    state = resumed.state;
    log.info(`${bb.name}: resuming fine-tuning after epoch ${state.epoch} from ${ckptDir}`);
  } else {
    await ckpt.reset();
    await ckpt.saveBest(0);
  }
  const size = bb.opts.inputSize;
  const opt = new FinetuneOptimizer(vars, kernels, ft);
  if (resumed) opt.setAdamState(resumed.adam);
  const steps = Math.ceil(trainY.length / ft.batchSize);
  const bar = log.progress(`fine-tune ${bb.name}`, Math.max(0, ft.epochs - state.epoch) * steps);
  const dropout = { rate: ft.dropout, after: bb.net.spec.dropoutAfter };
  const valAccuracy = async (): Promise<number> => {
    if (!valY.length) return 0;
    let correct = 0;
    let k = 0;
    for await (const batch of readForInference(data.dataset, data.valIndices, size, bb.opts.resize, 8)) {
      const s = tf.tidy(() =>
        head.logits(bb.net.features(tf.tensor4d(batch.pixels, [batch.indices.length, size, size, 3]))),
      );
      const pred = argmaxRows((await s.data()) as Float32Array, batch.indices.length, head.classes.length);
      s.dispose();
      pred.forEach((p) => (correct += p === valY[k++] ? 1 : 0));
    }
    return correct / valY.length;
  };
  const losses = [...state.losses];
  while (!state.stopped && state.epoch < ft.epochs) {
    const epoch = state.epoch + 1;
    const rng = new Rng(deriveSeed(seed, `${bb.name}/finetune/${epoch}`));
    const order = rng.shuffle(Array.from({ length: trainY.length }, (_, i) => i));
    let correct = 0;
    let lossSum = 0;
    for (let s = 0; s < order.length; s += ft.batchSize) {
      const idx = order.slice(s, s + ft.batchSize);
      for (let m = 0; m < idx.length; m += ft.microBatch) {
        const mb = idx.slice(m, m + ft.microBatch);
        const samples = mb.map((j) => data.trainIndices[j]);
        const pixels = ft.augment
          ? await readAugmented(data.dataset, samples, size, rng)
          : await collect(readForInference(data.dataset, samples, size, bb.opts.resize, mb.length));
        const x = tf.tensor4d(pixels, [mb.length, size, size, 3]);
        const y = tf.tidy(() =>
          tf.oneHot(
            tf.tensor1d(
              Int32Array.from(mb, (j) => trainY[j]),
              'int32',
            ),
            head.classes.length,
          ),
        );
        const dseed = rng.fork();
        let hits: tf.Tensor | undefined;
        const grads = tf.tidy(() => {
          const { value, grads: g } = tf.variableGrads(() => {
            const logits = head.logits(bb.net.features(x, { dropout: { ...dropout, seed: dseed } }));
            hits = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'int32')));
            return tf.mul(tf.losses.softmaxCrossEntropy(y, logits), mb.length / idx.length) as tf.Scalar;
          }, vars);
          lossSum += value.dataSync()[0] * idx.length;
          return vars.map((v) => g[v.name]);
        });
        correct += (await hits!.data())[0];
        tf.dispose([x, y, hits!]);
        opt.accumulate(grads);
      }
      opt.step();
      bar.tick(1, `epoch ${epoch}`);
    }
    losses.push(lossSum / trainY.length);
    const valAcc = await valAccuracy();
    state = { ...state, epoch, trainAcc: correct / trainY.length, losses: [...losses] };
    log.info(
      `${bb.name}: fine-tune epoch ${epoch}: loss ${losses[losses.length - 1].toFixed(4)}, train acc ` +
        `${(100 * state.trainAcc).toFixed(1)}%, val acc ${(100 * valAcc).toFixed(1)}%`,
    );
    if (valAcc > state.bestAcc) {
      state = { ...state, bestAcc: valAcc, bestEpoch: epoch };
      await ckpt.saveBest(epoch);
    } else if (epoch - state.bestEpoch >= ft.patience) state = { ...state, stopped: true };
    await ckpt.commit(state, opt.adamState());
    bar.tick(0, checkpointedDetail(epoch));
  }
  bar.done();
  opt.dispose();
  await ckpt.loadBest(state);
  return {
    head,
    losses,
    report: {
      epochs: state.epoch,
      bestEpoch: state.bestEpoch,
      trainAccuracy: state.trainAcc,
      valAccuracy: state.bestAcc,
      seconds: (performance.now() - t0) / 1000,
    },
  };
}

/**
 * The fine-tune's optimizer, built to fit full-size VGG16 (138 M parameters) in the 4 GB WASM heap: the heap
 * holds only the weights and one micro-batch's gradients (with its activations, about 3.4 GB for 2 VGG16
 * images). Each gradient is read into JS memory and freed as soon as the pass ends, and summed there per
 * variable (a sum kept in the heap, 553 MB for VGG16, took the heap to 3.75 of its 4 GB). A step then takes
 * one variable at a time: weight decay (kernels only: g + wd·x), the per-tensor norm clip
 * (g·min(1, clip/(‖g‖ + 1e-12))), and an Adam update of a JS-memory copy of the weights (`FusedAdam`: the
 * moments never enter the heap), assigned back. Bit-identical to the tensor-op version (sums, decay, clip,
 * core `Adam`): the same float32 operations in the same order. JS memory: 16 bytes per parameter.
 */
export class FinetuneOptimizer {
  private readonly acc: (Float32Array | undefined)[];
  private readonly adam: FusedAdam;
  private readonly decayed: boolean[];

  constructor(
    private readonly vars: readonly tf.Variable[],
    kernels: ReadonlySet<string>,
    private readonly o: { readonly lr: number; readonly weightDecay: number; readonly clipNorm: number },
  ) {
    this.acc = vars.map(() => undefined);
    this.decayed = vars.map((v) => kernels.has(v.name) && o.weightDecay > 0);
    this.adam = new FusedAdam(
      vars.map((v) => v.dataSync() as Float32Array),
      { lr: o.lr },
    );
  }

  /** Adds one micro-batch's gradients (in the order of the variables); takes ownership of them (freed here). */
  accumulate(grads: readonly tf.Tensor[]): void {
    if (grads.length !== this.vars.length)
      throw new StateError(`fine-tune: ${grads.length} gradients for ${this.vars.length} variables`);
    const shares = tf.getBackend() !== 'wasm';
    grads.forEach((g, i) => {
      const read = g.dataSync() as Float32Array;
      g.dispose();
      const a = this.acc[i];
      if (!a) this.acc[i] = shares ? read.slice() : read;
      // float32 a+b computed in float64 and stored rounds once: the float32 sum, as tf.add.
      else for (let k = 0; k < a.length; k++) a[k] += read[k];
    });
  }

  /** One Adam step on the accumulated gradients (decayed, clipped); clears them. */
  step(): void {
    // The WASM backend copies on read and on tensor creation; others (cpu) may share the arrays, which are changed
    // here.
    const shares = tf.getBackend() !== 'wasm';
    const wd = Math.fround(this.o.weightDecay);
    const clip = Math.fround(this.o.clipNorm);
    this.adam.beginStep();
    this.vars.forEach((v, i) => {
      const g = this.acc[i];
      if (!g) throw new StateError(`fine-tune: no gradient accumulated for ${v.name}`);
      this.acc[i] = undefined;
      const x = this.adam.params[i];
      // Float32Array stores round once: float32 a+b and a·b computed in float64 and rounded are the float32 results.
      if (this.decayed[i]) for (let k = 0; k < g.length; k++) g[k] += Math.fround(wd * x[k]);
      if (clip > 0) {
        let sq = 0;
        // A float32 running sum, as tf.norm on WASM: a float64 one shifts the scale by ulps, and the steps with it.
        for (let k = 0; k < g.length; k++) sq = Math.fround(sq + Math.fround(g[k] * g[k]));
        const scale = Math.fround(
          Math.min(1, Math.fround(clip / Math.fround(Math.fround(Math.sqrt(sq)) + Math.fround(1e-12)))),
        );
        if (scale < 1) for (let k = 0; k < g.length; k++) g[k] *= scale;
      }
      this.adam.update(i, g);
      tf.tidy(() => v.assign(tf.tensor(shares ? x.slice() : x, v.shape)));
    });
  }

  /** Adam's step count and moments (views on its memory, valid until the next step: written out, not kept). */
  adamState(): AdamState {
    return this.adam.getState(false);
  }

  /** Continues Adam from a checkpoint (the weights are the variables' current values). */
  setAdamState(state: AdamState): void {
    this.adam.setState(state);
  }

  dispose(): void {
    this.acc.fill(undefined);
  }
}

async function collect(it: AsyncIterable<{ pixels: Float32Array }>): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  for await (const b of it) parts.push(b.pixels);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
