/**
 * Translates the backbones' node chain into an ONNX graph (NCHW, as ONNX convolutions are): each node's
 * `HeadLayer` description (`Node.describe`, the same one NIWT linearises) or its ONNX hook (`Node.onnx`,
 * for the ResNet stem, whose explicit paddings HeadLayers cannot say). Inference BatchNorm after a
 * convolution is folded into its kernel and bias, as deployed models have it; elsewhere it is a Mul/Add.
 * An explicit zero pad is not a node: it is merged into the next Conv's pads (exact), or into the next
 * MaxPool's when the padded values are known non-negative (ONNX pads max pooling with −∞; after a ReLU,
 * a zero pad gives the same maximum). A zero pad before a max pool of signed values is refused:
 * onnxruntime 1.30's Pad fusion (optimisation level 'basic' and up) turns a Pad node before MaxPool into
 * −∞ padding, so it cannot be expressed faithfully.
 */
import * as tf from '@tensorflow/tfjs';
import type { HeadLayer } from '@niwt/core';
import type { OnnxGraph } from '@niwt/compute';

/** A value of the graph: its name and its shape without the batch, [C, H, W] or [D]. */
export interface OnnxValue {
  readonly name: string;
  readonly shape: readonly number[];
  /** Every element is ≥ 0 (a ReLU or a max pool of one). */
  readonly nonNegative: boolean;
  /** Zero padding [top, left, bottom, right] not applied yet (absorbed by the next Conv / MaxPool). */
  readonly pendingPad?: readonly [number, number, number, number];
}

type Pads = [number, number, number, number];

function values(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/** TF 'same' / 'valid' pads [top, left, bottom, right] of a window on an h × w input. */
export function tfPads(h: number, w: number, k: number, stride: number, padding: 'same' | 'valid'): Pads {
  if (padding === 'valid') return [0, 0, 0, 0];
  const total = (n: number): number => Math.max((Math.ceil(n / stride) - 1) * stride + k - n, 0);
  const th = total(h);
  const tw = total(w);
  return [Math.floor(th / 2), Math.floor(tw / 2), th - Math.floor(th / 2), tw - Math.floor(tw / 2)];
}

/** Writes nodes into an `OnnxGraph`; weights are copied out of the tfjs tensors when emitted. */
export class OnnxEmitter {
  constructor(readonly graph: OnnxGraph) {}

  private init(prefix: string, data: Float32Array, dims: readonly number[]): string {
    return this.graph.initializer(this.graph.fresh(prefix), data, dims);
  }

  /** Zero padding on all four sides, applied lazily (see the file header). */
  pad(x: OnnxValue, p: number): OnnxValue {
    const q = x.pendingPad ?? [0, 0, 0, 0];
    return { ...x, pendingPad: [q[0] + p, q[1] + p, q[2] + p, q[3] + p] };
  }

  /** Applies a pending pad as a Pad node (when the consumer cannot absorb it). */
  materialize(x: OnnxValue): OnnxValue {
    const p = x.pendingPad;
    if (!p || p.every((v) => v === 0)) return { name: x.name, shape: x.shape, nonNegative: x.nonNegative };
    if (x.shape.length !== 3) throw new Error(`onnx export: cannot pad a value of shape [${x.shape.join(', ')}]`);
    const pads = this.graph.int64s([0, 0, p[0], p[1], 0, 0, p[2], p[3]], 'pads');
    const [c, h, w] = x.shape;
    return {
      name: this.graph.op('Pad', [x.name, pads], { mode: { s: 'constant' } }),
      shape: [c, h + p[0] + p[2], w + p[1] + p[3]],
      nonNegative: x.nonNegative,
    };
  }

  /** Per-channel y = x·scale + offset (channel axis 1). */
  affine(x: OnnxValue, scale: Float32Array, offset: Float32Array): OnnxValue {
    const v = this.materialize(x);
    const c = scale.length;
    const dims = v.shape.length === 3 ? [c, 1, 1] : [c];
    const m = this.graph.op('Mul', [v.name, this.init('scale', scale, dims)]);
    return { name: this.graph.op('Add', [m, this.init('offset', offset, dims)]), shape: v.shape, nonNegative: false };
  }

  relu(x: OnnxValue): OnnxValue {
    const v = this.materialize(x);
    return { name: this.graph.op('Relu', [v.name]), shape: v.shape, nonNegative: true };
  }

  /** A convolution from HWIO tfjs weights, optionally followed by a folded per-output-channel affine. */
  conv(
    x: OnnxValue,
    layer: Extract<HeadLayer, { kind: 'conv' }>,
    after?: { scale: Float32Array; offset: Float32Array },
  ): OnnxValue {
    const [kh, kw, ci, co] = layer.filter.shape;
    const [c, h0, w0] = x.shape;
    if (c !== ci) throw new Error(`onnx export: conv expects ${ci} channels, got ${c}`);
    const pend = x.pendingPad ?? [0, 0, 0, 0];
    const h = h0 + pend[0] + pend[2];
    const w = w0 + pend[1] + pend[3];
    if (kh !== kw) throw new Error('onnx export: only square kernels');
    const same = tfPads(h, w, kh, layer.stride, layer.padding);
    const pads: Pads = [pend[0] + same[0], pend[1] + same[1], pend[2] + same[2], pend[3] + same[3]];
    const hwio = values(layer.filter);
    const oihw = new Float32Array(hwio.length);
    const scale = after?.scale;
    for (let y = 0; y < kh; y++) {
      for (let xk = 0; xk < kw; xk++) {
        for (let i = 0; i < ci; i++) {
          const src = ((y * kw + xk) * ci + i) * co;
          for (let o = 0; o < co; o++) oihw[((o * ci + i) * kh + y) * kw + xk] = hwio[src + o] * (scale ? scale[o] : 1);
        }
      }
    }
    const b0 = layer.bias ? values(layer.bias) : new Float32Array(co);
    const bias = after ? b0.map((b, o) => b * after.scale[o] + after.offset[o]) : b0;
    const name = this.graph.op('Conv', [x.name, this.init('W', oihw, [co, ci, kh, kw]), this.init('B', bias, [co])], {
      kernel_shape: { ints: [kh, kw] },
      strides: { ints: [layer.stride, layer.stride] },
      pads: { ints: [pads[0], pads[1], pads[2], pads[3]] },
    });
    const oh = Math.floor((h0 + pads[0] + pads[2] - kh) / layer.stride) + 1;
    const ow = Math.floor((w0 + pads[1] + pads[3] - kw) / layer.stride) + 1;
    return { name, shape: [co, oh, ow], nonNegative: false };
  }

  pool(x: OnnxValue, kind: 'max' | 'avg', size: number, stride: number, padding: 'same' | 'valid'): OnnxValue {
    const absorb = kind === 'max' && x.nonNegative;
    if (kind === 'max' && !absorb && x.pendingPad?.some((p) => p > 0)) {
      throw new Error(
        'onnx export: a zero pad before a max pool of values that may be negative is not supported ' +
          '(onnxruntime fuses it into −∞ padding)',
      );
    }
    const v = absorb ? x : this.materialize(x);
    const pend = v.pendingPad ?? [0, 0, 0, 0];
    const [c, h0, w0] = v.shape;
    const same = tfPads(h0 + pend[0] + pend[2], w0 + pend[1] + pend[3], size, stride, padding);
    const pads: Pads = [pend[0] + same[0], pend[1] + same[1], pend[2] + same[2], pend[3] + same[3]];
    // AveragePool's default count_include_pad = 0 is TF's 'same' average (padding not counted).
    const name = this.graph.op(kind === 'max' ? 'MaxPool' : 'AveragePool', [v.name], {
      kernel_shape: { ints: [size, size] },
      strides: { ints: [stride, stride] },
      pads: { ints: [pads[0], pads[1], pads[2], pads[3]] },
    });
    const oh = Math.floor((h0 + pads[0] + pads[2] - size) / stride) + 1;
    const ow = Math.floor((w0 + pads[1] + pads[3] - size) / stride) + 1;
    return { name, shape: [c, oh, ow], nonNegative: kind === 'max' && v.nonNegative };
  }

  /** [N, C, H, W] → [N, H·W·C] in tfjs' NHWC flattening order (what the dense kernels were trained on). */
  flatten(x: OnnxValue): OnnxValue {
    const v = this.materialize(x);
    if (v.shape.length === 1) return v;
    const t = this.graph.op('Transpose', [v.name], { perm: { ints: [0, 2, 3, 1] } });
    return {
      name: this.graph.op('Flatten', [t], { axis: { i: 1 } }),
      shape: [v.shape.reduce((a, b) => a * b, 1)],
      nonNegative: v.nonNegative,
    };
  }

  dense(x: OnnxValue, layer: Extract<HeadLayer, { kind: 'dense' }>): OnnxValue {
    const v = this.flatten(x);
    const [din, dout] = layer.weights.shape;
    if (v.shape[0] !== din) throw new Error(`onnx export: dense expects ${din} inputs, got ${v.shape[0]}`);
    const inputs = [v.name, this.init('W', values(layer.weights), [din, dout])];
    if (layer.bias) inputs.push(this.init('B', values(layer.bias), [dout]));
    return { name: this.graph.op('Gemm', inputs), shape: [dout], nonNegative: false };
  }

  gap(x: OnnxValue): OnnxValue {
    const v = this.materialize(x);
    const g = this.graph.op('GlobalAveragePool', [v.name]);
    return { name: this.graph.op('Flatten', [g], { axis: { i: 1 } }), shape: [v.shape[0]], nonNegative: v.nonNegative };
  }

  /** Emits a HeadLayer list in order; an `affine` directly after a `conv` is folded into it. */
  layers(x: OnnxValue, layers: readonly HeadLayer[]): OnnxValue {
    let h = x;
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i];
      switch (l.kind) {
        case 'conv': {
          const next = layers[i + 1];
          if (next?.kind === 'affine') {
            h = this.conv(h, l, { scale: values(next.scale), offset: values(next.offset) });
            i++;
          } else h = this.conv(h, l);
          break;
        }
        case 'affine':
          h = this.affine(h, values(l.scale), values(l.offset));
          break;
        case 'relu':
          h = this.relu(h);
          break;
        case 'maxpool':
        case 'avgpool':
          h = this.pool(h, l.kind === 'maxpool' ? 'max' : 'avg', l.size, l.stride, l.padding);
          break;
        case 'flatten':
          h = this.flatten(h);
          break;
        case 'dense':
          h = this.dense(h, l);
          break;
        case 'gap':
          h = this.gap(h);
          break;
        case 'residual': {
          const v = this.materialize(h);
          const a = this.layers(v, l.branch);
          const s = l.shortcut ? this.layers(v, l.shortcut) : v;
          h = {
            name: this.graph.op('Add', [this.materialize(s).name, this.materialize(a).name]),
            shape: a.shape,
            nonNegative: false,
          };
          break;
        }
      }
    }
    return h;
  }

  /** Graph output in tfjs' layout: [N, C, H, W] → NHWC; [N, D] as is. */
  output(x: OnnxValue, name: string): void {
    const v = this.materialize(x);
    if (v.shape.length === 3) {
      this.graph.node('Transpose', [v.name], { perm: { ints: [0, 2, 3, 1] } }, [name]);
      this.graph.output(name, ['batch', v.shape[1], v.shape[2], v.shape[0]]);
    } else {
      this.graph.node('Identity', [v.name], {}, [name]);
      this.graph.output(name, ['batch', ...v.shape]);
    }
  }
}
