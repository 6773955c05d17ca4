/**
 * onnxruntime-node as an optional engine. It is an optional dependency (its install script, which fetches
 * GPU extras from outside npm, is skipped; the CPU binaries ship inside the package), so every caller must
 * work without it: `loadOnnxRuntime()` resolves to undefined when the package is absent or does not load,
 * or when NIWT_ONNX=off.
 */
import os from 'node:os';
import { BackendError } from '@niwt/core';
import type { OnnxGraph } from './graph.js';

type OrtData = Float32Array | BigInt64Array | Uint8Array;

interface OrtTensor {
  readonly data: unknown;
  readonly dims: readonly number[];
  readonly type: string;
}

interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}

/** The part of the onnxruntime-node module this project uses. */
export interface OnnxRuntime {
  readonly InferenceSession: { create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSession> };
  readonly Tensor: new (type: string, data: OrtData, dims: readonly number[]) => OrtTensor;
  readonly env: { readonly versions?: { readonly node?: string; readonly common?: string } };
}

let loading: Promise<OnnxRuntime | undefined> | undefined;
let loadError: string | undefined;

/** onnxruntime-node if it loads on this machine, else undefined (callers fall back to tfjs). */
export function loadOnnxRuntime(): Promise<OnnxRuntime | undefined> {
  if (process.env.NIWT_ONNX === 'off') {
    loadError = 'disabled by NIWT_ONNX=off';
    return Promise.resolve(undefined);
  }
  loading ??= (async () => {
    try {
      const name = 'onnxruntime-node'; // a variable specifier: the package is optional, so no static types
      const mod = (await import(name)) as { default?: OnnxRuntime } & Partial<OnnxRuntime>;
      const ort = (mod.InferenceSession ? mod : mod.default) as OnnxRuntime | undefined;
      if (!ort?.InferenceSession) throw new Error('the module has no InferenceSession');
      return ort;
    } catch (e) {
      loadError = e instanceof Error ? e.message.split('\n')[0] : String(e);
      return undefined;
    }
  })();
  return loading;
}

/** Why onnxruntime is unavailable (after `loadOnnxRuntime()` resolved to undefined). */
export function onnxRuntimeUnavailableReason(): string {
  return loadError ?? 'not loaded yet';
}

export interface OrtProgramOptions {
  /** Intra-op threads (default: every core). */
  readonly threads?: number;
}

export interface OrtFeed {
  readonly data: OrtData;
  readonly dims: readonly number[];
}

export interface OrtOutput {
  readonly data: Float32Array;
  readonly dims: number[];
}

const TYPE_OF = (d: OrtData): string =>
  d instanceof Float32Array ? 'float32' : d instanceof BigInt64Array ? 'int64' : 'bool';

/** One compiled model on the CPU. */
export class OrtProgram {
  private constructor(
    private readonly ort: OnnxRuntime,
    private readonly session: OrtSession,
    readonly threads: number,
  ) {}

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** Compiles a model; throws BackendError when onnxruntime is unavailable or rejects the model. */
  static async create(
    model: OnnxGraph | Uint8Array,
    opts: OrtProgramOptions = {},
    runtime?: OnnxRuntime,
  ): Promise<OrtProgram> {
    const ort = runtime ?? (await loadOnnxRuntime());
    if (!ort)
      throw new BackendError(
        `onnxruntime-node is not available (${onnxRuntimeUnavailableReason()}); use the tfjs engine or ` +
          `install the optional dependency onnxruntime-node`,
      );
    const threads = Math.max(1, opts.threads ?? os.availableParallelism());
    const bytes = model instanceof Uint8Array ? model : model.toBytes();
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders: ['cpu'],
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
      });
      return new OrtProgram(ort, session, threads);
    } catch (e) {
      const name = model instanceof Uint8Array ? 'model' : `model '${model.name}'`;
      throw new BackendError(`onnxruntime rejected the ${name}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  /** Runs the model; every output must be float32. */
  async run(feeds: Record<string, OrtFeed>): Promise<Record<string, OrtOutput>> {
    const inputs: Record<string, OrtTensor> = {};
    for (const [k, f] of Object.entries(feeds)) inputs[k] = new this.ort.Tensor(TYPE_OF(f.data), f.data, f.dims);
    const out = await this.session.run(inputs);
    const result: Record<string, OrtOutput> = {};
    for (const [k, t] of Object.entries(out)) {
      if (!(t.data instanceof Float32Array))
        throw new BackendError(`onnxruntime output '${k}' is ${t.type}, expected float32`);
      result[k] = { data: t.data, dims: [...t.dims] };
    }
    return result;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
