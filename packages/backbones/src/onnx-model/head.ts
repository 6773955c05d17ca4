/**
 * The head of an ONNX network (tap → penultimate features) as tfjs ops, differentiable twice (NIWT's stage
 * D differentiates an importance). Image values are kept NHWC (the project's tap layout) while the graph
 * speaks NCHW: axes, broadcasts, Flatten and Reshape translate at each op. Constant subgraphs the exporter
 * leaves (Shape → Gather → Unsqueeze → Concat → Reshape) are evaluated on the fly from the real shapes.
 *
 * Double differentiability: stock tfjs lacks gradients of the gradient kernels of depthwise and dilated
 * convolutions, so those are written as sums of shifted slices (whose gradients are pads and slices);
 * max/avg pooling rely on the second-order gradients @niwt/core registers.
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '@niwt/core';
import type { OnnxAttrValue, OnnxNode, OnnxTensor } from './model.js';
import type { OnnxGraphView } from './graph.js';

/** A constant (shape arithmetic, weights) or a tensor; rank-4 tensors are stored NHWC. */
type CVal = { readonly c: OnnxTensor };
type TVal = { readonly t: tf.Tensor };
type Val = CVal | TVal;

const isT = (v: Val): v is TVal => 't' in v;

/** Logical (ONNX) shape of a value. */
function lshape(v: Val): number[] {
  if (!isT(v)) return [...(v as CVal).c.dims];
  const s = v.t.shape;
  return s.length === 4 ? [s[0], s[3], s[1], s[2]] : [...s];
}

const toNhwc = (t: tf.Tensor): tf.Tensor => (t.rank === 4 ? tf.transpose(t, [0, 2, 3, 1]) : t);
const toNchw = (t: tf.Tensor): tf.Tensor => (t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t);

function ints(a: OnnxAttrValue | undefined, dflt: readonly number[]): number[] {
  return Array.isArray(a) ? [...(a as number[])] : [...dflt];
}
function num(a: OnnxAttrValue | undefined, dflt: number): number {
  return typeof a === 'number' ? a : dflt;
}

/** A constant as a float tensor in the layout it is used at (rank-4 constants become NHWC). */
function constTensor(c: OnnxTensor, rank: number): tf.Tensor {
  const dims = [...c.dims];
  while (dims.length < rank) dims.unshift(1);
  const t = tf.tensor(Float32Array.from(c.data), dims.length ? dims : [], 'float32');
  return rank === 4 && dims.length === 4 ? tf.transpose(t, [0, 2, 3, 1]) : t;
}

/** The tensors a head owns (weights in tfjs layouts), created once and shared by every apply. */
export class HeadWeights {
  private readonly cache = new Map<string, tf.Tensor>();
  get(key: string, make: () => tf.Tensor): tf.Tensor {
    let t = this.cache.get(key);
    if (!t) {
      t = tf.keep(tf.tidy(make));
      this.cache.set(key, t);
    }
    return t;
  }
  dispose(): void {
    tf.dispose([...this.cache.values()]);
    this.cache.clear();
  }
}

export interface HeadRun {
  readonly output: tf.Tensor2D;
  /** Logical shape of every value computed (for the layer description). */
  readonly shapes: Map<string, number[]>;
}

/** Runs the head nodes on tap activations NHWC `[N,h,w,k]`; returns the features `[N,D]`. */
export function runHead(
  g: OnnxGraphView,
  nodes: readonly OnnxNode[],
  tap: string,
  features: string,
  x: tf.Tensor4D,
  w: HeadWeights,
  keepRank = false,
): HeadRun {
  const vals = new Map<string, Val>([[tap, { t: x }]]);
  const shapes = new Map<string, number[]>([[tap, lshape({ t: x })]]);
  const get = (name: string): Val => {
    const v = vals.get(name);
    if (v) return v;
    const c = g.constant(name);
    if (c) return { c };
    throw new ConfigError(`${g.model.file}: value '${name}' is needed by the head but not computed before it`);
  };
  for (const n of nodes) {
    const outs = evalNode(
      n,
      n.inputs.map((i) => (i ? get(i) : undefined)),
      w,
    );
    outs.forEach((v, i) => {
      vals.set(n.outputs[i], v);
      shapes.set(n.outputs[i], lshape(v));
    });
  }
  const f = get(features);
  if (!isT(f)) throw new ConfigError(`${g.model.file}: the features '${features}' do not depend on the tap`);
  let out = f.t;
  if (out.rank !== 2 && !keepRank) out = tf.reshape(toNchw(out), [out.shape[0], -1]);
  return { output: out as tf.Tensor2D, shapes };
}

function tensorOf(v: Val | undefined, rank: number): tf.Tensor {
  if (!v) throw new Error('missing input');
  return isT(v) ? v.t : constTensor((v as CVal).c, rank);
}

function constOut(dims: readonly number[], data: ArrayLike<number>, kind: 'float' | 'int' = 'int'): Val {
  return { c: { dims: [...dims], kind, data: Float64Array.from(data) } };
}

function axis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

/** Logical axis → physical axis of a rank-4 NHWC tensor. */
const PHYS = [0, 3, 1, 2];

function evalNode(n: OnnxNode, ins: readonly (Val | undefined)[], w: HeadWeights): Val[] {
  const a = n.attrs;
  const x = ins[0];
  const allConst = ins.every((v) => !v || !isT(v));
  if (n.opType === 'Constant') {
    const v = a.get('value');
    if (v && typeof v === 'object' && 'dims' in v) return [{ c: v }];
    const f = a.get('value_float') ?? a.get('value_int') ?? a.get('value_ints') ?? a.get('value_floats');
    if (typeof f === 'number') return [constOut([], [f], a.has('value_float') ? 'float' : 'int')];
    if (Array.isArray(f)) return [constOut([f.length], f as number[], a.has('value_floats') ? 'float' : 'int')];
    throw new ConfigError(`${n.name}: Constant without a tensor value`);
  }
  if (n.opType === 'Identity' || n.opType === 'Dropout') return [x!];
  if (n.opType === 'Shape') {
    const s = lshape(x!);
    const start = axis(num(a.get('start'), 0), s.length);
    const end = a.has('end') ? axis(num(a.get('end'), s.length), s.length) : s.length;
    return [constOut([end - start], s.slice(start, end))];
  }
  if (allConst)
    return [
      evalConst(
        n,
        ins.map((v) => (v && !isT(v) ? (v as CVal).c : undefined)),
      ),
    ];
  const t = (v: Val | undefined, rank: number): tf.Tensor => tensorOf(v, rank);
  switch (n.opType) {
    case 'Conv':
      return [
        {
          t: conv(
            n,
            t(x, 4) as tf.Tensor4D,
            (ins[1] as CVal).c,
            ins[2] && !isT(ins[2]) ? (ins[2] as CVal).c : undefined,
            w,
          ),
        },
      ];
    case 'BatchNormalization': {
      const [sc, b, m, v] = [1, 2, 3, 4].map((i) => (ins[i] as CVal).c.data);
      const eps = num(a.get('epsilon'), 1e-5);
      const scale = Float32Array.from(sc, (s, i) => s / Math.sqrt(v[i] + eps));
      const off = Float32Array.from(b, (bb, i) => bb - m[i] * scale[i]);
      const xt = t(x, 4);
      const s1 = w.get(`${n.name}/scale`, () => tf.tensor1d(scale));
      const o1 = w.get(`${n.name}/offset`, () => tf.tensor1d(off));
      if (xt.rank === 4) return [{ t: tf.add(tf.mul(xt, s1), o1) }];
      return [{ t: tf.add(tf.mul(xt, tf.reshape(s1, [1, -1])), tf.reshape(o1, [1, -1])) }];
    }
    case 'Relu':
      return [{ t: tf.relu(t(x, 0)) }];
    case 'LeakyRelu':
      return [{ t: tf.leakyRelu(t(x, 0), num(a.get('alpha'), 0.01)) }];
    case 'Sigmoid':
      return [{ t: tf.sigmoid(t(x, 0)) }];
    case 'Tanh':
      return [{ t: tf.tanh(t(x, 0)) }];
    case 'Clip': {
      const lo = ins[1] && !isT(ins[1]) ? (ins[1] as CVal).c.data[0] : num(a.get('min'), -3.4e38);
      const hi = ins[2] && !isT(ins[2]) ? (ins[2] as CVal).c.data[0] : num(a.get('max'), 3.4e38);
      return [{ t: tf.clipByValue(t(x, 0), lo, hi) }];
    }
    case 'HardSigmoid':
      return [{ t: tf.clipByValue(tf.add(tf.mul(t(x, 0), num(a.get('alpha'), 0.2)), num(a.get('beta'), 0.5)), 0, 1) }];
    case 'HardSwish': {
      const xt = t(x, 0);
      return [{ t: tf.mul(xt, tf.clipByValue(tf.add(tf.div(xt, 6), 0.5), 0, 1)) }];
    }
    case 'MaxPool':
    case 'AveragePool':
      return [{ t: pool(n, t(x, 4) as tf.Tensor4D) }];
    case 'GlobalAveragePool':
      return [{ t: tf.mean(t(x, 4), [1, 2], true) }];
    case 'GlobalMaxPool':
      return [{ t: tf.max(t(x, 4), [1, 2], true) }];
    case 'ReduceMean': {
      const xt = t(x, 0);
      const axesIn =
        ins[1] && !isT(ins[1])
          ? Array.from((ins[1] as CVal).c.data)
          : ints(
              a.get('axes'),
              xt.shape.map((_, i) => i),
            );
      const ax = axesIn.map((i) => axis(i, xt.rank)).map((i) => (xt.rank === 4 ? PHYS[i] : i));
      const keep = num(a.get('keepdims'), 1) === 1;
      const r = tf.mean(xt, ax, keep);
      // a rank-4 result stays NHWC; dropping axes of an NHWC tensor gives the logical order only for H, W
      if (xt.rank === 4 && !keep && !(ax.length === 2 && ax.includes(1) && ax.includes(2))) {
        throw new ConfigError(
          `${n.name}: ReduceMean over axes [${axesIn}] without keepdims is not supported in the head`,
        );
      }
      return [{ t: r }];
    }
    case 'Flatten': {
      const xt = t(x, 0);
      const ax = axis(num(a.get('axis'), 1), xt.rank);
      const s = lshape({ t: xt });
      const outer = s.slice(0, ax).reduce((p, c) => p * c, 1);
      return [{ t: tf.reshape(toNchw(xt), [outer, -1]) }];
    }
    case 'Reshape': {
      const xt = t(x, 0);
      const shape = Array.from((ins[1] as CVal).c.data);
      const s = lshape({ t: xt });
      const target = shape.map((d, i) => (d === 0 && num(a.get('allowzero'), 0) === 0 ? s[i] : d));
      return [{ t: toNhwc(tf.reshape(toNchw(xt), target)) }];
    }
    case 'Gemm': {
      const A = t(x, 2);
      const B = w.get(`${n.name}/B`, () => constTensor((ins[1] as CVal).c, 2));
      let y = tf.matMul(A, B, num(a.get('transA'), 0) === 1, num(a.get('transB'), 0) === 1);
      const alpha = num(a.get('alpha'), 1);
      if (alpha !== 1) y = tf.mul(y, alpha);
      if (ins[2])
        y = tf.add(
          y,
          tf.mul(
            w.get(`${n.name}/C`, () => constTensor((ins[2] as CVal).c, 0)),
            num(a.get('beta'), 1),
          ),
        );
      return [{ t: y }];
    }
    case 'MatMul': {
      const A = t(x, 0);
      const B = ins[1] && isT(ins[1]) ? ins[1].t : w.get(`${n.name}/B`, () => constTensor((ins[1] as CVal).c, 0));
      if (A.rank !== 2 || B.rank !== 2)
        throw new ConfigError(
          `${n.name}: MatMul in the head must multiply matrices (got ranks ${A.rank} and ${B.rank})`,
        );
      return [{ t: tf.matMul(A, B) }];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const rank = Math.max(...ins.map((v) => lshape(v!).length));
      const [p, q] = [0, 1].map((i) => {
        const v = ins[i]!;
        if (isT(v)) return v.t;
        return w.get(`${n.name}/${i}`, () => constTensor((v as CVal).c, rank));
      });
      const f = { Add: tf.add, Sub: tf.sub, Mul: tf.mul, Div: tf.div }[n.opType as 'Add'];
      if (p.rank !== q.rank && p.rank > 0 && q.rank > 0 && (p.rank === 4 || q.rank === 4)) {
        throw new ConfigError(
          `${n.name}: ${n.opType} of a rank-${p.rank} and a rank-${q.rank} tensor is not supported in the head`,
        );
      }
      return [{ t: f(p, q) }];
    }
    case 'Concat': {
      const tensors = ins.map((v) => t(v, 4));
      const rank = tensors[0].rank;
      const ax = axis(num(a.get('axis'), 0), rank);
      return [{ t: tf.concat(tensors, rank === 4 ? PHYS[ax] : ax) }];
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const xt = t(x, 0);
      const s = lshape({ t: xt });
      const axesIn = ins[1] && !isT(ins[1]) ? Array.from((ins[1] as CVal).c.data) : ints(a.get('axes'), []);
      let out: number[];
      if (n.opType === 'Squeeze') {
        const ax = (axesIn.length ? axesIn : s.flatMap((d, i) => (d === 1 ? [i] : []))).map((i) => axis(i, s.length));
        out = s.filter((_, i) => !ax.includes(i));
      } else {
        out = [...s];
        for (const i of axesIn.map((i) => axis(i, s.length + axesIn.length)).sort((p, q) => p - q)) out.splice(i, 0, 1);
      }
      return [{ t: toNhwc(tf.reshape(toNchw(xt), out)) }];
    }
    case 'Cast':
      return [x!];
    default:
      throw new ConfigError(`${n.name}: op ${n.opType} is not supported in the head`);
  }
}

/** Constant folding of shape arithmetic. */
function evalConst(n: OnnxNode, ins: readonly (OnnxTensor | undefined)[]): Val {
  const a = n.attrs;
  const x = ins[0]!;
  switch (n.opType) {
    case 'Gather': {
      const idx = ins[1]!;
      const ax = axis(num(a.get('axis'), 0), x.dims.length);
      if (x.dims.length !== 1 || ax !== 0) break;
      const data = Array.from(idx.data, (i) => x.data[i < 0 ? i + x.dims[0] : i]);
      return constOut(idx.dims, data, x.kind);
    }
    case 'Unsqueeze': {
      const axesIn = ins[1] ? Array.from(ins[1].data) : ints(a.get('axes'), []);
      const dims = [...x.dims];
      for (const i of axesIn.map((i) => axis(i, dims.length + axesIn.length)).sort((p, q) => p - q))
        dims.splice(i, 0, 1);
      return constOut(dims, x.data, x.kind);
    }
    case 'Squeeze':
      return constOut(
        x.dims.filter((d) => d !== 1),
        x.data,
        x.kind,
      );
    case 'Concat':
      return constOut(
        [ins.reduce((s, t) => s + (t ? t.data.length : 0), 0)],
        ins.flatMap((t) => (t ? Array.from(t.data) : [])),
        x.kind,
      );
    case 'Cast':
      return { c: x };
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const y = ins[1]!;
      const len = Math.max(x.data.length, y.data.length);
      const at = (t: OnnxTensor, i: number): number => t.data[t.data.length === 1 ? 0 : i];
      const f = {
        Add: (p: number, q: number) => p + q,
        Sub: (p: number, q: number) => p - q,
        Mul: (p: number, q: number) => p * q,
        Div: (p: number, q: number) => (x.kind === 'int' ? Math.trunc(p / q) : p / q),
      }[n.opType as 'Add'];
      if (x.data.length !== y.data.length && x.data.length !== 1 && y.data.length !== 1) break;
      return constOut(
        x.data.length >= y.data.length ? x.dims : y.dims,
        Array.from({ length: len }, (_, i) => f(at(x, i), at(y, i))),
        x.kind,
      );
    }
    default:
      break;
  }
  throw new ConfigError(`${n.name}: cannot fold the constant ${n.opType} in the head`);
}

/** Pads of a Conv/Pool node as [top, left, bottom, right], from `pads` or `auto_pad`. */
function padsOf(
  n: OnnxNode,
  inH: number,
  inW: number,
  k: readonly number[],
  s: readonly number[],
  d: readonly number[],
): number[] {
  const auto = n.attrs.get('auto_pad');
  if (typeof auto === 'string' && auto.startsWith('SAME')) {
    const p = [inH, inW].map((sz, i) => Math.max(0, (Math.ceil(sz / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - sz));
    const lo = p.map((q) => (auto === 'SAME_UPPER' ? Math.floor(q / 2) : Math.ceil(q / 2)));
    return [lo[0], lo[1], p[0] - lo[0], p[1] - lo[1]];
  }
  return ints(n.attrs.get('pads'), [0, 0, 0, 0]);
}

function padded(x: tf.Tensor4D, p: readonly number[], value = 0): tf.Tensor4D {
  if (p.every((q) => q === 0)) return x;
  return tf.pad(
    x,
    [
      [0, 0],
      [p[0], p[2]],
      [p[1], p[3]],
      [0, 0],
    ],
    value,
  );
}

/** Rows/cols (offset + stride·o) for o < out of a padded NHWC tensor, with plain slices and reshapes. */
function strided(
  x: tf.Tensor4D,
  oy: number,
  ox: number,
  outH: number,
  outW: number,
  sy: number,
  sx: number,
): tf.Tensor4D {
  const [N, H, W, C] = x.shape;
  const needH = oy + outH * sy;
  const needW = ox + outW * sx;
  let src = x;
  if (needH > H || needW > W)
    src = tf.pad(x, [
      [0, 0],
      [0, Math.max(0, needH - H)],
      [0, Math.max(0, needW - W)],
      [0, 0],
    ]);
  let s = tf.slice(src, [0, oy, ox, 0], [N, outH * sy, outW * sx, C]);
  if (sy === 1 && sx === 1) return s;
  s = tf.reshape(s, [N, outH, sy, outW, sx, C]) as unknown as tf.Tensor4D;
  s = tf.slice(s, [0, 0, 0, 0, 0, 0], [N, outH, 1, outW, 1, C]) as unknown as tf.Tensor4D;
  return tf.reshape(s, [N, outH, outW, C]);
}

function conv(n: OnnxNode, x: tf.Tensor4D, wc: OnnxTensor, bc: OnnxTensor | undefined, w: HeadWeights): tf.Tensor4D {
  const [O, Ig, kh, kw] = wc.dims;
  const group = num(n.attrs.get('group'), 1);
  const s = ints(n.attrs.get('strides'), [1, 1]);
  const d = ints(n.attrs.get('dilations'), [1, 1]);
  const [, H, W, C] = x.shape;
  const p = padsOf(n, H, W, [kh, kw], s, d);
  const xp = padded(x, p);
  const outH = Math.floor((H + p[0] + p[2] - d[0] * (kh - 1) - 1) / s[0]) + 1;
  const outW = Math.floor((W + p[1] + p[3] - d[1] * (kw - 1) - 1) / s[1]) + 1;
  // filter [kh, kw, Ig, O] (tfjs layout)
  const filter = w.get(`${n.name}/filter`, () => tf.transpose(constTensor(wc, 0), [2, 3, 1, 0]));
  let y: tf.Tensor4D;
  const dilated = d[0] > 1 || d[1] > 1;
  if (group === 1 && !dilated) {
    y = tf.conv2d(xp, filter as tf.Tensor4D, [s[0], s[1]], 'valid');
  } else if (group === C && Ig === 1) {
    // depthwise (channel multiplier O / C): Σ over kernel positions of a shifted slice times per-channel weights
    const mult = O / C;
    const src =
      mult === 1
        ? xp
        : (tf.reshape(tf.tile(tf.expandDims(xp, 4), [1, 1, 1, 1, mult]), [
            xp.shape[0],
            xp.shape[1],
            xp.shape[2],
            C * mult,
          ]) as tf.Tensor4D);
    const wk = w.get(`${n.name}/dw`, () => tf.reshape(filter, [kh, kw, O])); // output channel o reads input o / mult
    const terms: tf.Tensor4D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const sl = strided(src, i * d[0], j * d[1], outH, outW, s[0], s[1]);
        terms.push(tf.mul(sl, tf.reshape(tf.slice(wk, [i, j, 0], [1, 1, O]), [O])));
      }
    }
    y = tf.addN(terms);
  } else {
    const groups = Array.from({ length: group }, (_, gi) => {
      const xg = group === 1 ? xp : tf.slice(xp, [0, 0, 0, gi * Ig], [-1, -1, -1, Ig]);
      const fg =
        group === 1
          ? filter
          : w.get(`${n.name}/filter${gi}`, () =>
              tf.slice(filter, [0, 0, 0, gi * (O / group)], [-1, -1, -1, O / group]),
            );
      if (!dilated) return tf.conv2d(xg, fg as tf.Tensor4D, [s[0], s[1]], 'valid');
      // dilated: Σ over kernel positions of a shifted slice times a 1×1 filter
      // (conv2d's dilated gradients are not twice differentiable)
      const terms: tf.Tensor4D[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const sl = strided(xg, i * d[0], j * d[1], outH, outW, s[0], s[1]);
          terms.push(tf.conv2d(sl, tf.slice(fg, [i, j, 0, 0], [1, 1, -1, -1]) as tf.Tensor4D, 1, 'valid'));
        }
      }
      return tf.addN(terms);
    });
    y = group === 1 ? groups[0] : tf.concat(groups, 3);
  }
  if (bc)
    y = tf.add(
      y,
      w.get(`${n.name}/bias`, () => tf.tensor1d(Float32Array.from(bc.data))),
    );
  return y;
}

function pool(n: OnnxNode, x: tf.Tensor4D): tf.Tensor4D {
  const k = ints(n.attrs.get('kernel_shape'), [1, 1]);
  const s = ints(n.attrs.get('strides'), [1, 1]);
  const d = ints(n.attrs.get('dilations'), [1, 1]);
  if (d.some((q) => q !== 1)) throw new ConfigError(`${n.name}: dilated ${n.opType} is not supported in the head`);
  const [, H, W] = x.shape;
  const p = padsOf(n, H, W, k, s, d);
  if (num(n.attrs.get('ceil_mode'), 0) === 1) {
    // extra bottom/right padding so the last, partial window exists (never starting inside the padding)
    const extra = [H + p[0] + p[2], W + p[1] + p[3]].map((sz, i) => {
      const outCeil = Math.ceil((sz - k[i]) / s[i]) + 1;
      const out = (outCeil - 1) * s[i] >= (i === 0 ? H + p[0] : W + p[1]) ? outCeil - 1 : outCeil;
      return Math.max(0, (out - 1) * s[i] + k[i] - sz);
    });
    p[2] += extra[0];
    p[3] += extra[1];
  }
  const size: [number, number] = [k[0], k[1]];
  const strides: [number, number] = [s[0], s[1]];
  if (n.opType === 'MaxPool') return tf.maxPool(padded(x, p, -3.4e38), size, strides, 'valid');
  const avg = tf.avgPool(padded(x, p), size, strides, 'valid');
  if (p.every((q) => q === 0) || num(n.attrs.get('count_include_pad'), 0) === 1) return avg;
  // count_include_pad = 0: divide by the positions inside the input (a constant per output cell)
  const frac = tf.avgPool(padded(tf.ones([1, H, W, 1]) as tf.Tensor4D, p), size, strides, 'valid');
  return tf.div(avg, frac);
}
