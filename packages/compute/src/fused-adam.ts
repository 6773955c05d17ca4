/**
 * Adam over parameters held in JS memory, fused into one pass: the L2 gradient λθ, both moment updates and
 * the parameter update read and write each element once, four lanes at a time (WebAssembly SIMD). The same
 * float32 arithmetic, op for op, as `Adam` of @niwt/compute — x − (lr/c₁)·m / (√(v/c₂) + ε) — which runs the
 * update as about a dozen separate tensor ops per variable, each a pass over memory. A scalar JS loop was
 * compute-bound at ~7–9 ns per element (≈ 25 ms per DEM step for 3.4 M parameters); this kernel is bound by
 * memory bandwidth instead.
 */
import { adamStateMismatch, type AdamOptions, type AdamState } from './adam.js';

export interface FusedAdamOptions extends AdamOptions {
  /** λ of a λ·½‖θ‖² term whose gradient λθ is added to the given gradients (0: none). */
  readonly l2?: number;
}

type AdamKernel = (
  x: number,
  g: number,
  m: number,
  v: number,
  bytes: number,
  step: number,
  c2: number,
  b1: number,
  a1: number,
  b2: number,
  a2: number,
  eps: number,
  l2: number,
) => number;

/** The part of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  readonly Memory: new (descriptor: { initial: number }) => WasmMemory;
  readonly Module: new (bytes: Uint8Array) => object;
  readonly Instance: new (
    module: object,
    imports: Record<string, Record<string, unknown>>,
  ) => { readonly exports: Record<string, unknown> };
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const PAGE = 65536;
const MAX_PAGES = 65536;

export class FusedAdam {
  /** The parameters, as views on the kernel's memory: updated in place by `step`. */
  readonly params: readonly Float32Array[];
  private readonly moments: { readonly m: Float32Array; readonly v: Float32Array }[];
  private readonly offsets: { x: number; m: number; v: number; padded: number }[];
  private readonly stage: Float32Array;
  private readonly stageOffset: number;
  private readonly kernel: AdamKernel;
  private t = 0;
  private c1 = 1;
  private c2 = 1;
  private readonly b1: number;
  private readonly b2: number;
  private readonly eps: number;
  private readonly l2: number;

  /** Copies `initial` (one array per parameter) into the kernel's memory. */
  constructor(
    initial: readonly Float32Array[],
    private readonly opts: FusedAdamOptions,
  ) {
    this.b1 = opts.beta1 ?? 0.9;
    this.b2 = opts.beta2 ?? 0.999;
    this.eps = opts.epsilon ?? 1e-7;
    this.l2 = opts.l2 ?? 0;
    // Layout: x, m, v of each parameter, then one gradient staging area; each padded to 4 floats (16 bytes),
    // the padding kept at zero, where Adam leaves zeros as they are.
    let bytes = 0;
    this.offsets = initial.map((p) => {
      const padded = Math.ceil(p.length / 4) * 4;
      const o = { x: bytes, m: bytes + 4 * padded, v: bytes + 8 * padded, padded };
      bytes += 12 * padded;
      return o;
    });
    const maxPadded = Math.max(4, ...this.offsets.map((o) => o.padded));
    this.stageOffset = bytes;
    bytes += 4 * maxPadded;
    if (bytes > MAX_PAGES * PAGE)
      throw new RangeError(
        `FusedAdam: ${initial.length} parameters need ${(bytes / 2 ** 30).toFixed(2)} GiB (weights, two ` +
          `moments, one gradient), more than a WebAssembly memory holds (4 GiB)`,
      );
    // The memory never grows: the views below stay valid for the optimizer's life.
    const memory = new wasm.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
    this.kernel = adamKernel(memory);
    this.params = initial.map((p, k) => {
      const view = new Float32Array(memory.buffer, this.offsets[k].x, p.length);
      view.set(p);
      return view;
    });
    this.stage = new Float32Array(memory.buffer, this.stageOffset, maxPadded);
    this.moments = initial.map((p, k) => ({
      m: new Float32Array(memory.buffer, this.offsets[k].m, p.length),
      v: new Float32Array(memory.buffer, this.offsets[k].v, p.length),
    }));
  }

  /**
   * The step count and moments (for a checkpoint; the parameters are `params`): copies, or with `copy` false
   * views on the optimizer's memory, valid until its next step (no second copy of a large model's moments).
   */
  getState(copy = true): AdamState {
    const c = (a: Float32Array): Float32Array => (copy ? a.slice() : a);
    return { step: this.t, m: this.moments.map((x) => c(x.m)), v: this.moments.map((x) => c(x.v)) };
  }

  /**
   * Continues from a saved state (the parameters are restored separately, through the initial arrays or
   * `params`): the next step is the one after the saved one, bit for bit.
   */
  setState(state: AdamState): void {
    const why = adamStateMismatch(
      state,
      this.params.map((p) => p.length),
    );
    if (why) throw new RangeError(`FusedAdam.setState: ${why}`);
    this.moments.forEach((x, k) => {
      x.m.set(state.m[k]);
      x.v.set(state.v[k]);
    });
    this.t = state.step;
    this.c1 = 1 - this.b1 ** this.t;
    this.c2 = 1 - this.b2 ** this.t;
  }

  /** ‖θ‖² of the current parameters. */
  sumSquares(): number {
    let s = 0;
    for (const p of this.params) for (let i = 0; i < p.length; i++) s += p[i] * p[i];
    return s;
  }

  /**
   * One Adam step from `grads` (the gradients of the loss without the L2 term, in the order of `params`);
   * returns ‖θ‖² of the updated parameters, so the next loss needs no extra pass over them.
   */
  step(grads: readonly Float32Array[]): number {
    if (grads.length !== this.params.length)
      throw new RangeError(`FusedAdam: ${grads.length} gradients for ${this.params.length} parameters`);
    this.beginStep();
    let sq = 0;
    for (let k = 0; k < grads.length; k++) sq += this.update(k, grads[k]);
    return sq;
  }

  /**
   * Starts a step whose parameters are then updated one at a time with `update` — for gradients streamed
   * from elsewhere, so only one parameter's gradient need exist at once. `step(grads)` is
   * `beginStep()` followed by `update(k, grads[k])` for every k.
   */
  beginStep(): void {
    this.t++;
    this.c1 = 1 - this.b1 ** this.t;
    this.c2 = 1 - this.b2 ** this.t;
  }

  /** Updates parameter `k` (in place in `params[k]`) from its gradient in the current step; returns its ‖θ′‖². */
  update(k: number, grad: Float32Array): number {
    if (this.t === 0) throw new RangeError('FusedAdam: update() before beginStep()');
    const n = this.params[k].length;
    if (grad.length !== n)
      throw new RangeError(`FusedAdam: gradient ${k} has ${grad.length} values, parameter ${k} has ${n}`);
    const o = this.offsets[k];
    this.stage.set(grad);
    this.stage.fill(0, n, o.padded);
    return this.kernel(
      o.x,
      this.stageOffset,
      o.m,
      o.v,
      4 * o.padded,
      this.opts.lr / this.c1,
      this.c2,
      this.b1,
      1 - this.b1,
      this.b2,
      1 - this.b2,
      this.eps,
      this.l2,
    );
  }
}

/**
 * The kernel, assembled here (one function, ~100 bytes of code; no build step): adam(x, g, m, v, bytes,
 * step, c2, b1, a1, b2, a2, eps, l2) → Σ x′² over [0, bytes) of the float32 arrays at byte offsets x, g, m, v:
 *   g′ = g + l2·x;  m′ = b1·m + a1·g′;  v′ = b2·v + a2·(g′·g′);  x′ = x − (step·m′) / (√(v′/c2) + eps).
 */
function adamKernel(memory: WasmMemory): AdamKernel {
  const [I32, F32, F64, V128] = [0x7f, 0x7d, 0x7c, 0x7b];
  // Parameter and local indices.
  const [X, G, M, V, BYTES] = [0, 1, 2, 3, 4];
  const SCALARS = [5, 6, 7, 8, 9, 10, 11, 12]; // step c2 b1 a1 b2 a2 eps l2 (f32)
  const [vStep, vC2, vB1, vA1, vB2, vA2, vEps, vL2] = [13, 14, 15, 16, 17, 18, 19, 20];
  const [xi, gi, mi, vi, xn, acc0, acc1, I] = [21, 22, 23, 24, 25, 26, 27, 28];

  const get = (i: number): number[] => [0x20, i];
  const set = (i: number): number[] => [0x21, i];
  const simd = (op: number): number[] => [0xfd, ...uleb(op)];
  const load = (base: number): number[] => [...get(base), ...get(I), 0x6a, ...simd(0x00), 4, 0];
  const store = (base: number, value: number): number[] => [
    ...get(base),
    ...get(I),
    0x6a,
    ...get(value),
    ...simd(0x0b),
    4,
    0,
  ];
  const [splat, sqrt, add, sub, mul, div, addF64, promote] = [0x13, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xf0, 0x5f].map(simd);
  const highHalf = [...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15];

  const code = [
    ...SCALARS.flatMap((s, k) => [...get(s), ...splat, ...set(vStep + k)]),
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...get(I),
    ...get(BYTES),
    0x4f,
    0x0d,
    1, // if i ≥ bytes: break
    ...load(X),
    ...set(xi),
    ...load(G),
    ...get(vL2),
    ...get(xi),
    ...mul,
    ...add,
    ...set(gi),
    ...get(vB1),
    ...load(M),
    ...mul,
    ...get(vA1),
    ...get(gi),
    ...mul,
    ...add,
    ...set(mi),
    ...get(vB2),
    ...load(V),
    ...mul,
    ...get(vA2),
    ...get(gi),
    ...get(gi),
    ...mul,
    ...mul,
    ...add,
    ...set(vi),
    ...store(M, mi),
    ...store(V, vi),
    ...get(xi),
    ...get(vStep),
    ...get(mi),
    ...mul,
    ...get(vi),
    ...get(vC2),
    ...div,
    ...sqrt,
    ...get(vEps),
    ...add,
    ...div,
    ...sub,
    ...set(xn),
    ...store(X, xn),
    // Σ x′² in float64: squares of lanes 0–1 and 2–3 promoted into two f64x2 accumulators.
    ...get(xn),
    ...get(xn),
    ...mul,
    0x22,
    gi, // local.tee gi (reused)
    ...promote,
    ...get(acc0),
    ...addF64,
    ...set(acc0),
    ...get(gi),
    ...get(gi),
    ...highHalf,
    ...promote,
    ...get(acc1),
    ...addF64,
    ...set(acc1),
    ...get(I),
    0x41,
    16,
    0x6a,
    ...set(I), // i += 16
    0x0c,
    0, // continue
    0x0b,
    0x0b, // end loop, end block
    ...get(acc0),
    ...get(acc1),
    ...addF64,
    0x22,
    acc0,
    ...simd(0x21),
    0,
    ...get(acc0),
    ...simd(0x21),
    1,
    0xa0,
    0x0b,
  ];
  const body = [2, 15, V128, 1, I32, ...code];
  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const bytes = Uint8Array.from([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 13, I32, I32, I32, I32, I32, F32, F32, F32, F32, F32, F32, F32, F32, 1, F64]),
    ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 1]),
    ...section(3, [1, 0]),
    ...section(7, [1, ...name('adam'), 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
  const instance = new wasm.Instance(new wasm.Module(bytes), { env: { memory } });
  return instance.exports.adam as AdamKernel;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  let x = n;
  do {
    let b = x & 0x7f;
    x >>>= 7;
    if (x !== 0) b |= 0x80;
    out.push(b);
  } while (x !== 0);
  return out;
}
