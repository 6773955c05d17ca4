/**
 * The forward-only extraction engine on onnxruntime: the network exported to ONNX once per extraction
 * (./export.ts), run on ORT's CPU kernels (about 4× tfjs-wasm's throughput on this project's machines,
 * ../../../../shared/reference/compute-lab.md §3), with outputs in the tfjs layout.
 */
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '@niwt/core';
import {
  OrtProgram,
  chooseEngine,
  loadOnnxRuntime,
  onnxRuntimeUnavailableReason,
  type OnnxRuntime,
} from '@niwt/compute';
import type { Network } from '../imagenet/network.js';
import { exportOnnx, ONNX_FEATURES, ONNX_INPUT, ONNX_TAP } from './export.js';

/**
 * `auto`: the faster of onnxruntime (when it loads) and tfjs on the active backend, by the measured engine table
 * (`chooseEngine('forward', …)` of @niwt/core); without onnxruntime, tfjs (worker threads on WASM).
 */
export type EngineChoice = 'auto' | 'onnx' | 'tfjs';
export type RuntimeLoader = () => Promise<OnnxRuntime | undefined>;
/** `why`: for `auto`, the measured reason for the choice (for the run log). */
export type ResolvedEngine =
  | { readonly engine: 'onnx'; readonly runtime: OnnxRuntime; readonly why?: string }
  | { readonly engine: 'tfjs'; readonly why?: string };

/** What `choice` means here; an explicit 'onnx' without onnxruntime is a BackendError naming the option. */
export async function resolveEngine(
  choice: EngineChoice,
  load: RuntimeLoader = loadOnnxRuntime,
): Promise<ResolvedEngine> {
  if (choice === 'tfjs') return { engine: 'tfjs' };
  const runtime = await load();
  if (runtime && choice === 'auto') {
    const tfjs = tf.getBackend() === 'tensorflow' ? 'tensorflow' : 'wasm';
    const pick = chooseEngine('forward', ['onnx', tfjs]);
    return pick.engine === 'onnx' ? { engine: 'onnx', runtime, why: pick.why } : { engine: 'tfjs', why: pick.why };
  }
  if (runtime) return { engine: 'onnx', runtime };
  if (choice === 'auto') return { engine: 'tfjs', why: 'onnxruntime does not load here' };
  const why = load === loadOnnxRuntime ? ` (${onnxRuntimeUnavailableReason()})` : '';
  throw new BackendError(
    `backbone.engine: 'onnx' needs onnxruntime-node, which does not load on this machine${why}; install the ` +
      `optional dependency onnxruntime-node, or set engine: tfjs (or auto, which falls back to tfjs)`,
  );
}

export interface ForwardOutput {
  readonly features: Float32Array;
  readonly tap?: Float32Array;
}

/** Largest batch one ORT run gets: bounds the activation memory (VGG16's first convs: 13 MB per image per layer). */
const MAX_RUN = 16;

export class OnnxForward {
  private constructor(
    private readonly prog: OrtProgram,
    private readonly size: number,
    private readonly withTap: boolean,
  ) {}

  /** Intra-op threads ORT computes with. */
  get threads(): number {
    return this.prog.threads;
  }

  /** Exports `net` (to `tap` when given, and the penultimate features) and compiles it. */
  static async create(
    net: Network,
    tap: string | undefined,
    runtime: OnnxRuntime,
    threads?: number,
  ): Promise<OnnxForward> {
    const bytes = exportOnnx(net, tap).toBytes();
    const prog = await OrtProgram.create(bytes, threads === undefined ? {} : { threads }, runtime);
    return new OnnxForward(prog, net.spec.inputSize, tap !== undefined);
  }

  /** `n` RGB [0, 255] images, NHWC → features [n, D] and tap activations [n, h, w, k] (NHWC). */
  async run(pixels: Float32Array, n: number): Promise<ForwardOutput> {
    const per = this.size * this.size * 3;
    if (pixels.length !== n * per)
      throw new Error(`onnx forward: ${pixels.length} pixel values for ${n} images of ${this.size}²×3`);
    const parts: ForwardOutput[] = [];
    for (let s = 0; s < n; s += MAX_RUN) {
      const m = Math.min(MAX_RUN, n - s);
      const out = await this.prog.run({
        [ONNX_INPUT]: { data: pixels.subarray(s * per, (s + m) * per), dims: [m, this.size, this.size, 3] },
      });
      parts.push({ features: out[ONNX_FEATURES].data, tap: this.withTap ? out[ONNX_TAP].data : undefined });
    }
    if (parts.length === 1) return parts[0];
    return {
      features: concat(parts.map((p) => p.features)),
      tap: this.withTap ? concat(parts.map((p) => p.tap!)) : undefined,
    };
  }

  async dispose(): Promise<void> {
    await this.prog.dispose();
  }
}

function concat(arrays: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((a, b) => a + b.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}
