/**
 * An imported head as the project's `HeadLayer` list, where it maps onto it, so NIWT's stage D takes its
 * exact fast path (frozen ReLU and max-pool masks: piecewise-linear heads only). Maps chains and residual
 * blocks of Conv (one group, no dilation, 'valid' or stride-1 'same' padding), BatchNormalization, Relu,
 * non-overlapping MaxPool, unpadded AveragePool, GlobalAveragePool, Flatten, Gemm / MatMul(+Add), Add of
 * two paths, Identity and Dropout. Anything else (HardSwish, Sigmoid, Concat, depthwise convs, …) returns the
 * reason and the head falls back to double backprop (`TapHead.layers` absent).
 */
import * as tf from '@tensorflow/tfjs';
import type { HeadLayer } from '@niwt/core';
import type { OnnxNode, OnnxTensor } from './model.js';
import type { OnnxGraphView } from './graph.js';
import type { HeadWeights } from './head.js';

export type LayerMapping = { readonly layers: HeadLayer[] } | { readonly reason: string };

class NoFastPath extends Error {}

const intsOf = (n: OnnxNode, k: string, d: number[]): number[] => {
  const v = n.attrs.get(k);
  return Array.isArray(v) ? (v as number[]) : d;
};
const numOf = (n: OnnxNode, k: string, d: number): number => {
  const v = n.attrs.get(k);
  return typeof v === 'number' ? v : d;
};

/**
 * @param shapes logical (NCHW) shapes of the head's values, from one traced run
 */
export function headLayers(
  g: OnnxGraphView,
  nodes: readonly OnnxNode[],
  tap: string,
  features: string,
  shapes: ReadonlyMap<string, number[]>,
  w: HeadWeights,
): LayerMapping {
  const inHead = new Set(nodes);
  const consumers = (v: string): OnnxNode[] => (g.consumers.get(v) ?? []).filter((n) => inHead.has(n));
  const need = (c: OnnxTensor | undefined, what: string): OnnxTensor => {
    if (!c) throw new NoFastPath(`${what} is not a constant`);
    return c;
  };
  /** A pending NCHW flatten of a [c, h, w] map, folded into the next dense layer's rows. */
  let flattenOf: number[] | undefined;

  const nodeLayers = (n: OnnxNode): HeadLayer[] => {
    const x = n.inputs[0];
    const s = shapes.get(x) ?? [];
    switch (n.opType) {
      case 'Identity':
      case 'Dropout':
        return [];
      case 'Relu':
        return [{ kind: 'relu' }];
      case 'BatchNormalization':
        return [
          {
            kind: 'affine',
            scale: w.get(`${n.name}/scale`, () => tf.zeros([1])) as tf.Tensor1D,
            offset: w.get(`${n.name}/offset`, () => tf.zeros([1])) as tf.Tensor1D,
          },
        ];
      case 'Conv': {
        const wc = need(g.constant(n.inputs[1]), `${n.name} weights`);
        const [, , kh, kw] = wc.dims;
        const st = intsOf(n, 'strides', [1, 1]);
        const d = intsOf(n, 'dilations', [1, 1]);
        const p = intsOf(n, 'pads', [0, 0, 0, 0]);
        if (numOf(n, 'group', 1) !== 1 || d.some((q) => q !== 1) || st[0] !== st[1] || n.attrs.has('auto_pad'))
          throw new NoFastPath(`${n.name}: grouped, dilated or auto-padded Conv`);
        let padding: 'valid' | 'same';
        if (p.every((q) => q === 0)) padding = 'valid';
        else if (st[0] === 1 && kh === kw && kh % 2 === 1 && p.every((q) => q === (kh - 1) / 2)) padding = 'same';
        else throw new NoFastPath(`${n.name}: Conv padding ${p} with stride ${st[0]} differs from tfjs 'same'`);
        const filter = w.get(`${n.name}/filter`, () => tf.zeros([1])) as tf.Tensor4D;
        const bias = n.inputs[2] ? (w.get(`${n.name}/bias`, () => tf.zeros([1])) as tf.Tensor1D) : undefined;
        return [{ kind: 'conv', filter, bias, stride: st[0], padding }];
      }
      case 'MaxPool':
      case 'AveragePool': {
        const k = intsOf(n, 'kernel_shape', [1, 1]);
        const st = intsOf(n, 'strides', [1, 1]);
        const p = intsOf(n, 'pads', [0, 0, 0, 0]);
        if (k[0] !== k[1] || st[0] !== st[1] || p.some((q) => q !== 0) || numOf(n, 'ceil_mode', 0) === 1)
          throw new NoFastPath(`${n.name}: padded or non-square ${n.opType}`);
        return [{ kind: n.opType === 'MaxPool' ? 'maxpool' : 'avgpool', size: k[0], stride: st[0], padding: 'valid' }];
      }
      case 'GlobalAveragePool':
        return [{ kind: 'gap' }];
      case 'Flatten': {
        if (s.length === 2) return [];
        if (s.length === 4 && s[2] * s[3] === 1) return [{ kind: 'flatten' }];
        if (s.length === 4) {
          flattenOf = [s[1], s[2], s[3]];
          return [{ kind: 'flatten' }];
        }
        throw new NoFastPath(`${n.name}: Flatten of rank ${s.length}`);
      }
      case 'Gemm':
      case 'MatMul': {
        if (
          n.opType === 'Gemm' &&
          (numOf(n, 'transA', 0) !== 0 || numOf(n, 'alpha', 1) !== 1 || numOf(n, 'beta', 1) !== 1)
        )
          throw new NoFastPath(`${n.name}: Gemm with transA/alpha/beta`);
        const B = need(g.constant(n.inputs[1]), `${n.name} weights`);
        const transB = n.opType === 'Gemm' && numOf(n, 'transB', 0) === 1;
        const perm = flattenOf;
        flattenOf = undefined;
        const weights = w.get(`${n.name}/dense`, () => {
          let m = tf.tensor2d(Float32Array.from(B.data), [B.dims[0], B.dims[1]]);
          if (transB) m = tf.transpose(m);
          if (!perm) return m;
          // rows in NCHW order → the NHWC order `dense` flattens in
          const [c, h, ww] = perm;
          return tf.reshape(tf.transpose(tf.reshape(m, [c, h, ww, -1]), [1, 2, 0, 3]), [c * h * ww, -1]);
        }) as tf.Tensor2D;
        const bias =
          n.opType === 'Gemm' && n.inputs[2]
            ? (w.get(`${n.name}/C1`, () =>
                tf.tensor1d(Float32Array.from(need(g.constant(n.inputs[2]), 'bias').data)),
              ) as tf.Tensor1D)
            : undefined;
        return [{ kind: 'dense', weights, bias }];
      }
      default:
        throw new NoFastPath(
          `${n.name} (${n.opType}) is not piecewise linear with frozen masks or has no HeadLayer form`,
        );
    }
  };

  /** Layers from value `v` until `end` (exclusive of nodes after it). */
  const chain = (start: string, end: string): { layers: HeadLayer[]; at: string } => {
    const layers: HeadLayer[] = [];
    let v = start;
    while (v !== end) {
      const cs = consumers(v);
      if (cs.length === 1) {
        const n = cs[0];
        if (n.opType === 'Add' && n.inputs.every((i) => !g.constant(i))) return { layers, at: v }; // a residual join
        if (n.opType === 'Add' && layers.length && layers[layers.length - 1].kind === 'dense') {
          // MatMul + bias
          const c = need(g.constant(n.inputs.find((i) => i !== v)!), `${n.name} bias`);
          const last = layers.pop() as Extract<HeadLayer, { kind: 'dense' }>;
          if (last.bias) throw new NoFastPath(`${n.name}: a second bias`);
          layers.push({
            ...last,
            bias: w.get(`${n.name}/bias1`, () => tf.tensor1d(Float32Array.from(c.data))) as tf.Tensor1D,
          });
          v = n.outputs[0];
          continue;
        }
        layers.push(...nodeLayers(n));
        v = n.outputs[0];
        continue;
      }
      if (cs.length === 2) {
        // a residual block: two paths from v that meet at one Add
        const a = chain2(cs[0], v);
        const b = chain2(cs[1], v);
        if (!a.join || a.join !== b.join) throw new NoFastPath(`the branches from ${v} do not meet at one Add`);
        const [branch, shortcut] = a.layers.length >= b.layers.length ? [a.layers, b.layers] : [b.layers, a.layers];
        layers.push({ kind: 'residual', branch, shortcut: shortcut.length ? shortcut : undefined });
        v = a.join.outputs[0];
        continue;
      }
      if (cs.length === 0) throw new NoFastPath(`${v} has no consumer in the head`);
      throw new NoFastPath(`${v} feeds ${cs.length} nodes (only residual pairs map onto HeadLayer)`);
    }
    return { layers, at: v };
  };

  /** One path of a residual block: from the node `first` (reading `v`) to the Add where it joins. */
  const chain2 = (first: OnnxNode, v: string): { layers: HeadLayer[]; join?: OnnxNode } => {
    if (first.opType === 'Add') return { layers: [], join: first };
    const layers = nodeLayers(first);
    const rest = chain(first.outputs[0], features);
    const join = consumers(rest.at)[0];
    if (
      !join ||
      join.opType !== 'Add' ||
      !join.inputs.includes(rest.at) ||
      !join.inputs.includes(rest.at === v ? v : rest.at)
    )
      return { layers: [] };
    return { layers: [...layers, ...rest.layers], join };
  };

  try {
    const { layers, at } = chain(tap, features);
    if (at !== features) throw new NoFastPath(`the head does not reach ${features} as a chain`);
    return { layers };
  } catch (e) {
    if (e instanceof NoFastPath) return { reason: e.message };
    throw e;
  }
}
