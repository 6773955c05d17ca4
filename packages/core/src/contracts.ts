/**
 * The contracts every plugin implements. Plugins meet only through these types and the container;
 * they never import each other.
 */
import type { Matrix } from './matrix.js';
import type { Logger } from './logger.js';
import type { StageCache } from './stage-cache.js';
import type { TapSource } from './taps.js';

// ---------------------------------------------------------------- datasets

export interface ClassInfo {
  /** 0-based index into `Dataset.classes` (the global label space). */
  readonly index: number;
  readonly name: string;
}

/** One image of a dataset. */
export interface Sample {
  readonly index: number;
  readonly classIndex: number;
  /**
   * What names the image in messages and run records (explanations' `file`): the absolute file path for
   * datasets read from files (the built-ins), any stable URI for generated images (`bars://2-red-diagonal/5`).
   * The runner never opens it (pixels come from `Dataset.readImages`); it stats it for the cache key only when
   * the dataset has no `fingerprint()`, and a path that is not a file then counts as missing, stably.
   */
  readonly path: string;
}

/** The ZSL split in the xlsa17 vocabulary: class indices for seen/unseen, sample indices for the rest. */
export interface ZslSplit {
  readonly seen: readonly number[];
  readonly unseen: readonly number[];
  readonly trainval: readonly number[];
  readonly testSeen: readonly number[];
  readonly testUnseen: readonly number[];
  readonly train?: readonly number[];
  readonly val?: readonly number[];
}

/** A class × attribute table shipped with a dataset, with a name per attribute. */
export interface AttributeTable {
  readonly names: readonly string[];
  /** rows = classes (in `Dataset.classes` order), cols = attributes. */
  readonly matrix: Matrix;
  /** The file it came from, for messages. */
  readonly source: string;
}

/** How images are delivered to a network. Pixels are RGB in [0, 255]. */
export interface ImageSpec {
  readonly height: number;
  readonly width: number;
  readonly channels: 3;
}

/** A batch of decoded images, NHWC float32, RGB in [0, 255]. */
export interface ImageBatch {
  readonly indices: readonly number[];
  readonly pixels: Float32Array;
  readonly spec: ImageSpec;
}

/**
 * Precomputed image features shipped with a dataset (e.g. xlsa17 `res101.mat`): one row per sample, so
 * methods can run without images. Rows are read on demand, in the order asked.
 */
export interface FeatureSource {
  readonly dim: number;
  /** Where they come from, for messages (a file). */
  readonly source: string;
  /** Rows of the given samples, `[indices.length × dim]`. */
  read(indices: readonly number[]): Promise<Matrix>;
}

export interface Dataset {
  readonly name: string;
  readonly root: string;
  readonly classes: readonly ClassInfo[];
  readonly samples: readonly Sample[];
  readonly split: ZslSplit;
  readonly attributes?: AttributeTable;
  /** Precomputed features, when the dataset ships them. */
  readonly features?: FeatureSource;
  /** Images dropped by the bad-image pre-check (`skipBadImages: true`), for the run record. */
  readonly skippedImages?: number;
  /** Things a user should know about how the files were read (the runner logs them as warnings). */
  readonly warnings?: readonly string[];
  /** Streams the given samples' pixels in batches, in order, with bounded memory. */
  readImages(indices: readonly number[], spec: ImageSpec, batchSize: number): AsyncIterable<ImageBatch>;
  /**
   * A fingerprint of exactly what this dataset delivers (recommended): it changes whenever a sample, a label,
   * the split or the pixels could change — e.g. a hash of every file read with its size and mtime
   * (`fingerprintFiles`), or a generator's version and options (`fingerprintOf`) — plus the options that
   * change how files are read (a resize mode). Cache keys of the seen network and activations derive from
   * it. Without it the runner stats every sample's `path` instead (and says so).
   */
  fingerprint?(): Promise<string>;
}

export interface DatasetAdapter {
  load(): Promise<Dataset>;
}

// ---------------------------------------------------------------- knowledge

/** Class embeddings `[numClasses × dim]` with a name for every dimension (attribute names, `w2v[17]`). */
export interface ClassEmbedding {
  readonly matrix: Matrix;
  readonly dimNames: readonly string[];
  /** Short description recorded in the run (e.g. `attributes continuous, norm=l2`). */
  readonly description: string;
  /**
   * A fingerprint of the sources it was encoded from (recommended): the files read (size and mtime) and the
   * options. Recorded as the run's `fingerprint.knowledge` param; caches of what depends on it key on it.
   */
  readonly fingerprint?: string;
}

export interface KnowledgeEncoder {
  encode(dataset: Dataset): Promise<ClassEmbedding>;
}

// ---------------------------------------------------------------- backbones

export interface TapInfo {
  readonly name: string;
  /** [height, width, channels] of the activations at the tap. */
  readonly shape: readonly [number, number, number];
}

/**
 * The tensor types of the tensor-bearing contracts (`HeadLayer`, `TapHead`). Core names no tensor library:
 * `@niwt/compute` fills this interface in with tfjs's `Tensor1D`/`Tensor2D`/`Tensor4D` by declaration merging
 * (as vitest's `ProvidedContext`), so every package that imports compute sees tfjs's types here; a program
 * without compute sees `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled in by declaration merging
export interface TensorTypes {}
type TensorOf<K extends string> = TensorTypes extends { readonly [k in K]: infer T } ? T : unknown;
type Tensor1D = TensorOf<'Tensor1D'>;
type Tensor2D = TensorOf<'Tensor2D'>;
type Tensor4D = TensorOf<'Tensor4D'>;

/**
 * One layer of a head, described so NIWT can linearise it (fast stage D). Tensors belong to the backbone.
 * `dense` flattens a 4-D input in NHWC order; `affine` is inference-mode BatchNorm folded to scale/offset.
 */
export type HeadLayer =
  | { readonly kind: 'maxpool'; readonly size: number; readonly stride: number; readonly padding: 'valid' | 'same' }
  | { readonly kind: 'avgpool'; readonly size: number; readonly stride: number; readonly padding: 'valid' | 'same' }
  | { readonly kind: 'flatten' }
  | { readonly kind: 'dense'; readonly weights: Tensor2D; readonly bias?: Tensor1D }
  | { readonly kind: 'relu' }
  | {
      readonly kind: 'conv';
      readonly filter: Tensor4D;
      readonly bias?: Tensor1D;
      readonly stride: number;
      readonly padding: 'valid' | 'same';
    }
  | { readonly kind: 'affine'; readonly scale: Tensor1D; readonly offset: Tensor1D }
  | { readonly kind: 'residual'; readonly branch: readonly HeadLayer[]; readonly shortcut?: readonly HeadLayer[] }
  | { readonly kind: 'gap' };

/** A differentiable function from tap activations `[N,h,w,k]` to penultimate features `[N,D]`. */
export interface TapHead {
  readonly tap: TapInfo;
  readonly outDim: number;
  apply(activations: Tensor4D): Tensor2D;
  /**
   * The same function as a layer list (optional): when present, `apply` must equal applying these layers
   * in order (inference mode), and NIWT's stage D uses its exact fast path instead of double backprop.
   */
  readonly layers?: readonly HeadLayer[];
}

/** The seen-class classifier on penultimate features: logits = features · weights + bias. */
export interface SeenClassifier {
  /** D × n_s */
  readonly weights: Matrix;
  readonly bias: Float32Array;
  /** Global class index of each column. */
  readonly classes: readonly number[];
}

export interface SeenTrainingData {
  readonly dataset: Dataset;
  /** Global class indices of the seen classes, in head order. */
  readonly seenClasses: readonly number[];
  readonly trainIndices: readonly number[];
  readonly valIndices: readonly number[];
  /**
   * A folder private to this computation that survives a kill: the callee writes its checkpoint there and
   * resumes from it when present (bit-identical to an uninterrupted run); the caller deletes it once the
   * result is cached. Absent: no checkpoints.
   */
  readonly checkpointDir?: string;
}

export interface SeenTrainingReport {
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly trainAccuracy: number;
  readonly valAccuracy: number;
  readonly seconds: number;
}

/** Activations of one batch at a tap, with the penultimate features of the same images. */
export interface ExtractedBatch {
  readonly indices: readonly number[];
  /** N × h × w × k, row-major (NHWC). */
  readonly tap: Float32Array;
  /** N × D */
  readonly features: Float32Array;
}

/**
 * `input`, `taps`, `tap` and `penultimateDim` may be known only once the network is built; they must hold once
 * it is trained or loaded, when the contract gate checks them (and every `extract` batch against them).
 */
export interface Backbone {
  readonly name: string;
  readonly input: ImageSpec;
  readonly taps: readonly TapInfo[];
  /** The tap the config asked for. */
  readonly tap: TapInfo;
  readonly penultimateDim: number;
  trainSeen(data: SeenTrainingData): Promise<SeenTrainingReport>;
  /** Forward only, streamed. */
  extract(dataset: Dataset, indices: readonly number[], batchSize: number): AsyncIterable<ExtractedBatch>;
  head(): TapHead;
  seenClassifier(): SeenClassifier;
  /** Persists the trained network under `dir` / restores it; `load` returns false when nothing is there. */
  save(dir: string): Promise<void>;
  load(dir: string): Promise<boolean>;
  dispose(): void;
  /**
   * A fingerprint of the pretrained weights file it starts from (size and mtime), or undefined without one
   * (random initialisation: the seed decides). Part of the seen network's cache key.
   */
  weightsFingerprint?(): Promise<string | undefined>;
}

// ---------------------------------------------------------------- methods

/** Cached activations of a set of samples. */
export interface Activations {
  readonly indices: readonly number[];
  /** Global class index per sample. */
  readonly labels: Int32Array;
  /** Tap activations (read on demand: a whole split need not fit in memory), when the run extracted them. */
  readonly tap?: TapSource;
  readonly features: Matrix;
}

export interface ZeroShotContext {
  readonly classNames: readonly string[];
  readonly seen: readonly number[];
  readonly unseen: readonly number[];
  readonly knowledge: ClassEmbedding;
  readonly trainval: Activations;
  readonly head: TapHead;
  readonly seenClassifier: SeenClassifier;
  readonly seed: number;
  readonly log: Logger;
  /** Tap activations of the images of any folder (NIWT's stage D pool), extracted once and cached. */
  readonly imagesAtTap?: (folder: string, limit?: number) => Promise<TapSource>;
  /** Where a method may cache its own stage outputs; `inputsKey` identifies the activations it was given. */
  readonly cache?: { readonly store: StageCache; readonly inputsKey: string };
  /**
   * A folder private to this computation that survives a kill: the callee writes its checkpoint there and
   * resumes from it when present (bit-identical to an uninterrupted run); the caller deletes it once the
   * result is cached. Absent: no checkpoints.
   */
  readonly checkpointDir?: string;
  /** Records a metric series point of this method (prefixed by the runner). */
  metric(key: string, value: number, step?: number): void;
}

/** Summary of a fit: numbers and short strings worth recording. */
export type FitSummary = Record<string, number | string>;

/** NIWT and every baseline. Scores cover the joint seen+unseen label space (all dataset classes). */
export interface ZeroShotMethod {
  fit(ctx: ZeroShotContext): Promise<FitSummary>;
  /** `[n × numClasses]`; columns of classes the method does not score are -Infinity. */
  scores(features: Matrix): Matrix;
  /** Explanations of the fitted method, when it has them. */
  explainer?(): Explainer | undefined;
}

// ---------------------------------------------------------------- tracking

export type RunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface StartRunOptions {
  readonly experiment: string;
  readonly runName?: string;
  readonly parentRunId?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface TrackedRun {
  readonly runId: string;
  readonly experimentId: string;
  /** Where the run lives, for messages (a folder or a URL). */
  readonly location: string;
  logParams(params: Readonly<Record<string, string | number | boolean>>): Promise<void>;
  logMetrics(metrics: Readonly<Record<string, number>>, step?: number): Promise<void>;
  setTags(tags: Readonly<Record<string, string>>): Promise<void>;
  /** Copies a local file into the run's artifacts under `artifactPath` (a relative path). */
  logArtifact(localPath: string, artifactPath?: string): Promise<void>;
  /** Writes text as an artifact file. */
  logText(artifactPath: string, text: string): Promise<void>;
  end(status: Exclude<RunStatus, 'RUNNING'>): Promise<void>;
}

/**
 * Where a tracker's runs can be read back, in MLflow's layouts: a file store folder (`mlruns`, absolute) or a
 * tracking server URI (credentials, if any, as configured). The runner searches it for runs of the same config.
 */
export type RunStoreLocation =
  { readonly kind: 'mlflow-file'; readonly root: string } | { readonly kind: 'mlflow-server'; readonly uri: string };

export interface Tracker {
  startRun(options: StartRunOptions): Promise<TrackedRun>;
  /**
   * Where its runs live, so the runner can find runs of the same config: a finished one (a sweep skips the
   * point) or an unfinished one (`niwt run --resume`). Optional: a tracker without it is never searched
   * (every run starts afresh). `tracker:mlflow` with `uri: file:./mlruns` gives
   * `{ kind: 'mlflow-file', root: '/abs/base/mlruns' }`.
   */
  runStore?(): RunStoreLocation;
  /**
   * Reopens an ended or interrupted run under the same id (status RUNNING again, so its end sets the final
   * status and end time) to log more into it (`niwt run --resume`). Optional: without it a resume opens a
   * new run tagged `niwt.resumed_from`.
   */
  resumeRun?(runId: string): Promise<TrackedRun>;
}

// ---------------------------------------------------------------- explanations

/** What a method offers to explain its decisions (NIWT does; a baseline may not). */
export interface Explainer {
  /** The top-k knowledge dimensions that explain an importance vector at the tap, with scores. */
  explainImportance(
    importance: ArrayLike<number>,
    k: number,
  ): readonly { readonly name: string; readonly score: number }[];
  /** The method's classifier weights for a class on the penultimate features (length D). */
  classWeights(classIndex: number): Float32Array;
}
