/**
 * A base for backbone plugins: a subclass gives its layers (`conv`, `dense`, or any variable it `track`s),
 * `toTap` (pixels → activations at the chosen tap) and `head()` (tap → penultimate features); the base
 * supplies the rest of the `Backbone` contract — the seen-class head and its training (`runSeenLoop`, with
 * checkpoints), streamed extraction, the seen classifier, save/load and dispose.
 *
 * ```js
 * class TinyNet extends TapBackbone {
 *   constructor(opts, run, log) {
 *     const input = { height: 24, width: 24, channels: 3 };
 *     super({ name: 'tiny-net', input, taps, tap: opts.tap, train: opts.train, options: opts, run, log });
 *     this.c1 = this.conv('c1', 3, 3, 16);
 *     …
 *   }
 *   toTap(pixels) { … }
 *   head() { return { tap: this.tap, outDim: 64, apply: (a) => …, layers: [...] }; }
 * }
 * ```
 * (`examples/plugins/tiny-net-backbone.js` is a complete one.) Training holds the train and validation
 * images in memory: meant for small images and datasets, like the small CNN.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import {
  Rng,
  StateError,
  deriveSeed,
  matrix,
  readNpy,
  writeNpy,
  type Backbone,
  type Dataset,
  type ExtractedBatch,
  type ImageSpec,
  type Logger,
  type RunContext,
  type SeenClassifier,
  type SeenTrainingData,
  type SeenTrainingReport,
  type TapHead,
  type TapInfo,
} from '@niwt/core';
import { runSeenLoop, seenCheckpointFingerprint, type SeenLoopSettings } from './seen-loop.js';
import { conv, dense, newScope, type ConvParams, type DenseParams } from './small-cnn/layers.js';

/**
 * The `train:` block of a backbone's options, with the small CNN's defaults (20 epochs, batch 32, Adam 2e-3,
 * weight decay 1e-4, patience 4, dropout 0.25): `train: seenTrainOptions()` in a plugin's schema.
 */
export function seenTrainOptions() {
  return z
    .strictObject({
      epochs: z.number().int().min(1).default(20),
      batchSize: z.number().int().min(1).default(32),
      lr: z.number().positive().default(2e-3),
      weightDecay: z.number().min(0).default(1e-4),
      /** Epochs without a better validation accuracy before stopping. */
      patience: z.number().int().min(1).default(4),
      dropout: z.number().min(0).max(0.9).default(0.25),
    })
    .prefault({});
}

export interface TapBackboneSetup {
  /** The plugin's name: progress labels, the saved network and checkpoints carry it. */
  readonly name: string;
  /** The size images are delivered at. */
  readonly input: ImageSpec;
  /** Every tap the network offers, with its activation shape. */
  readonly taps: readonly TapInfo[];
  /** The name of the tap the config chose (one of `taps`). */
  readonly tap: string;
  /** Seen-class training; `dropout` (default 0) applies to the penultimate features. */
  readonly train: SeenLoopSettings & { readonly dropout?: number };
  /** The plugin's validated options: part of the checkpoint fingerprint. */
  readonly options: unknown;
  readonly run: RunContext;
  readonly log: Logger;
}

export abstract class TapBackbone implements Backbone {
  readonly name: string;
  readonly input: ImageSpec;
  readonly taps: readonly TapInfo[];
  readonly tap: TapInfo;
  /** Prefix of this instance's variable names (tfjs names are global; two networks must not clash). */
  protected readonly scope: string;
  private readonly vars: tf.Variable[] = [];
  private readonly initRng: Rng;
  private seen?: { readonly head: DenseParams; readonly classes: readonly number[] };

  constructor(protected readonly setup: TapBackboneSetup) {
    this.name = setup.name;
    this.input = setup.input;
    this.taps = setup.taps;
    const tap = setup.taps.find((t) => t.name === setup.tap);
    const known = setup.taps.map((t) => t.name).join(', ');
    if (!tap) throw new StateError(`${setup.name}: tap '${setup.tap}' is not one of ${known}`);
    this.tap = tap;
    this.scope = newScope(setup.name);
    this.initRng = new Rng(deriveSeed(setup.run.seed, `${setup.name}/init`));
  }

  /** Pixels `[N, h, w, 3]` (RGB in [0, 255]) → activations at `this.tap`. Called inside `tf.tidy`. */
  abstract toTap(pixels: tf.Tensor4D): tf.Tensor4D;

  /** Tap activations → penultimate features; give `layers` too, and NIWT's stage D takes its exact fast path. */
  abstract head(): TapHead;

  get penultimateDim(): number {
    return this.head().outDim;
  }

  /** A 3×3-style conv layer (He-normal, seeded by the run seed), trained with the network. */
  protected conv(name: string, kernel: number, inChannels: number, outChannels: number): ConvParams {
    const layer = conv(this.initRng, name, kernel, inChannels, outChannels, this.scope);
    this.track(layer.w, layer.b);
    return layer;
  }

  /** A dense layer (He-normal, seeded), trained with the network; `relu` is for the caller to apply. */
  protected dense(name: string, inDim: number, outDim: number, relu = true): DenseParams {
    const layer = dense(this.initRng, name, inDim, outDim, relu, this.scope);
    this.track(layer.w, layer.b);
    return layer;
  }

  /** Adds variables made otherwise to what is trained, saved and disposed (a name ending `kernel`: weight decay). */
  protected track(...variables: tf.Variable[]): void {
    this.vars.push(...variables);
  }

  private logits(pixels: tf.Tensor4D, head: TapHead, dropoutSeed?: number): tf.Tensor2D {
    const seen = this.requireSeen();
    let features = head.apply(this.toTap(pixels));
    const rate = this.setup.train.dropout ?? 0;
    if (dropoutSeed !== undefined && rate > 0) {
      features = tf.dropout(features, rate, undefined, dropoutSeed) as tf.Tensor2D;
    }
    return tf.add(tf.matMul(features, seen.head.w), seen.head.b);
  }

  private requireSeen(): { readonly head: DenseParams; readonly classes: readonly number[] } {
    if (!this.seen) {
      throw new StateError(`${this.name}: the seen head does not exist yet; call trainSeen() or load() first`);
    }
    return this.seen;
  }

  private newSeenHead(classes: readonly number[], rng: Rng): void {
    this.seen?.head.w.dispose();
    this.seen?.head.b.dispose();
    const head = dense(rng, 'seen_head', this.penultimateDim, classes.length, false, this.scope);
    this.seen = { head, classes: [...classes] };
  }

  private async pixelsOf(dataset: Dataset, indices: readonly number[]): Promise<Float32Array> {
    const per = this.input.height * this.input.width * 3;
    const out = new Float32Array(indices.length * per);
    let k = 0;
    for await (const batch of dataset.readImages(indices, this.input, 64)) {
      out.set(batch.pixels, k * per);
      k += batch.indices.length;
    }
    return out;
  }

  async trainSeen(data: SeenTrainingData): Promise<SeenTrainingReport> {
    const t0 = performance.now();
    const position = new Map(data.seenClasses.map((c, i) => [c, i]));
    const labelOf = (i: number): number => {
      const p = position.get(data.dataset.samples[i].classIndex);
      if (p === undefined) throw new StateError(`${this.name}: sample ${i} is not of a seen class`);
      return p;
    };
    const rng = new Rng(deriveSeed(this.setup.run.seed, `${this.name}/train`));
    this.newSeenHead(data.seenClasses, rng);
    const trainPixels = await this.pixelsOf(data.dataset, data.trainIndices);
    const valPixels = await this.pixelsOf(data.dataset, data.valIndices);
    const valLabels = Int32Array.from(data.valIndices, labelOf);
    const head = this.head();
    const { w, b } = this.requireSeen().head;
    const { options, run, train } = this.setup;
    const report = await runSeenLoop({
      label: `train ${this.name}`,
      vars: [...this.vars, w, b],
      rows: trainPixels,
      rowShape: [this.input.height, this.input.width, 3],
      labels: Int32Array.from(data.trainIndices, labelOf),
      numClasses: data.seenClasses.length,
      logits: (x, seed) => this.logits(x as tf.Tensor4D, head, seed),
      valAccuracy: valLabels.length > 0 ? () => this.accuracy(valPixels, valLabels, head) : undefined,
      settings: train,
      rng,
      log: this.setup.log,
      checkpoint: data.checkpointDir
        ? { dir: data.checkpointDir, fingerprint: seenCheckpointFingerprint(this.name, options, run.seed, data) }
        : undefined,
    });
    return { ...report, seconds: (performance.now() - t0) / 1000 };
  }

  private async accuracy(pixels: Float32Array, labels: Int32Array, head: TapHead): Promise<number> {
    const { height, width } = this.input;
    const per = height * width * 3;
    let correct = 0;
    for (let s = 0; s < labels.length; s += 128) {
      const n = Math.min(128, labels.length - s);
      const x = pixels.subarray(s * per, (s + n) * per);
      const pred = tf.tidy(() => tf.argMax(this.logits(tf.tensor4d(x, [n, height, width, 3]), head), 1));
      const p = await pred.data();
      pred.dispose();
      for (let k = 0; k < n; k++) if (p[k] === labels[s + k]) correct++;
    }
    return correct / labels.length;
  }

  async *extract(dataset: Dataset, indices: readonly number[], batchSize: number): AsyncIterable<ExtractedBatch> {
    const head = this.head();
    const { height, width } = this.input;
    for await (const batch of dataset.readImages(indices, this.input, batchSize)) {
      const [tap, features] = tf.tidy(() => {
        const a = this.toTap(tf.tensor4d(batch.pixels, [batch.indices.length, height, width, 3]));
        return [a, head.apply(a)];
      });
      const out = {
        indices: batch.indices,
        tap: (await tap.data()) as Float32Array,
        features: (await features.data()) as Float32Array,
      };
      tf.dispose([tap, features]);
      yield out;
    }
  }

  seenClassifier(): SeenClassifier {
    const { head, classes } = this.requireSeen();
    return {
      weights: matrix(head.w.shape[0], head.w.shape[1], head.w.dataSync() as Float32Array),
      bias: head.b.dataSync().slice() as Float32Array,
      classes: [...classes],
    };
  }

  /** Every saved variable with its file name (its position and layer name: variable names differ per instance). */
  private files(): { v: tf.Variable; file: string }[] {
    const all = [...this.vars, ...(this.seen ? [this.seen.head.w, this.seen.head.b] : [])];
    const layerName = (v: tf.Variable): string => v.name.slice(this.scope.length).replace(/\//g, '__');
    return all.map((v, i) => ({ v, file: `${String(i).padStart(3, '0')}-${layerName(v)}.npy` }));
  }

  async save(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    for (const { v, file } of this.files()) {
      await writeNpy(path.join(dir, file), v.dataSync() as Float32Array, v.shape);
    }
    const meta = path.join(dir, 'meta.json');
    const seenClasses = this.requireSeen().classes;
    await fs.writeFile(`${meta}.tmp`, JSON.stringify({ name: this.name, seenClasses }, null, 2));
    await fs.rename(`${meta}.tmp`, meta);
  }

  async load(dir: string): Promise<boolean> {
    let meta: { seenClasses: number[] };
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as { seenClasses: number[] };
    } catch {
      return false;
    }
    this.newSeenHead(meta.seenClasses, new Rng(0));
    for (const { v, file } of this.files()) {
      const saved = await readNpy(path.join(dir, file));
      if (saved.shape.join('×') !== v.shape.join('×')) {
        const [found, needed] = [saved.shape.join('×'), v.shape.join('×')];
        throw new StateError(`${this.name}: ${path.join(dir, file)} holds shape ${found}, the network needs ${needed}`);
      }
      tf.tidy(() => v.assign(tf.tensor(saved.data as Float32Array, v.shape)));
    }
    return true;
  }

  dispose(): void {
    for (const { v } of this.files()) v.dispose();
  }
}
