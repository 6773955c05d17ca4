/**
 * The linearised head (`LinearizedHead`) compiled to one ONNX graph per stage D step and run on onnxruntime,
 * which reaches the CPU's conv/GEMM ceiling on every core where tfjs-wasm reaches about a quarter of one core:
 *
 *   packed states → masks;  w (B × D) → α = Σ_space VJP(w) (B × K);  g = ∂ cosine term/∂α;
 *   adjoint = JVP(g broadcast over space) (B × D)
 *
 * The same bit-packed forward states feed both engines, so they compute the same linear maps. Feature maps
 * are NCHW inside the graph (ONNX Conv); the bits are unpacked in the graph (BitShift, Mod), on every core.
 *
 * Two exact savings that the tfjs path does not make:
 * - a spatially constant value is kept as B × C × 1 × 1 and broadcast only where a mask or a padded conv
 *   needs it: the JVP's input is constant, so the first 1×1 conv (and BN) of a ResNet unit is a GEMM on
 *   B rows instead of B·h·w, and the VJP starts constant after GAP;
 * - Σ_space commutes with the VJP of a leading stride-1 1×1 (or 'valid') conv and BN, so the last 1×1 conv
 *   of the VJP also runs on summed B × C rows.
 */
import * as tf from '@tensorflow/tfjs';
import { OnnxGraph, OrtProgram } from '@niwt/compute';
import { UnsupportedHead, type LinearNode, type LinearizedHead } from './linear-head.js';
import { onnxCosineTerm } from './stage-d-loss.js';

type Shape = readonly number[];

/** A value in the graph: `shape` is the per-image logical shape (NHWC [h, w, c] or [d]). */
interface Val {
  readonly name: string;
  readonly shape: Shape;
  /** A feature map equal at every position, stored as B × C × 1 × 1. */
  readonly constant: boolean;
}

/** Host copy of a tfjs weight (read once when the graphs are built). */
const host = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;

/** tfjs HWIO → ONNX OIHW. */
function oihw(f: Float32Array, [kh, kw, ci, co]: readonly number[]): Float32Array {
  const out = new Float32Array(f.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let o = 0; o < co; o++) out[((o * ci + c) * kh + i) * kw + j] = f[((i * kw + j) * ci + c) * co + o];
  return out;
}

/** Adjoint filter of a stride-1 conv, OIHW [ci, co, kh, kw]: spatially flipped, channels swapped. */
function adjointOihw(f: Float32Array, [kh, kw, ci, co]: readonly number[]): Float32Array {
  const out = new Float32Array(f.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let c = 0; c < ci; c++)
        for (let o = 0; o < co; o++)
          out[((c * co + o) * kh + (kh - 1 - i)) * kw + (kw - 1 - j)] = f[((i * kw + j) * ci + c) * co + o];
  return out;
}

/** Σ over the window of an HWIO filter, as a [ci, co] matrix. */
function filterSum(f: Float32Array, [kh, kw, ci, co]: readonly number[]): Float32Array {
  const out = new Float32Array(ci * co);
  for (let t = 0; t < kh * kw; t++) for (let k = 0; k < ci * co; k++) out[k] += f[t * ci * co + k];
  return out;
}

function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** tfjs 'same' padding for stride 1: the extra row/column goes after. */
const samePads = (k: number): [number, number] => [Math.floor((k - 1) / 2), k - 1 - Math.floor((k - 1) / 2)];

/** Σ_space commutes with these layers' VJPs, and they keep a constant map constant. */
function commutes(n: LinearNode): boolean {
  const l = n.layer;
  if (l.kind === 'affine') return n.inShape.length === 3;
  return (
    l.kind === 'conv' &&
    l.stride === 1 &&
    (l.padding === 'valid' || (l.filter.shape[0] === 1 && l.filter.shape[1] === 1))
  );
}

/** Builds the VJP/JVP of a compiled node list into an ONNX graph. Weights are converted once and shared. */
class Builder {
  readonly g: OnnxGraph;
  private readonly weights = new Map<string, string>();
  private readonly shapes = new Map<string, string>();
  private readonly ids = new Map<object, number>();

  /** `masks`: the graph value of each mask slot (filled in before a pass is built). */
  constructor(
    name: string,
    private readonly masks: readonly string[],
  ) {
    this.g = new OnnxGraph(name);
  }

  private cached(key: string, make: () => string): string {
    let v = this.weights.get(key);
    if (v === undefined) this.weights.set(key, (v = make()));
    return v;
  }

  private ints(dims: readonly number[]): string {
    const key = dims.join(',');
    let v = this.shapes.get(key);
    if (v === undefined) this.shapes.set(key, (v = this.g.int64s(dims, 'shape')));
    return v;
  }

  /** A stable key per weight tensor (layers can share tensors). */
  private key(t: object, what: string): string {
    if (!this.ids.has(t)) this.ids.set(t, this.ids.size);
    return `${what}:${this.ids.get(t)}`;
  }

  private conv(x: string, w: string, k: readonly [number, number], pads: readonly number[]): string {
    return this.g.op('Conv', [x, w], { kernel_shape: { ints: k }, strides: { ints: [1, 1] }, pads: { ints: pads } });
  }

  /** B × C × 1 × 1 constant → B × C × h × w. */
  full(v: Val): Val {
    if (!v.constant) return v;
    const [h, w, c] = v.shape;
    return { name: this.g.op('Expand', [v.name, this.ints([1, c, h, w])]), shape: v.shape, constant: false };
  }

  private scale(n: LinearNode, rank: number): string {
    const l = n.layer as Extract<LinearNode['layer'], { kind: 'affine' }>;
    const c = l.scale.shape[0];
    return this.cached(this.key(l.scale, `scale${rank}`), () =>
      this.g.initializer(this.g.fresh('scale'), host(l.scale), rank === 3 ? [c, 1, 1] : [c]),
    );
  }

  private mask(n: LinearNode): string {
    return this.masks[n.mask!];
  }

  /** Flattens a feature map in tfjs's NHWC order. */
  private flatten(v: Val): string {
    if (v.shape.length === 1) return v.name;
    const f = this.full(v);
    return this.g.op('Reshape', [
      this.g.op('Transpose', [f.name], { perm: { ints: [0, 2, 3, 1] } }),
      this.ints([0, -1]),
    ]);
  }

  /** Inverse of `flatten`: B × (h·w·c) in NHWC order → B × C × h × w. */
  private unflatten(x: string, [h, w, c]: Shape): string {
    return this.g.op('Transpose', [this.g.op('Reshape', [x, this.ints([0, h, w, c])])], {
      perm: { ints: [0, 3, 1, 2] },
    });
  }

  /** Forward-mode pass of the linearised head. */
  jvp(nodes: readonly LinearNode[], d: Val): Val {
    let v = d;
    for (const n of nodes) {
      const l = n.layer;
      const g = this.g;
      switch (l.kind) {
        case 'relu':
          // a constant map broadcasts against the mask
          v = { name: g.op('Mul', [v.name, this.mask(n)]), shape: n.outShape, constant: false };
          break;
        case 'maxpool': {
          const m = g.op('Mul', [v.name, this.mask(n)]);
          const pooled = g.op('AveragePool', [m], {
            kernel_shape: { ints: [l.size, l.size] },
            strides: { ints: [l.size, l.size] },
          });
          v = { name: g.op('Mul', [pooled, g.constant([l.size * l.size], [])]), shape: n.outShape, constant: false };
          break;
        }
        case 'flatten':
          v = { name: this.flatten(v), shape: n.outShape, constant: false };
          break;
        case 'dense': {
          const w = this.cached(this.key(l.weights, 'W'), () =>
            g.initializer(g.fresh('dense'), host(l.weights), l.weights.shape),
          );
          v = { name: g.op('MatMul', [this.flatten(v), w]), shape: n.outShape, constant: false };
          break;
        }
        case 'conv': {
          const fs = l.filter.shape;
          if (v.constant && commutes(n)) {
            // a constant map stays constant; every output sees the whole window ('valid' or 1×1)
            const w = this.cached(this.key(l.filter, 'sumT'), () =>
              g.initializer(g.fresh('convsum'), transpose2d(filterSum(host(l.filter), fs), fs[2], fs[3]), [
                fs[3],
                fs[2],
                1,
                1,
              ]),
            );
            v = { name: this.conv(v.name, w, [1, 1], [0, 0, 0, 0]), shape: n.outShape, constant: true };
          } else {
            const w = this.cached(this.key(l.filter, 'oihw'), () =>
              g.initializer(g.fresh('conv'), oihw(host(l.filter), fs), [fs[3], fs[2], fs[0], fs[1]]),
            );
            const [ph, ph2] = l.padding === 'same' ? samePads(fs[0]) : [0, 0];
            const [pw, pw2] = l.padding === 'same' ? samePads(fs[1]) : [0, 0];
            v = {
              name: this.conv(this.full(v).name, w, [fs[0], fs[1]], [ph, pw, ph2, pw2]),
              shape: n.outShape,
              constant: false,
            };
          }
          break;
        }
        case 'affine':
          v = { name: g.op('Mul', [v.name, this.scale(n, n.inShape.length)]), shape: n.outShape, constant: v.constant };
          break;
        case 'gap':
          v = {
            name: v.constant
              ? g.op('Reshape', [v.name, this.ints([0, -1])])
              : g.op('ReduceMean', [v.name], { axes: { ints: [2, 3] }, keepdims: { i: 0 } }),
            shape: n.outShape,
            constant: false,
          };
          break;
        case 'residual': {
          const b = this.jvp(n.branch!, v);
          const s = n.shortcut ? this.jvp(n.shortcut, v) : v;
          v = { name: g.op('Add', [b.name, s.name]), shape: n.outShape, constant: b.constant && s.constant };
          break;
        }
        case 'avgpool':
          throw new UnsupportedHead('avgpool is not compiled to ONNX (its adjoint with tfjs padding semantics)');
      }
    }
    return v;
  }

  /** Reverse-mode pass of the linearised head. */
  vjp(nodes: readonly LinearNode[], d: Val): Val {
    let v = d;
    const g = this.g;
    for (let i = nodes.length - 1; i >= 0; i--) {
      const n = nodes[i];
      const l = n.layer;
      switch (l.kind) {
        case 'relu':
          v = { name: g.op('Mul', [v.name, this.mask(n)]), shape: n.inShape, constant: false };
          break;
        case 'maxpool': {
          const [h, w, c] = n.outShape;
          const s = l.size;
          // upsample by repetition (a constant map stays constant), then route through the max positions
          const up = v.constant
            ? v.name
            : g.op('Reshape', [
                g.op('Expand', [
                  g.op('Reshape', [v.name, this.ints([0, c, h, 1, w, 1])]),
                  this.ints([1, 1, 1, s, 1, s]),
                ]),
                this.ints([0, c, h * s, w * s]),
              ]);
          v = { name: g.op('Mul', [up, this.mask(n)]), shape: n.inShape, constant: false };
          break;
        }
        case 'flatten':
          v = {
            name: n.inShape.length === 3 ? this.unflatten(v.name, n.inShape) : v.name,
            shape: n.inShape,
            constant: false,
          };
          break;
        case 'dense': {
          const [din, dout] = l.weights.shape;
          const wt = this.cached(this.key(l.weights, 'WT'), () =>
            g.initializer(g.fresh('denseT'), transpose2d(host(l.weights), din, dout), [dout, din]),
          );
          const x = g.op('MatMul', [v.name, wt]);
          v = { name: n.inShape.length === 3 ? this.unflatten(x, n.inShape) : x, shape: n.inShape, constant: false };
          break;
        }
        case 'conv': {
          const fs = l.filter.shape;
          const w = this.cached(this.key(l.filter, 'adj'), () =>
            g.initializer(g.fresh('convadj'), adjointOihw(host(l.filter), fs), [fs[2], fs[3], fs[0], fs[1]]),
          );
          if (v.constant && fs[0] === 1 && fs[1] === 1) {
            v = { name: this.conv(v.name, w, [1, 1], [0, 0, 0, 0]), shape: n.inShape, constant: true };
          } else {
            // stride 1: the VJP is a conv with the adjoint filter, padded k−1−p on each side
            const [ph, ph2] = l.padding === 'same' ? samePads(fs[0]) : [0, 0];
            const [pw, pw2] = l.padding === 'same' ? samePads(fs[1]) : [0, 0];
            const pads = [fs[0] - 1 - ph, fs[1] - 1 - pw, fs[0] - 1 - ph2, fs[1] - 1 - pw2];
            v = { name: this.conv(this.full(v).name, w, [fs[0], fs[1]], pads), shape: n.inShape, constant: false };
          }
          break;
        }
        case 'affine':
          v = { name: g.op('Mul', [v.name, this.scale(n, n.inShape.length)]), shape: n.inShape, constant: v.constant };
          break;
        case 'gap': {
          const [h, w] = n.inShape;
          v = {
            name: g.op('Mul', [g.op('Reshape', [v.name, this.ints([0, 0, 1, 1])]), g.constant([1 / (h * w)], [])]),
            shape: n.inShape,
            constant: true,
          };
          break;
        }
        case 'residual': {
          const b = this.vjp(n.branch!, v);
          const s = n.shortcut ? this.vjp(n.shortcut, v) : v;
          v = { name: g.op('Add', [b.name, s.name]), shape: n.inShape, constant: b.constant && s.constant };
          break;
        }
        case 'avgpool':
          throw new UnsupportedHead('avgpool is not compiled to ONNX (its adjoint with tfjs padding semantics)');
      }
    }
    return v;
  }

  /** Σ over space of a feature map, as B × C × 1 × 1. */
  private sumSpace(v: Val): string {
    const [h, w] = v.shape;
    if (v.constant) return this.g.op('Mul', [v.name, this.g.constant([h * w], [])]);
    return this.g.op('ReduceSum', [v.name, this.ints([2, 3])], { keepdims: { i: 1 } });
  }

  /**
   * Σ_space VJP(nodes)(d) as B × C × 1 × 1. The VJPs of the leading 1×1 convs and BNs act on the summed
   * rows (Σ_space commutes with them); a residual unit splits the sum over its branch and shortcut.
   */
  vjpSum(nodes: readonly LinearNode[], d: Val): string {
    let i = 0;
    while (i < nodes.length && commutes(nodes[i])) i++;
    let s: string;
    if (i === nodes.length) s = this.sumSpace(d);
    else if (nodes[i].layer.kind === 'residual') {
      const n = nodes[i];
      const gi = this.vjp(nodes.slice(i + 1), d);
      s = this.g.op('Add', [this.vjpSum(n.branch!, gi), n.shortcut ? this.vjpSum(n.shortcut, gi) : this.sumSpace(gi)]);
    } else s = this.sumSpace(this.vjp(nodes.slice(i), d));
    for (let j = i - 1; j >= 0; j--) {
      const l = nodes[j].layer;
      if (l.kind === 'affine') s = this.g.op('Mul', [s, this.scale(nodes[j], 3)]);
      else if (l.kind === 'conv') {
        const fs = l.filter.shape;
        const w = this.cached(this.key(l.filter, 'sumAdj'), () =>
          this.g.initializer(this.g.fresh('convsumadj'), filterSum(host(l.filter), fs), [fs[2], fs[3], 1, 1]),
        );
        s = this.conv(s, w, [1, 1], [0, 0, 0, 0]);
      }
    }
    return s;
  }
}

/** Checks the layers the ONNX compiler handles; throws UnsupportedHead naming the first that it does not. */
function check(nodes: readonly LinearNode[]): void {
  for (const n of nodes) {
    const l = n.layer;
    if (l.kind === 'avgpool') throw new UnsupportedHead('avgpool is not compiled to ONNX');
    if (l.kind === 'conv' && l.stride !== 1)
      throw new UnsupportedHead(`conv with stride ${l.stride} is not compiled to ONNX (stride 1 only)`);
    if (l.kind === 'maxpool' && n.inShape.length !== 3) throw new UnsupportedHead('maxpool on a non-image value');
    if (n.branch) check(n.branch);
    if (n.shortcut) check(n.shortcut);
  }
}

/** One step of stage D as a graph: the batch's packed states in, α, the cosines and the adjoint out. */
export interface OrtStepResult {
  /** α, B × K. */
  readonly alpha: Float32Array;
  /** cos(α_j, t_j), B. */
  readonly cos: Float32Array;
  /** Σ_j G(x_j)ᵀ ∂L/∂α_j for the cosine term L = mean_j [1 − cos(α_j, t_j)], B × D. */
  readonly adjoint: Float32Array;
}

/** The ONNX engine of a `LinearizedHead`. Create with `OrtLinearizedHead.create`; call `dispose`. */
export class OrtLinearizedHead {
  private constructor(
    private readonly lin: LinearizedHead,
    private readonly program: OrtProgram,
    /** Output width D (the head's features) and input width K (tap channels). */
    readonly D: number,
    readonly K: number,
  ) {}

  /**
   * Compiles `lin`'s layers into one step graph:
   *
   *   state (B × bytes, the packed bits, one byte per float) → masks (unpacked in the graph, NCHW)
   *   w (B × D) → α = Σ_space VJP(w) → cos(α, t) and g = ∂/∂α mean_j[1 − cos(α_j, t_j)] → JVP(g) (B × D)
   *
   * so a step is one onnxruntime call and the masks are unpacked once, on every core. Throws UnsupportedHead
   * for a layer the compiler does not handle, BackendError when onnxruntime is unavailable or rejects it.
   */
  static async create(lin: LinearizedHead, opts: { threads?: number } = {}): Promise<OrtLinearizedHead> {
    check(lin.rest);
    const last = lin.rest.length ? lin.rest[lin.rest.length - 1].outShape : lin.tapShape;
    if (last.length !== 1) throw new UnsupportedHead('the head does not end in a vector');
    const D = last[0];
    const K = lin.tapShape[2];
    const S = lin.spatialSum ? host(lin.spatialSum) : undefined; // K × D1
    const bytes = lin.bytesPerImage;

    // masks: bit i of an image is bit (i & 7) of byte i >> 3 (LSB first), each slot NHWC → NCHW
    const names: string[] = [];
    const b = new Builder('niwt-stage-d-step', names);
    const g = b.g;
    const state = g.input('state', ['batch', bytes]);
    if (lin.maskSizes.length) {
      const u8 = g.op('Cast', [state], { to: { i: 2 } });
      const shifts = g.initializer('shifts', Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]), [8]);
      const shifted = g.op('BitShift', [g.op('Unsqueeze', [u8, g.int64s([2])]), shifts], { direction: { s: 'RIGHT' } });
      const bits = g.op('Reshape', [
        g.op('Mod', [shifted, g.initializer('two', Uint8Array.from([2]), [])]),
        g.int64s([0, bytes * 8]),
      ]);
      let offset = 0;
      lin.maskSizes.forEach((size, i) => {
        const shape = lin.maskShape(i);
        let m = g.op('Slice', [bits, g.int64s([offset]), g.int64s([offset + size]), g.int64s([1])]);
        if (shape.length === 3)
          m = g.op('Transpose', [g.op('Reshape', [m, g.int64s([0, ...shape])])], { perm: { ints: [0, 3, 1, 2] } });
        names.push(g.op('Cast', [m], { to: { i: 1 } }));
        offset += size;
      });
    }

    // α
    const w: Val = { name: g.input('w', ['batch', D]), shape: [D], constant: false };
    const alpha = S
      ? g.op('MatMul', [
          b.vjp(lin.rest, w).name,
          g.initializer('spatialSumT', transpose2d(S, K, lin.spatialSum!.shape[1]), [lin.spatialSum!.shape[1], K]),
        ])
      : g.op('Reshape', [b.vjpSum(lin.rest, w), g.int64s([0, -1])]);

    // the cosine term of stage D's loss and its gradient in α (stage-d-loss.ts)
    const t = g.input('t', ['batch', K]);
    const { cos, grad } = onnxCosineTerm(g, alpha, t);

    // adjoint: the JVP of the gradient broadcast over space
    const d: Val = S
      ? {
          name: g.op('MatMul', [grad, g.initializer('spatialSum', S, [K, lin.spatialSum!.shape[1]])]),
          shape: [lin.spatialSum!.shape[1]],
          constant: false,
        }
      : { name: g.op('Reshape', [grad, g.int64s([0, 0, 1, 1])]), shape: lin.tapShape, constant: true };
    const adj = b.jvp(lin.rest, d);
    g.node('Identity', [alpha], {}, ['alpha']);
    g.node('Reshape', [cos, g.int64s([-1])], {}, ['cos']);
    g.node('Identity', [adj.name], {}, ['adjoint']);
    g.output('alpha', ['batch', K]);
    g.output('cos', ['batch']);
    g.output('adjoint', ['batch', D]);
    return new OrtLinearizedHead(lin, await OrtProgram.create(g, opts), D, K);
  }

  /**
   * One step for B pairs: `bits` are the images' `LinearizedHead.state` rows, `w` each pair's weight vector
   * (B × D, row-major), `t` each pair's unit target importance (B × K).
   */
  async step(bits: Uint8Array, B: number, w: Float32Array, t: Float32Array): Promise<OrtStepResult> {
    // bytes travel as float32 (OrtProgram feeds Uint8Array as bool); the graph casts them back
    const state = Float32Array.from(bits);
    const out = await this.program.run({
      state: { data: state, dims: [B, this.lin.bytesPerImage] },
      w: { data: w, dims: [B, this.D] },
      t: { data: t, dims: [B, this.K] },
    });
    return { alpha: out.alpha.data, cos: out.cos.data, adjoint: out.adjoint.data };
  }

  async dispose(): Promise<void> {
    await this.program.dispose();
  }
}
