/**
 * The `onnx` backbone: any trained CNN exported to ONNX (`torch.onnx.export`). The forward pass to the tap
 * and the features runs on onnxruntime-node (every core, batched, the next batch decoded while one runs);
 * the head (tap → features) is imported into tfjs ops, differentiable twice, and described as `HeadLayer`s
 * where it maps onto them (NIWT's fast stage D). PyTorch's NCHW is transposed to the project's NHWC at the
 * boundary. The seen classifier is trained on the cached features, or is the model's own last layer.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { inject, injectable } from 'inversify';
import {
  BackendError,
  ConfigError,
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
  type ImageSpec,
  type Logger,
  type RunContext,
  type SeenClassifier,
  type SeenTrainingData,
  type SeenTrainingReport,
  type TapHead,
  type TapInfo,
} from '@niwt/core';
import { OrtProgram, variableFrom } from '@niwt/compute';
import { readForInference, type WeightsDescriptor } from '../preprocess/preprocess.js';
import { resolveEngine } from '../onnx/engine.js';
import { runSeenLoop } from '../seen-loop.js';
import { HeadWeights, runHead } from './head.js';
import { headLayers, type LayerMapping } from './head-layers.js';
import { withOutputs } from './model.js';
import { checkModel, OptionProblem, type CheckedModel, type OnnxBackboneOptions } from './options.js';

/** Largest batch one onnxruntime run gets (bounds activation memory). */
const MAX_RUN = 16;

/** RGB [0, 255] NHWC pixels → the network's NCHW input. */
export function toNetworkInput(pixels: Float32Array, n: number, size: number, d: WeightsDescriptor): Float32Array {
  const out = new Float32Array(pixels.length);
  const plane = size * size;
  const order = d.channels === 'BGR' ? [2, 1, 0] : [0, 1, 2];
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const src = order[c];
      const base = i * 3 * plane + c * plane;
      for (let p = 0; p < plane; p++)
        out[base + p] = (pixels[(i * plane + p) * 3 + src] * d.scale - d.mean[c]) / d.std[c];
    }
  }
  return out;
}

/** NCHW → NHWC. */
export function nchwToNhwc(x: Float32Array, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < c; k++)
      for (let y = 0; y < h * w; y++) out[(i * h * w + y) * c + k] = x[(i * c + k) * h * w + y];
  return out;
}

/** The forward pass of a model to some values, on onnxruntime or interpreted with tfjs ops. */
export interface OnnxForward {
  readonly how: string;
  /** NCHW input → each value (rank-4 values NHWC), with their logical dims. */
  run(input: Float32Array, n: number): Promise<Record<string, { data: Float32Array; dims: number[] }>>;
  dispose(): Promise<void>;
}

export async function createForward(
  m: CheckedModel,
  values: readonly string[],
  engine: 'auto' | 'onnx' | 'tfjs',
  weights: HeadWeights,
): Promise<OnnxForward> {
  const resolved = await resolveEngine(engine);
  const size = m.inputSize;
  if (resolved.engine === 'onnx') {
    const extra = values.filter((v) => !m.model.outputs.some((o) => o.name === v));
    const prog = await OrtProgram.create(withOutputs(m.model.bytes, extra), {}, resolved.runtime);
    const batch = m.fixedBatch ?? MAX_RUN;
    return {
      how: `onnxruntime, ${prog.threads} thread${prog.threads > 1 ? 's' : ''}`,
      async run(input, n) {
        const per = 3 * size * size;
        const parts: Record<string, { data: Float32Array; dims: number[] }>[] = [];
        for (let s = 0; s < n; s += batch) {
          const k = Math.min(batch, n - s);
          let feed = input.subarray(s * per, (s + k) * per);
          if (k < batch && m.fixedBatch !== undefined) {
            const padded = new Float32Array(batch * per);
            padded.set(feed);
            feed = padded;
          }
          const out = await prog.run({
            [m.model.inputs[0].name]: { data: feed, dims: [m.fixedBatch ?? k, 3, size, size] },
          });
          const part: Record<string, { data: Float32Array; dims: number[] }> = {};
          for (const v of values) {
            const o = out[v];
            const dims = [k, ...o.dims.slice(1)];
            const len = dims.reduce((a, b) => a * b, 1);
            part[v] = {
              data: dims.length === 4 ? nchwToNhwc(o.data.subarray(0, len), dims) : o.data.slice(0, len),
              dims,
            };
          }
          parts.push(part);
        }
        return Object.fromEntries(
          values.map((v) => [
            v,
            { data: concat(parts.map((p) => p[v].data)), dims: [n, ...parts[0][v].dims.slice(1)] },
          ]),
        );
      },
      dispose: () => prog.dispose(),
    };
  }
  const inputName = m.model.inputs[0].name;
  const nodes = values.map((v) => m.graph.headNodes(inputName, v) ?? []);
  const unsupported = m.graph.unsupported(nodes.flat());
  if (unsupported) {
    throw new BackendError(
      `${m.file}: node '${unsupported.name}' (${unsupported.opType}) has no tfjs ` +
        `implementation, so the forward pass needs onnxruntime-node (engine: onnx)`,
    );
  }
  return {
    how: `tfjs ${tf.getBackend()}`,
    async run(input, n) {
      const outs = tf.tidy(() => {
        const x = tf.transpose(tf.tensor4d(input, [n, 3, size, size]), [0, 2, 3, 1]) as tf.Tensor4D;
        return values.map((v, i) => runHead(m.graph, nodes[i], inputName, v, x, weights, true).output as tf.Tensor);
      });
      const res: Record<string, { data: Float32Array; dims: number[] }> = {};
      for (let i = 0; i < values.length; i++) {
        const t = outs[i];
        const s = t.shape as number[];
        const dims = t.rank === 4 ? [s[0], s[3], s[1], s[2]] : [...s];
        res[values[i]] = { data: (await t.data()) as Float32Array, dims };
      }
      tf.dispose(outs);
      return res;
    },
    dispose: async () => undefined,
  };
}

function concat(arrays: readonly Float32Array[]): Float32Array {
  if (arrays.length === 1) return arrays[0];
  const out = new Float32Array(arrays.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

let instances = 0;

const fingerprints = new WeakMap<Uint8Array, string>();

function fingerprintOf(bytes: Uint8Array): string {
  let f = fingerprints.get(bytes);
  if (!f) {
    f = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    fingerprints.set(bytes, f);
  }
  return f;
}

@injectable()
export class OnnxBackbone implements Backbone {
  readonly name = 'onnx';
  readonly input: ImageSpec;
  readonly checked: CheckedModel;
  /** sha256 of the `.onnx` file: what the network computes (for cache keys; the path alone is not enough). */
  readonly fingerprint: string;
  private tapShape?: readonly [number, number, number];
  private dim?: number;
  private readonly weights = new HeadWeights();
  private mapping?: LayerMapping;
  private seen?: { w: tf.Variable<tf.Rank.R2>; b: tf.Variable<tf.Rank.R1>; classes: number[] };
  private readonly scope = `onnx${instances++}/`;
  private engineNoted = false;

  constructor(
    @inject(TOKENS.options) readonly opts: OnnxBackboneOptions,
    @inject(TOKENS.runContext) readonly run: RunContext,
    @inject(TOKENS.logger) readonly log: Logger,
  ) {
    try {
      this.checked = checkModel(opts, run.baseDir);
    } catch (e) {
      if (e instanceof OptionProblem) throw new ConfigError(`backbone.${e.key}: ${e.message}`);
      throw e;
    }
    if (this.checked.degenerate) {
      const why =
        `onnx: tap '${opts.tap}' is followed only by global pooling before the features, so every image gets ` +
        'the same neuron importances (α_c = w_c); pick an earlier tap';
      if (!opts.allowDegenerateTap)
        throw new ConfigError(`backbone.tap: ${why} (set allowDegenerateTap: true to use it anyway)`);
      log.warn(why);
    }
    const s = this.checked.inputSize;
    this.input = { height: s, width: s, channels: 3 };
    this.fingerprint = fingerprintOf(this.checked.model.bytes);
  }

  /** The model file's content hash: part of the seen network's and the activations' cache keys. */
  async weightsFingerprint(): Promise<string> {
    return this.fingerprint;
  }

  /** Shapes of the tap and the features, from one forward pass on a blank image (first use). */
  async prepare(): Promise<void> {
    if (this.tapShape) return;
    const fwd = await createForward(
      this.checked,
      [this.opts.tap, this.checked.features],
      this.opts.engine,
      this.weights,
    );
    try {
      const s = this.checked.inputSize;
      const out = await fwd.run(new Float32Array(3 * s * s), 1);
      const t = out[this.opts.tap].dims;
      if (t.length !== 4)
        throw new ConfigError(
          `backbone.tap: '${this.opts.tap}' has shape [${t.join(', ')}], not ` +
            `an image-like [N, C, H, W]; choose a convolutional layer's output`,
        );
      this.tapShape = [t[2], t[3], t[1]];
      this.dim = out[this.checked.features].dims.slice(1).reduce((a, b) => a * b, 1);
    } finally {
      await fwd.dispose();
    }
  }

  get tap(): TapInfo {
    return { name: this.opts.tap, shape: this.tapShape ?? [0, 0, 0] };
  }

  get taps(): TapInfo[] {
    return [this.tap];
  }

  get penultimateDim(): number {
    if (this.dim === undefined)
      throw new StateError('onnx: the backbone is not prepared yet (trainSeen, load or extract first)');
    return this.dim;
  }

  private noteEngine(how: string): void {
    if (this.engineNoted) return;
    this.engineNoted = true;
    this.log.info(`onnx: forward extraction on ${how}`);
  }

  async *extract(dataset: Dataset, indices: readonly number[], batchSize: number): AsyncIterable<ExtractedBatch> {
    await this.prepare();
    yield* this.forward(dataset, indices, batchSize, true);
  }

  private async *forward(
    dataset: Dataset,
    indices: readonly number[],
    batchSize: number,
    withTap: boolean,
  ): AsyncIterable<ExtractedBatch> {
    const { tap } = this.opts;
    const { features, inputSize, preprocessing } = this.checked;
    const fwd = await createForward(
      this.checked,
      withTap ? [tap, features] : [features],
      this.opts.engine,
      this.weights,
    );
    this.noteEngine(fwd.how);
    let pending: Promise<ExtractedBatch> | undefined;
    try {
      for await (const batch of readForInference(dataset, indices, inputSize, this.opts.resize, batchSize)) {
        if (pending) {
          const out = await pending;
          pending = undefined;
          yield out;
        }
        const n = batch.indices.length;
        const input = toNetworkInput(batch.pixels, n, inputSize, preprocessing);
        pending = fwd.run(input, n).then((r) => ({
          indices: batch.indices,
          tap: withTap ? r[tap].data : new Float32Array(0),
          features: r[features].data,
        }));
      }
      if (pending) yield await pending;
    } finally {
      await pending?.catch(() => undefined);
      await fwd.dispose();
    }
  }

  private async featuresOf(dataset: Dataset, indices: readonly number[]): Promise<Float32Array> {
    const out = new Float32Array(indices.length * this.penultimateDim);
    let k = 0;
    for await (const b of this.forward(dataset, indices, 16, false)) {
      out.set(b.features, k * this.penultimateDim);
      k += b.indices.length;
    }
    return out;
  }

  async trainSeen(data: SeenTrainingData): Promise<SeenTrainingReport> {
    await this.prepare();
    const t0 = performance.now();
    const D = this.penultimateDim;
    const classPos = new Map(data.seenClasses.map((c, i) => [c, i]));
    const labelOf = (i: number): number => {
      const pos = classPos.get(data.dataset.samples[i].classIndex);
      if (pos === undefined) throw new StateError(`onnx: sample ${i} is not of a seen class`);
      return pos;
    };
    this.disposeSeen();
    if (this.opts.seenHead === 'model') {
      const { w, b } = this.ownClassifier(data.seenClasses.length);
      this.seen = {
        w: variableFrom(w, [D, data.seenClasses.length], `${this.scope}seen_head/kernel`),
        b: variableFrom(b, [data.seenClasses.length], `${this.scope}seen_head/bias`),
        classes: [...data.seenClasses],
      };
      const trainAcc = await this.accuracy(
        await this.featuresOf(data.dataset, data.trainIndices),
        Int32Array.from(data.trainIndices, labelOf),
      );
      const valY = Int32Array.from(data.valIndices, labelOf);
      const valAcc = valY.length
        ? await this.accuracy(await this.featuresOf(data.dataset, data.valIndices), valY)
        : trainAcc;
      this.log.info(`onnx: seen classifier = the model's own last layer (train acc ${(100 * trainAcc).toFixed(1)}%)`);
      return {
        epochs: 0,
        bestEpoch: 0,
        trainAccuracy: trainAcc,
        valAccuracy: valAcc,
        seconds: (performance.now() - t0) / 1000,
      };
    }
    const trainF = await this.featuresOf(data.dataset, data.trainIndices);
    const valF = await this.featuresOf(data.dataset, data.valIndices);
    const trainY = Int32Array.from(data.trainIndices, labelOf);
    const valY = Int32Array.from(data.valIndices, labelOf);
    const rng = new Rng(deriveSeed(this.run.seed, 'onnx/seen-head'));
    const C = data.seenClasses.length;
    const w0 = Float32Array.from({ length: D * C }, () => rng.normal() * Math.sqrt(1 / D));
    this.seen = {
      w: variableFrom(w0, [D, C], `${this.scope}seen_head/kernel`),
      b: variableFrom(new Float32Array(C), [C], `${this.scope}seen_head/bias`),
      classes: [...data.seenClasses],
    };
    const { w, b } = this.seen;
    const report = await runSeenLoop({
      label: 'train onnx seen head',
      vars: [w, b],
      rows: trainF,
      rowShape: [D],
      labels: trainY,
      numClasses: C,
      logits: (x) => tf.add(tf.matMul(x as tf.Tensor2D, w), b),
      valAccuracy: valY.length > 0 ? () => this.accuracy(valF, valY) : undefined,
      settings: this.opts.train,
      rng,
      log: this.log,
    });
    return { ...report, seconds: (performance.now() - t0) / 1000 };
  }

  /** The model's last Gemm/MatMul as the seen classifier (D × C, C). */
  private ownClassifier(numSeen: number): { w: Float32Array; b: Float32Array } {
    const { graph, file } = this.checked;
    const n = graph.classifier;
    const B = n ? graph.constant(n.inputs[1]) : undefined;
    if (!n || !B || B.dims.length !== 2 || n.inputs[0] !== this.checked.features) {
      throw new ConfigError(
        `backbone.seenHead: 'model' needs ${file} to end in a Gemm/MatMul ` +
          `with constant weights that reads the features; use seenHead: train`,
      );
    }
    const transB = n.opType === 'Gemm' && n.attrs.get('transB') === 1;
    const [r, c] = B.dims;
    const D = transB ? c : r;
    const C = transB ? r : c;
    if (C !== numSeen)
      throw new ConfigError(
        `backbone.seenHead: 'model' needs the model's last layer to classify exactly the ` +
          `${numSeen} seen classes of the dataset; it has ${C} outputs (use seenHead: train)`,
      );
    const w = new Float32Array(D * C);
    for (let i = 0; i < D; i++)
      for (let j = 0; j < C; j++) w[i * C + j] = transB ? B.data[j * D + i] : B.data[i * C + j];
    const bias = new Float32Array(C);
    const bc = n.opType === 'Gemm' && n.inputs[2] ? graph.constant(n.inputs[2]) : undefined;
    if (bc) bias.set(Float32Array.from(bc.data));
    return { w, b: bias };
  }

  private async accuracy(feats: Float32Array, labels: Int32Array): Promise<number> {
    if (!this.seen || labels.length === 0) return 0;
    const { w, b } = this.seen;
    const pred = tf.tidy(() =>
      tf.argMax(tf.add(tf.matMul(tf.tensor2d(feats, [labels.length, this.penultimateDim]), w), b), 1),
    );
    const p = await pred.data();
    pred.dispose();
    let hits = 0;
    for (let i = 0; i < labels.length; i++) if (p[i] === labels[i]) hits++;
    return hits / labels.length;
  }

  head(): TapHead {
    if (!this.tapShape)
      throw new StateError('onnx: the backbone is not prepared yet (trainSeen, load or extract first)');
    const { graph, head, features } = this.checked;
    const tap = this.opts.tap;
    if (!this.mapping) {
      // one traced run gives every value's shape (and creates the weight tensors the layers share)
      let shapes = new Map<string, number[]>();
      tf.tidy(() => {
        shapes = runHead(
          graph,
          head,
          tap,
          features,
          tf.zeros([1, ...this.tapShape!]) as tf.Tensor4D,
          this.weights,
        ).shapes;
      });
      this.mapping = headLayers(graph, head, tap, features, shapes, this.weights);
    }
    const layers = 'layers' in this.mapping ? this.mapping.layers : undefined;
    return {
      tap: this.tap,
      outDim: this.penultimateDim,
      apply: (a: tf.Tensor4D) => runHead(graph, head, tap, features, a, this.weights).output,
      ...(layers ? { layers } : {}),
    };
  }

  /** Why the head does not take NIWT's fast stage D path (undefined when it does). */
  fastPathUnavailable(): string | undefined {
    this.head();
    return this.mapping && 'reason' in this.mapping ? this.mapping.reason : undefined;
  }

  seenClassifier(): SeenClassifier {
    if (!this.seen) throw new StateError('onnx: the seen head does not exist yet; call trainSeen() or load() first');
    return {
      weights: matrix(this.seen.w.shape[0], this.seen.w.shape[1], this.seen.w.dataSync().slice() as Float32Array),
      bias: this.seen.b.dataSync().slice() as Float32Array,
      classes: [...this.seen.classes],
    };
  }

  async save(dir: string): Promise<void> {
    if (!this.seen) throw new StateError('onnx: nothing to save before trainSeen()');
    await fs.mkdir(dir, { recursive: true });
    await writeNpy(path.join(dir, 'seen_head__0.npy'), (await this.seen.w.data()) as Float32Array, this.seen.w.shape);
    await writeNpy(path.join(dir, 'seen_head__1.npy'), (await this.seen.b.data()) as Float32Array, this.seen.b.shape);
    const meta = {
      name: this.name,
      model: this.checked.file,
      fingerprint: this.fingerprint,
      tap: this.opts.tap,
      seenClasses: this.seen.classes,
    };
    await fs.writeFile(path.join(dir, 'meta.json.tmp'), JSON.stringify(meta, null, 2));
    await fs.rename(path.join(dir, 'meta.json.tmp'), path.join(dir, 'meta.json'));
  }

  async load(dir: string): Promise<boolean> {
    let meta: { name: string; seenClasses: number[]; fingerprint?: string };
    try {
      meta = JSON.parse(await fs.readFile(path.join(dir, 'meta.json'), 'utf8')) as typeof meta;
    } catch {
      return false;
    }
    if (meta.name !== this.name) throw new StateError(`${dir}: holds a saved ${meta.name}, not an onnx backbone`);
    // a seen head trained on another version of the model file (re-exported to the same path) is not reused
    if (meta.fingerprint !== this.fingerprint) return false;
    await this.prepare();
    const w = await readNpy(path.join(dir, 'seen_head__0.npy'));
    const b = await readNpy(path.join(dir, 'seen_head__1.npy'));
    this.disposeSeen();
    const C = meta.seenClasses.length;
    this.seen = {
      w: variableFrom(w.data as Float32Array, [this.penultimateDim, C], `${this.scope}seen_head/kernel`),
      b: variableFrom(b.data as Float32Array, [C], `${this.scope}seen_head/bias`),
      classes: meta.seenClasses,
    };
    return true;
  }

  private disposeSeen(): void {
    this.seen?.w.dispose();
    this.seen?.b.dispose();
    this.seen = undefined;
  }

  dispose(): void {
    this.disposeSeen();
    this.weights.dispose();
    this.mapping = undefined;
  }
}
