/**
 * `backbone: features` — precomputed image features (xlsa17 `res101.mat`, or a `.npy`) act as the
 * network's input, so every method runs on the xlsa17 release alone. The seen network is a small
 * MLP trained on the seen classes' features:
 *
 *   features (D) → [tap input] → hidden1 (ReLU) → [tap hidden] → … → hiddenK (ReLU, penultimate) → seen head
 *
 * Taps are reported as [1, 1, K] maps so NIWT's channel importance works unchanged: importance at
 * the input is a gradient through ReLU layers, so it differs per image (not degenerate).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runSeenLoop, seenCheckpointFingerprint } from '../seen-loop.js';
import { inject, injectable } from 'inversify';
import {
  DatasetError,
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
  type FeatureSource,
  type ImageSpec,
  type Logger,
  type RunContext,
  type SeenClassifier,
  type SeenTrainingData,
  type SeenTrainingReport,
  type HeadLayer,
  type TapHead,
  type TapInfo,
} from '@niwt/core';
import { applyDense, dense, l2Rows, newScope, type Dense } from './mlp.js';
import type { FeaturesBackboneOptions } from './options.js';

interface Meta {
  readonly name: string;
  readonly inputDim: number;
  readonly hidden: readonly number[];
  readonly seenClasses: readonly number[];
}

@injectable()
export class FeaturesBackbone implements Backbone {
  readonly name = 'features';
  /** Not used (no images); present for the contract. */
  readonly input: ImageSpec = { height: 1, width: 1, channels: 3 };
  readonly penultimateDim: number;
  private inputDim = 2048;
  private layers: Dense[] = [];
  private seenHead?: Dense;
  private seenClasses: number[] = [];
  private readonly scope = newScope();

  constructor(
    @inject(TOKENS.options) private readonly opts: FeaturesBackboneOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
    @inject(TOKENS.logger) private readonly log: Logger,
  ) {
    this.penultimateDim = opts.hidden[opts.hidden.length - 1];
  }

  get taps(): TapInfo[] {
    return [
      { name: 'input', shape: [1, 1, this.inputDim] },
      { name: 'hidden', shape: [1, 1, this.opts.hidden[0]] },
    ];
  }

  get tap(): TapInfo {
    return this.taps.find((t) => t.name === this.opts.tap)!;
  }

  /** Index of the first layer after the tap. */
  private afterTap(): number {
    return this.opts.tap === 'input' ? 0 : 1;
  }

  private build(inputDim: number, seen: number, seed: string): void {
    this.disposeVariables();
    this.inputDim = inputDim;
    const rng = new Rng(deriveSeed(this.run.seed, seed));
    let din = inputDim;
    this.layers = this.opts.hidden.map((h, i) => {
      const l = dense(rng, this.scope, `hidden${i + 1}`, din, h);
      din = h;
      return l;
    });
    this.seenHead = dense(rng, this.scope, 'seen_head', din, seen);
  }

  private source(dataset: Dataset): FeatureSource {
    if (!dataset.features) {
      throw new DatasetError(
        `${dataset.root}: dataset "${dataset.name}" has no precomputed features; expected the xlsa17 dataset, ` +
          `or awa2/cub with features: true (backbone: { name: features } reads Dataset.features)`,
      );
    }
    return dataset.features;
  }

  private async read(dataset: Dataset, indices: readonly number[]): Promise<Float32Array> {
    const src = this.source(dataset);
    const m = await src.read(indices);
    if (m.cols !== this.inputDim)
      throw new StateError(
        `features: ${src.source} gives ${m.cols}-d rows; the network was built for ${this.inputDim}`,
      );
    return this.opts.normalize === 'l2' ? l2Rows(m.data, m.cols) : m.data;
  }

  /** Layers [from, K) applied to x, ReLU after every hidden layer; dropout when a seed is given. */
  private forward(x: tf.Tensor2D, from: number, dropoutSeed?: number): tf.Tensor2D {
    let h = x;
    for (let i = from; i < this.layers.length; i++) {
      h = applyDense(this.layers[i], h, true);
      if (dropoutSeed !== undefined && this.opts.train.dropout > 0)
        h = tf.dropout(h, this.opts.train.dropout, undefined, dropoutSeed + i) as tf.Tensor2D;
    }
    return h;
  }

  private logits(x: tf.Tensor2D, dropoutSeed?: number): tf.Tensor2D {
    return applyDense(this.requireHead(), this.forward(x, 0, dropoutSeed), false);
  }

  private requireHead(): Dense {
    if (!this.seenHead)
      throw new StateError('features: the seen head does not exist yet; call trainSeen() or load() first');
    return this.seenHead;
  }

  async trainSeen(data: SeenTrainingData): Promise<SeenTrainingReport> {
    const t0 = performance.now();
    const { train } = this.opts;
    const src = this.source(data.dataset);
    this.build(src.dim, data.seenClasses.length, 'features/init');
    this.seenClasses = [...data.seenClasses];
    const pos = new Map(data.seenClasses.map((c, i) => [c, i]));
    const labelOf = (i: number): number => {
      const p = pos.get(data.dataset.samples[i].classIndex);
      if (p === undefined) throw new StateError(`features: sample ${i} is not of a seen class`);
      return p;
    };
    const D = this.inputDim;
    const trainX = await this.read(data.dataset, data.trainIndices);
    const valX = data.valIndices.length > 0 ? await this.read(data.dataset, data.valIndices) : new Float32Array(0);
    const trainY = Int32Array.from(data.trainIndices, labelOf);
    const valY = Int32Array.from(data.valIndices, labelOf);
    const report = await runSeenLoop({
      label: 'train features MLP',
      vars: this.variables(),
      rows: trainX,
      rowShape: [D],
      labels: trainY,
      numClasses: this.seenClasses.length,
      logits: (x, seed) => this.logits(x as tf.Tensor2D, seed),
      valAccuracy: valY.length > 0 ? () => this.accuracy(valX, valY) : undefined,
      settings: train,
      rng: new Rng(deriveSeed(this.run.seed, 'features/train')),
      log: this.log,
      checkpoint: data.checkpointDir
        ? { dir: data.checkpointDir, fingerprint: seenCheckpointFingerprint(this.name, this.opts, this.run.seed, data) }
        : undefined,
    });
    return { ...report, seconds: (performance.now() - t0) / 1000 };
  }

  private async accuracy(x: Float32Array, labels: Int32Array): Promise<number> {
    const D = this.inputDim;
    let correct = 0;
    for (let s = 0; s < labels.length; s += 512) {
      const n = Math.min(512, labels.length - s);
      const pred = tf.tidy(() => tf.argMax(this.logits(tf.tensor2d(x.subarray(s * D, (s + n) * D), [n, D])), 1));
      const p = await pred.data();
      pred.dispose();
      for (let k = 0; k < n; k++) if (p[k] === labels[s + k]) correct++;
    }
    return correct / labels.length;
  }

  async *extract(dataset: Dataset, indices: readonly number[], batchSize: number): AsyncIterable<ExtractedBatch> {
    this.requireHead();
    const from = this.afterTap();
    for (let s = 0; s < indices.length; s += batchSize) {
      const idx = indices.slice(s, s + batchSize);
      const x = await this.read(dataset, idx);
      const [tap, feats] = tf.tidy(() => {
        const input = tf.tensor2d(x, [idx.length, this.inputDim]);
        const a = from === 0 ? input : applyDense(this.layers[0], input, true);
        return [a, this.forward(a, from)];
      });
      const out = {
        indices: idx,
        tap: (await tap.data()) as Float32Array,
        features: (await feats.data()) as Float32Array,
      };
      tf.dispose([tap, feats]);
      yield out;
    }
  }

  head(): TapHead {
    const from = this.afterTap();
    const tap = this.tap;
    return {
      tap,
      outDim: this.penultimateDim,
      apply: (a: tf.Tensor4D) => this.forward(tf.reshape(a, [a.shape[0], tap.shape[2]]) as tf.Tensor2D, from),
      // the same computation as `apply`, layer by layer, so NIWT's stage D takes its exact fast path
      layers: [
        { kind: 'flatten' },
        ...this.layers
          .slice(from)
          .flatMap((l): HeadLayer[] => [{ kind: 'dense', weights: l.w, bias: l.b }, { kind: 'relu' }]),
      ],
    };
  }

  seenClassifier(): SeenClassifier {
    const h = this.requireHead();
    return {
      weights: matrix(h.w.shape[0], h.w.shape[1], h.w.dataSync() as Float32Array),
      bias: h.b.dataSync().slice() as Float32Array,
      classes: [...this.seenClasses],
    };
  }

  private variables(): tf.Variable[] {
    return [...this.layers.flatMap((l) => [l.w, l.b]), ...(this.seenHead ? [this.seenHead.w, this.seenHead.b] : [])];
  }

  private fileName(v: tf.Variable): string {
    return `${v.name.slice(this.scope.length).replace(/\//g, '__')}.npy`;
  }

  async save(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    for (const v of this.variables())
      await writeNpy(path.join(dir, this.fileName(v)), v.dataSync() as Float32Array, v.shape);
    const meta: Meta = {
      name: this.name,
      inputDim: this.inputDim,
      hidden: this.opts.hidden,
      seenClasses: this.seenClasses,
    };
    await fs.writeFile(path.join(dir, 'meta.json.tmp'), JSON.stringify(meta, null, 2));
    await fs.rename(path.join(dir, 'meta.json.tmp'), path.join(dir, 'meta.json'));
  }

  async load(dir: string): Promise<boolean> {
    let meta: Meta;
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
    } catch {
      return false;
    }
    if (meta.name !== this.name || JSON.stringify(meta.hidden) !== JSON.stringify(this.opts.hidden)) return false;
    this.build(meta.inputDim, meta.seenClasses.length, 'features/load');
    this.seenClasses = [...meta.seenClasses];
    for (const v of this.variables()) {
      const arr = await readNpy(path.join(dir, this.fileName(v)));
      tf.tidy(() => v.assign(tf.tensor(arr.data as Float32Array, v.shape)));
    }
    return true;
  }

  private disposeVariables(): void {
    this.variables().forEach((v) => v.dispose());
    this.layers = [];
    this.seenHead = undefined;
  }

  dispose(): void {
    this.disposeVariables();
  }
}
