/** `DemTrainer`: mini-batch Adam on the DEM network for one problem, on the engine chosen at start. */
import { BackendError, Rng, deriveSeed, type Matrix } from '@niwt/core';
import { loadOnnxRuntime, onnxRuntimeUnavailableReason } from '@niwt/compute';
import type { DemEngine, DemEngineInfo } from './engine.js';
import { OnnxDemEngine, OrtDemEngine } from './engine-onnx.js';
import { TfjsDemEngine } from './engine-tfjs.js';
import { forwardParams, groupBatch, initDemParams, type DemParams } from './model.js';
import type { DemEngineChoice, DemSettings } from './options.js';

export interface DemProblem {
  /** N × D image features (raw, as the official code). */
  readonly x: Matrix;
  /** Row of `knowledge` of each image. */
  readonly labels: Int32Array;
  /** C × E class embeddings of the training classes. */
  readonly knowledge: Matrix;
}

/** What `DemTrainer` needs of the settings (the bench passes exactly these, plus the preset name). */
export interface DemTrainerSettings extends Pick<DemSettings, 'hidden' | 'lambda' | 'lr' | 'batchSize'> {
  /** Default `auto`: onnxruntime when it loads, else tfjs. */
  readonly engine?: DemEngineChoice;
  /** Intra-op threads of the onnx engine (default: every core). */
  readonly threads?: number;
}

/**
 * Adam on the DEM network for one problem; `epoch()` is one shuffled pass in mini-batches. The engine is
 * created on `ready()` (or the first `epoch()`): both engines start from the same initial parameters and
 * see the same batches, so they follow the same trajectory up to float rounding.
 */
export class DemTrainer {
  private readonly init: DemParams;
  private readonly rng: Rng;
  private starting?: Promise<DemEngine>;
  private engine?: DemEngine;
  private info?: DemEngineInfo;

  constructor(
    private readonly p: DemProblem,
    private readonly settings: DemTrainerSettings,
    seed: number,
  ) {
    this.init = initDemParams(p.knowledge.cols, settings.hidden, p.x.cols, deriveSeed(seed, 'init'));
    this.rng = new Rng(deriveSeed(seed, 'batches'));
  }

  /**
   * Creates the engine (for onnx: compiles the step graph); resolves to the engine that runs. Throws
   * BackendError for `engine: onnx` when onnxruntime-node is unavailable.
   */
  async ready(): Promise<DemEngineInfo> {
    this.starting ??= this.start();
    this.engine = await this.starting;
    return this.info!;
  }

  private async start(): Promise<DemEngine> {
    const choice = this.settings.engine ?? 'auto';
    const { knowledge, x } = this.p;
    const opts = { lr: this.settings.lr, lambda: this.settings.lambda };
    const ort = choice === 'tfjs' ? undefined : await loadOnnxRuntime();
    if (choice === 'onnx' && !ort)
      throw new BackendError(
        `dem: engine 'onnx' needs onnxruntime-node, which is unavailable ` +
          `(${onnxRuntimeUnavailableReason()}); set the method option engine to 'auto' or 'tfjs'`,
      );
    if (ort) {
      const ortEngine = await OnnxDemEngine.create(knowledge, x.cols, this.init, {
        ...opts,
        threads: this.settings.threads,
      });
      this.info = {
        name: 'onnx',
        note: `onnx (onnxruntime, ${ortEngine.threads} thread${ortEngine.threads === 1 ? '' : 's'})`,
      };
      return new OrtDemEngine(ortEngine);
    }
    this.info = {
      name: 'tfjs',
      note: choice === 'tfjs' ? 'tfjs (chosen)' : `tfjs (onnxruntime unavailable: ${onnxRuntimeUnavailableReason()})`,
    };
    return new TfjsDemEngine(knowledge, x.cols, this.init, opts);
  }

  /** The engine that runs (after `ready()` or an epoch). */
  get engineInfo(): DemEngineInfo | undefined {
    return this.info;
  }

  /** One epoch; returns the mean batch loss. */
  async epoch(): Promise<number> {
    if (!this.engine) await this.ready();
    const engine = this.engine!;
    const N = this.p.x.rows;
    const order = this.rng.shuffle(Array.from({ length: N }, (_, i) => i));
    let total = 0;
    let steps = 0;
    for (let start = 0; start < N; start += this.settings.batchSize) {
      const batch = groupBatch(this.p.x, this.p.labels, order.slice(start, start + this.settings.batchSize));
      total += await engine.step(batch);
      steps++;
    }
    return total / Math.max(1, steps);
  }

  /** Prototypes f(a_c) of the given class embeddings (C′ × D). */
  prototypes(knowledge: Matrix): Float32Array {
    return this.engine ? this.engine.forward(knowledge) : forwardParams(this.init, knowledge);
  }

  /** The current parameters (copies). */
  params(): DemParams {
    if (this.engine) return this.engine.params();
    const p = this.init;
    return { w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
  }

  async dispose(): Promise<void> {
    // A failed start (engine 'onnx' without onnxruntime) has nothing to release.
    const engine = this.engine ?? (this.starting ? await this.starting.catch(() => undefined) : undefined);
    this.engine = undefined;
    await engine?.dispose();
  }
}
