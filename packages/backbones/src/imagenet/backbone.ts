/**
 * The ImageNet backbones as plugins: VGG16, ResNet-50, ResNet-101 (anatomies in ../nets/), Keras weight
 * import, preprocessing from the weights descriptor, seen-class training (fixed / finetune, ./train.ts),
 * and forward-only extraction (streamed; .npy caches; worker threads on WASM).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import {
  ConfigError,
  FormatError,
  StateError,
  TOKENS,
  deriveSeed,
  fingerprintFiles,
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
import { foldBn, type NetSpec } from '../nets/graph.js';
import { resnetSpec } from '../nets/resnet.js';
import { vgg16Spec } from '../nets/vgg16.js';
import { descriptorOf, readForInference } from '../preprocess/preprocess.js';
import { extractSplit, type ExtractSplitOptions, type ExtractSplitResult } from '../extract/extract-split.js';
import { OnnxForward, resolveEngine } from '../onnx/engine.js';
import { Network } from './network.js';
import { imagenetOptions, type Family, type ImagenetOptions } from './options.js';
import { SeenHead, trainSeenNetwork } from './train.js';

export function buildSpec(family: Family, inputSize: number, width: number): NetSpec {
  return family === 'vgg16' ? vgg16Spec(inputSize, width) : resnetSpec(family, inputSize, width);
}

export abstract class ImagenetBackbone implements Backbone {
  readonly input: ImageSpec;
  readonly taps: TapInfo[];
  readonly tap: TapInfo;
  readonly penultimateDim: number;
  readonly net: Network;
  protected seenHead?: SeenHead;
  /** Folded BN tensors of the last head() (NIWT's fast stage D). */
  private folded: tf.Tensor[] = [];
  /** Mean training loss per fine-tuning epoch of the last `trainSeen` (empty in fixed mode). */
  trainingLosses: number[] = [];

  constructor(
    readonly name: Family,
    readonly opts: ImagenetOptions,
    readonly run: RunContext,
    readonly log: Logger,
  ) {
    const spec = buildSpec(name, opts.inputSize, opts.width);
    this.net = new Network(spec, descriptorOf(opts.preprocessing));
    this.input = { height: opts.inputSize, width: opts.inputSize, channels: 3 };
    this.taps = spec.taps.map((t) => {
      const s = spec.nodes.find((n) => n.name === t)!.shape;
      return { name: t, shape: [s[0], s[1], s[2]] as const };
    });
    const tap = this.taps.find((t) => t.name === opts.tap);
    if (!tap) throw new ConfigError(`${name}: unknown tap '${opts.tap}' (known: ${spec.taps.join(', ')})`);
    if (spec.degenerateTaps.includes(tap.name)) {
      const why =
        `${name}: tap '${tap.name}' sits directly before global average pooling and a linear head, so every ` +
        `image gets the same neuron importances (α_c = w_c); NIWT needs a tap with a nonlinear tail, e.g. ` +
        `'conv5_block1_out'`;
      if (!opts.allowDegenerateTap) throw new ConfigError(`${why} (set allowDegenerateTap: true to use it anyway)`);
      log.warn(why);
    }
    this.tap = tap;
    const pen = spec.nodes.find((n) => n.name === spec.penultimate)!.shape;
    this.penultimateDim = pen[pen.length - 1];
  }

  /** Loads the configured weights (or random ones) on first use. */
  async ensureWeights(): Promise<void> {
    if (this.net.isReady) return;
    if (this.opts.weights) {
      const file = path.resolve(this.run.baseDir, this.opts.weights);
      try {
        await this.net.importWeights(file, `${this.name} (width ${this.opts.width}, input ${this.opts.inputSize})`);
      } catch (e) {
        if (e instanceof FormatError) throw new ConfigError(`backbone.weights: ${e.message}`, { cause: e });
        throw e;
      }
    } else {
      this.net.initRandom(deriveSeed(this.run.seed, `${this.name}/init`));
    }
  }

  /**
   * The weights file's path, size and mtime (not a content hash: VGG16's .h5 is 528 MB, and a replaced file
   * changes size or mtime); undefined for random initialisation (the seed decides).
   */
  async weightsFingerprint(): Promise<string | undefined> {
    if (!this.opts.weights) return undefined;
    return fingerprintFiles([path.resolve(this.run.baseDir, this.opts.weights)], { base: this.run.baseDir });
  }

  /** Key of what determines the forward pass (for caches). */
  async forwardKey(): Promise<Record<string, unknown>> {
    let weights: unknown = { random: this.run.seed };
    if (this.opts.weights) {
      const file = path.resolve(this.run.baseDir, this.opts.weights);
      const st = await fs.stat(file);
      weights = { file, size: st.size, mtime: st.mtimeMs };
    }
    // Not part of the key: how the forward pass is computed (worker threads, engine; ORT and tfjs agree within 1e-5).
    const { tap: _tap, train: _train, workers: _workers, engine: _engine, ...rest } = this.opts;
    return { family: this.name, weights, ...rest };
  }

  private engineNoted = false;

  /** Says once per backbone which engine forward extraction runs on (nothing falls back silently). */
  private noteEngine(how: string): void {
    if (this.engineNoted) return;
    this.engineNoted = true;
    this.log.info(`${this.name}: forward extraction on ${how}`);
  }

  async trainSeen(data: SeenTrainingData): Promise<SeenTrainingReport> {
    await this.ensureWeights();
    const { head, report, losses } = await trainSeenNetwork(this, data, this.seenHead);
    this.seenHead = head;
    this.trainingLosses = losses;
    return report;
  }

  /**
   * Forward only: tap activations and penultimate features of the given samples, in order. On the
   * onnxruntime engine (`engine`, ../onnx/engine.ts) the next batch is decoded while one computes.
   */
  async *extract(dataset: Dataset, indices: readonly number[], batchSize: number): AsyncIterable<ExtractedBatch> {
    await this.ensureWeights();
    const engine = await resolveEngine(this.opts.engine);
    if (engine.engine === 'onnx') {
      const fwd = await OnnxForward.create(this.net, this.tap.name, engine.runtime);
      this.noteEngine(
        `onnxruntime, ${fwd.threads} thread${fwd.threads > 1 ? 's' : ''}${engine.why ? ` (${engine.why})` : ''}`,
      );
      let pending: Promise<ExtractedBatch> | undefined;
      try {
        for await (const batch of readForInference(
          dataset,
          indices,
          this.opts.inputSize,
          this.opts.resize,
          batchSize,
        )) {
          if (pending) {
            const out = await pending;
            pending = undefined;
            yield out;
          }
          pending = fwd
            .run(batch.pixels, batch.indices.length)
            .then((r) => ({ indices: batch.indices, tap: r.tap!, features: r.features }));
        }
        if (pending) yield await pending;
      } finally {
        await pending?.catch(() => undefined);
        await fwd.dispose();
      }
      return;
    }
    this.noteEngine(`tfjs ${tf.getBackend()}${engine.why ? ` (${engine.why})` : ''}`);
    for await (const batch of readForInference(dataset, indices, this.opts.inputSize, this.opts.resize, batchSize)) {
      const [tap, feats] = tf.tidy(() => {
        const x = tf.tensor4d(batch.pixels, [batch.indices.length, this.input.height, this.input.width, 3]);
        const a = this.net.toTap(x, this.tap.name);
        return [a, this.net.fromTap(a, this.tap.name)];
      });
      const out = {
        indices: batch.indices,
        tap: (await tap.data()) as Float32Array,
        features: (await feats.data()) as Float32Array,
      };
      tf.dispose([tap, feats]);
      yield out;
    }
  }

  /** A whole split at the tap to `.npy` files (bounded memory, resumable, progress with images/s; workers on WASM). */
  async extractSplit(
    dataset: Dataset,
    indices: readonly number[],
    dir: string,
    options: Partial<ExtractSplitOptions> = {},
  ): Promise<ExtractSplitResult> {
    await this.ensureWeights();
    return extractSplit(
      this,
      dataset,
      indices,
      dir,
      { batchSize: 16, withTap: true, workers: this.opts.workers, engine: this.opts.engine, ...options },
      this.log,
    );
  }

  head(): TapHead {
    if (!this.net.isReady)
      throw new StateError(`${this.name}: weights are not loaded yet; call trainSeen() or load() first`);
    const tap = this.tap.name;
    // BN folded for this head; tensors from an earlier head() are released (heads are used one at a time)
    tf.dispose(this.folded);
    this.folded = [];
    const layers = this.net.headLayers(tap, (bn) => {
      const f = foldBn(bn);
      this.folded.push(f.scale, f.offset);
      return f;
    });
    return { tap: this.tap, outDim: this.penultimateDim, apply: (a: tf.Tensor4D) => this.net.fromTap(a, tap), layers };
  }

  seenClassifier(): SeenClassifier {
    const h = this.seenHead;
    if (!h) throw new StateError(`${this.name}: the seen head does not exist yet; call trainSeen() or load() first`);
    return {
      weights: matrix(h.w.shape[0], h.w.shape[1], h.w.dataSync().slice() as Float32Array),
      bias: h.b.dataSync().slice() as Float32Array,
      classes: [...h.classes],
    };
  }

  async save(dir: string): Promise<void> {
    await this.net.save(path.join(dir, 'network'));
    if (this.seenHead) {
      await writeNpy(
        path.join(dir, 'seen_head__0.npy'),
        (await this.seenHead.w.data()) as Float32Array,
        this.seenHead.w.shape,
      );
      await writeNpy(
        path.join(dir, 'seen_head__1.npy'),
        (await this.seenHead.b.data()) as Float32Array,
        this.seenHead.b.shape,
      );
    }
    const meta = {
      name: this.name,
      tap: this.tap.name,
      seenClasses: this.seenHead?.classes ?? [],
      preprocessing: this.net.descriptor,
    };
    await fs.writeFile(path.join(dir, 'meta.json.tmp'), JSON.stringify(meta, null, 2));
    await fs.rename(path.join(dir, 'meta.json.tmp'), path.join(dir, 'meta.json'));
  }

  async load(dir: string): Promise<boolean> {
    let meta: { name: string; seenClasses: number[] };
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as {
        name: string;
        seenClasses: number[];
      };
    } catch {
      return false;
    }
    if (meta.name !== this.name) throw new StateError(`${dir}: holds a saved ${meta.name}, not a ${this.name}`);
    await this.net.loadSaved(path.join(dir, 'network'));
    if (meta.seenClasses.length) {
      const w = await readNpy(path.join(dir, 'seen_head__0.npy'));
      const b = await readNpy(path.join(dir, 'seen_head__1.npy'));
      this.seenHead?.dispose();
      this.seenHead = SeenHead.from(
        w.data as Float32Array,
        b.data as Float32Array,
        this.penultimateDim,
        meta.seenClasses,
        this.net.scope,
      );
    }
    return true;
  }

  dispose(): void {
    tf.dispose(this.folded);
    this.folded = [];
    this.net.dispose();
    this.seenHead?.dispose();
    this.seenHead = undefined;
  }
}

export const vgg16Options = imagenetOptions('vgg16');
export const resnet50Options = imagenetOptions('resnet50');
export const resnet101Options = imagenetOptions('resnet101');

@injectable()
export class Vgg16 extends ImagenetBackbone {
  constructor(
    @inject(TOKENS.options) opts: ImagenetOptions,
    @inject(TOKENS.runContext) run: RunContext,
    @inject(TOKENS.logger) log: Logger,
  ) {
    super('vgg16', opts, run, log);
  }
}

@injectable()
export class ResNet50 extends ImagenetBackbone {
  constructor(
    @inject(TOKENS.options) opts: ImagenetOptions,
    @inject(TOKENS.runContext) run: RunContext,
    @inject(TOKENS.logger) log: Logger,
  ) {
    super('resnet50', opts, run, log);
  }
}

@injectable()
export class ResNet101 extends ImagenetBackbone {
  constructor(
    @inject(TOKENS.options) opts: ImagenetOptions,
    @inject(TOKENS.runContext) run: RunContext,
    @inject(TOKENS.logger) log: Logger,
  ) {
    super('resnet101', opts, run, log);
  }
}
