/**
 * A small CNN for the synthetic demo and for users' small-image datasets: three 3×3 conv blocks with
 * max pooling, one hidden dense layer (the penultimate features) and a seen-class head. Trained from
 * scratch on the seen classes; fast on a CPU with the WASM backend.
 *
 *   input → conv1 → pool1 → conv2 → pool2 → conv3 → pool3 → fc1 (penultimate) → seen head
 *
 * Every layer output is a tap. The default tap `conv3` sits before a pooling and a dense layer, so its
 * neuron importances differ per image (a tap right before global pooling and a linear head would not).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runSeenLoop, seenCheckpointFingerprint } from '../seen-loop.js';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import {
  Rng,
  StateError,
  TOKENS,
  deriveSeed,
  matrix,
  readNpy,
  writeNpy,
  type Backbone,
  type Dataset,
  type ExtractedBatch,
  type HeadLayer,
  type ImageSpec,
  type Logger,
  type RunContext,
  type SeenClassifier,
  type SeenTrainingData,
  type SeenTrainingReport,
  type TapHead,
  type TapInfo,
} from '@niwt/core';
import { applyLayer, conv, dense, newScope, type DenseParams, type Layer } from './layers.js';

export const SMALL_CNN_TAPS = ['conv1', 'pool1', 'conv2', 'pool2', 'conv3', 'pool3'] as const;

export const smallCnnOptions = z.strictObject({
  /** Layer whose output neuron importance is read at. */
  tap: z.enum(SMALL_CNN_TAPS).default('conv3'),
  /** Images are resized (stretched) to imageSize × imageSize. */
  imageSize: z.number().int().min(8).max(256).default(32),
  /** Channels of conv1..conv3. */
  widths: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]).default([16, 32, 64]),
  /** Width of fc1, the penultimate layer. */
  hidden: z.number().int().min(2).default(128),
  train: z
    .strictObject({
      epochs: z.number().int().min(1).default(20),
      batchSize: z.number().int().min(1).default(32),
      lr: z.number().positive().default(2e-3),
      weightDecay: z.number().min(0).default(1e-4),
      /** Epochs without a better validation accuracy before stopping. */
      patience: z.number().int().min(1).default(4),
      dropout: z.number().min(0).max(0.9).default(0.25),
    })
    .prefault({}),
});
export type SmallCnnOptions = z.infer<typeof smallCnnOptions>;

@injectable()
export class SmallCnn implements Backbone {
  readonly name = 'small-cnn';
  readonly input: ImageSpec;
  readonly taps: TapInfo[];
  readonly tap: TapInfo;
  readonly penultimateDim: number;
  private readonly layers: Layer[];
  private seenHead?: DenseParams;
  private seenClasses: number[] = [];
  private readonly scope = newScope('small-cnn');

  constructor(
    @inject(TOKENS.options) private readonly opts: SmallCnnOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
    @inject(TOKENS.logger) private readonly log: Logger,
  ) {
    const s = opts.imageSize;
    if (s % 8 !== 0)
      throw new StateError(`small-cnn: imageSize must be a multiple of 8 (three 2×2 poolings), got ${s}`);
    this.input = { height: s, width: s, channels: 3 };
    const [c1, c2, c3] = opts.widths;
    const rng = new Rng(deriveSeed(run.seed, 'small-cnn/init'));
    this.layers = [
      conv(rng, 'conv1', 3, 3, c1, this.scope),
      { kind: 'pool', name: 'pool1' },
      conv(rng, 'conv2', 3, c1, c2, this.scope),
      { kind: 'pool', name: 'pool2' },
      conv(rng, 'conv3', 3, c2, c3, this.scope),
      { kind: 'pool', name: 'pool3' },
      dense(rng, 'fc1', (s / 8) * (s / 8) * c3, opts.hidden, true, this.scope),
    ];
    const shapes: Record<string, [number, number, number]> = {
      conv1: [s, s, c1],
      pool1: [s / 2, s / 2, c1],
      conv2: [s / 2, s / 2, c2],
      pool2: [s / 4, s / 4, c2],
      conv3: [s / 4, s / 4, c3],
      pool3: [s / 8, s / 8, c3],
    };
    this.taps = SMALL_CNN_TAPS.map((name) => ({ name, shape: shapes[name] }));
    this.tap = this.taps.find((t) => t.name === opts.tap)!;
    this.penultimateDim = opts.hidden;
  }

  private tapIndex(): number {
    return this.layers.findIndex((l) => l.name === this.tap.name);
  }

  private preprocess(pixels: tf.Tensor4D): tf.Tensor4D {
    return tf.sub(tf.div(pixels, 127.5), 1);
  }

  /** Layers [from, to) applied to x. */
  private forward(x: tf.Tensor, from: number, to: number, dropoutSeed?: number): tf.Tensor {
    let h = x;
    for (let i = from; i < to; i++) {
      h = applyLayer(this.layers[i], h);
      if (dropoutSeed !== undefined && this.layers[i].name === 'fc1' && this.opts.train.dropout > 0) {
        h = tf.dropout(h, this.opts.train.dropout, undefined, dropoutSeed);
      }
    }
    return h;
  }

  private logits(pixels: tf.Tensor4D, dropoutSeed?: number): tf.Tensor2D {
    const head = this.requireHead();
    const h = this.forward(this.preprocess(pixels), 0, this.layers.length, dropoutSeed) as tf.Tensor2D;
    return tf.add(tf.matMul(h, head.w), head.b);
  }

  private requireHead(): DenseParams {
    if (!this.seenHead)
      throw new StateError('small-cnn: the seen head does not exist yet; call trainSeen() or load() first');
    return this.seenHead;
  }

  private async loadPixels(dataset: Dataset, indices: readonly number[]): Promise<Float32Array> {
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
    const { train } = this.opts;
    const classPos = new Map(data.seenClasses.map((c, i) => [c, i]));
    const labelOf = (i: number): number => {
      const pos = classPos.get(data.dataset.samples[i].classIndex);
      if (pos === undefined) throw new StateError(`small-cnn: sample ${i} is not of a seen class`);
      return pos;
    };
    const rng = new Rng(deriveSeed(this.run.seed, 'small-cnn/train'));
    this.seenHead?.w.dispose();
    this.seenHead?.b.dispose();
    this.seenHead = dense(rng, 'seen_head', this.penultimateDim, data.seenClasses.length, false, this.scope);
    this.seenClasses = [...data.seenClasses];

    const [trainPix, valPix] = [
      await this.loadPixels(data.dataset, data.trainIndices),
      await this.loadPixels(data.dataset, data.valIndices),
    ];
    const trainY = Int32Array.from(data.trainIndices, labelOf);
    const valY = Int32Array.from(data.valIndices, labelOf);
    const vars: tf.Variable[] = [
      ...this.layers.flatMap((l) => (l.kind === 'pool' ? [] : [l.w, l.b])),
      this.seenHead.w,
      this.seenHead.b,
    ];
    const report = await runSeenLoop({
      label: 'train small-cnn',
      vars,
      rows: trainPix,
      rowShape: [this.input.height, this.input.width, 3],
      labels: trainY,
      numClasses: data.seenClasses.length,
      logits: (x, seed) => this.logits(x as tf.Tensor4D, seed),
      valAccuracy: valY.length > 0 ? () => this.accuracy(valPix, valY) : undefined,
      settings: train,
      rng,
      log: this.log,
      checkpoint: data.checkpointDir
        ? { dir: data.checkpointDir, fingerprint: seenCheckpointFingerprint(this.name, this.opts, this.run.seed, data) }
        : undefined,
    });
    return { ...report, seconds: (performance.now() - t0) / 1000 };
  }

  private async accuracy(pixels: Float32Array, labels: Int32Array): Promise<number> {
    const per = this.input.height * this.input.width * 3;
    let correct = 0;
    for (let s = 0; s < labels.length; s += 128) {
      const n = Math.min(128, labels.length - s);
      const pred = tf.tidy(() =>
        tf.argMax(
          this.logits(
            tf.tensor4d(pixels.subarray(s * per, (s + n) * per), [n, this.input.height, this.input.width, 3]),
          ),
          1,
        ),
      );
      const p = await pred.data();
      pred.dispose();
      for (let k = 0; k < n; k++) if (p[k] === labels[s + k]) correct++;
    }
    return correct / labels.length;
  }

  async *extract(dataset: Dataset, indices: readonly number[], batchSize: number): AsyncIterable<ExtractedBatch> {
    const t = this.tapIndex() + 1;
    for await (const batch of dataset.readImages(indices, this.input, batchSize)) {
      const [tap, feats] = tf.tidy(() => {
        const x = tf.tensor4d(batch.pixels, [batch.indices.length, this.input.height, this.input.width, 3]);
        const a = this.forward(this.preprocess(x), 0, t);
        return [a, this.forward(a, t, this.layers.length)];
      });
      const out = {
        indices: batch.indices,
        tap: (await tap.data()) as Float32Array,
        features: (await feats.data()) as Float32Array,
      };
      tap.dispose();
      feats.dispose();
      yield out;
    }
  }

  head(): TapHead {
    const t = this.tapIndex() + 1;
    const layers: HeadLayer[] = this.layers.slice(t).flatMap((l): HeadLayer[] => {
      switch (l.kind) {
        case 'conv':
          return [{ kind: 'conv', filter: l.w, bias: l.b, stride: 1, padding: 'same' }, { kind: 'relu' }];
        case 'pool':
          return [{ kind: 'maxpool', size: 2, stride: 2, padding: 'valid' }];
        case 'dense':
          return [{ kind: 'dense', weights: l.w, bias: l.b }, ...(l.relu ? [{ kind: 'relu' } as const] : [])];
      }
    });
    return {
      tap: this.tap,
      outDim: this.penultimateDim,
      apply: (a: tf.Tensor4D) => this.forward(a, t, this.layers.length) as tf.Tensor2D,
      layers,
    };
  }

  seenClassifier(): SeenClassifier {
    const head = this.requireHead();
    return {
      weights: matrix(head.w.shape[0], head.w.shape[1], head.w.dataSync() as Float32Array),
      bias: head.b.dataSync().slice() as Float32Array,
      classes: [...this.seenClasses],
    };
  }

  private variables(): tf.Variable[] {
    return [
      ...this.layers.flatMap((l) => (l.kind === 'pool' ? [] : [l.w, l.b])),
      ...(this.seenHead ? [this.seenHead.w, this.seenHead.b] : []),
    ];
  }

  /** File of a variable inside a saved network: the layer name, not the (instance-unique) variable name. */
  private fileName(v: tf.Variable): string {
    return `${v.name.slice(this.scope.length).replace(/\//g, '__')}.npy`;
  }

  async save(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    for (const v of this.variables())
      await writeNpy(path.join(dir, this.fileName(v)), v.dataSync() as Float32Array, v.shape);
    const meta = path.join(dir, 'meta.json');
    await fs.writeFile(`${meta}.tmp`, JSON.stringify({ name: this.name, seenClasses: this.seenClasses }, null, 2));
    await fs.rename(`${meta}.tmp`, meta);
  }

  async load(dir: string): Promise<boolean> {
    let meta: { seenClasses: number[] };
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as { seenClasses: number[] };
    } catch {
      return false;
    }
    const rng = new Rng(0);
    this.seenHead?.w.dispose();
    this.seenHead?.b.dispose();
    this.seenHead = dense(rng, 'seen_head', this.penultimateDim, meta.seenClasses.length, false, this.scope);
    this.seenClasses = meta.seenClasses;
    for (const v of this.variables()) {
      const arr = await readNpy(path.join(dir, this.fileName(v)));
      tf.tidy(() => (v as tf.Variable).assign(tf.tensor(arr.data as Float32Array, v.shape)));
    }
    return true;
  }

  dispose(): void {
    this.variables().forEach((v) => v.dispose());
  }
}
