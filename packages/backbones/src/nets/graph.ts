/**
 * The building blocks of the ImageNet networks: parameter layers named as in Keras, and a chain of nodes
 * (each node's output is a potential tap). Written with tfjs core ops, unfused, so any tap can be cut out
 * and the head from a tap is differentiable twice (BatchNorm is `affineBatchNorm`, inference mode).
 */
import * as tf from '@tensorflow/tfjs';
import { type HeadLayer, type Rng } from '@niwt/core';
import { affineBatchNorm, variableFrom } from '@niwt/compute';
import type { OnnxEmitter, OnnxValue } from '../onnx/emit.js';

/**
 * A Keras layer that holds weights, in Keras' weight order (conv/dense: kernel, bias; bn: gamma, beta, moving mean,
 * moving variance).
 */
export interface ParamLayer {
  readonly name: string;
  readonly kind: 'conv' | 'bn' | 'dense';
  readonly shapes: readonly (readonly number[])[];
  /** Absent from a weights file without failing (the ImageNet classifier `predictions`). */
  readonly optional: boolean;
  /** Set by `NetParams.create`. */
  vars: tf.Variable[];
}

export interface ApplyOptions {
  /** Training dropout after the nodes of `NetSpec.dropoutAfter` (VGG16 fc1/fc2, ResNet avg_pool). */
  readonly dropout?: { readonly rate: number; readonly seed: number; readonly after: readonly string[] };
}

/** Inference-mode BatchNorm folded to a per-channel scale and offset. */
export type FoldBn = (bn: ParamLayer) => { readonly scale: tf.Tensor1D; readonly offset: tf.Tensor1D };

/** One step of the chain; its output (named as the Keras layer) may be a tap. */
export interface Node {
  readonly name: string;
  /** Output shape without the batch dimension. */
  readonly shape: readonly number[];
  apply(x: tf.Tensor, opts: ApplyOptions): tf.Tensor;
  /** The same step as `HeadLayer`s (inference mode), so NIWT can linearise heads cut from this chain. */
  describe?(fold: FoldBn): HeadLayer[];
  /** ONNX export of a node `describe` cannot state (the ResNet stem's explicit paddings); else `describe` is used. */
  onnx?(e: OnnxEmitter, x: OnnxValue, fold: FoldBn): OnnxValue;
}

/** A whole network: the node chain, its parameter layers, and where the penultimate features come out. */
export interface NetSpec {
  readonly family: 'vgg16' | 'resnet50' | 'resnet101';
  readonly inputSize: number;
  readonly nodes: readonly Node[];
  readonly layers: readonly ParamLayer[];
  /** Name of the node whose output is the penultimate feature vector (VGG16 fc2, ResNet avg_pool). */
  readonly penultimate: string;
  /** Names of the nodes a tap may be cut at. */
  readonly taps: readonly string[];
  /** Taps right before global pooling and a linear head: their importances are the same for every image. */
  readonly degenerateTaps: readonly string[];
  /** Node after which training dropout goes (before the seen head). */
  readonly dropoutAfter: readonly string[];
}

export const BN_EPSILON = 1.001e-5;

export function convLayer(name: string, k: number, cin: number, cout: number): ParamLayer {
  return { name, kind: 'conv', shapes: [[k, k, cin, cout], [cout]], optional: false, vars: [] };
}

export function bnLayer(name: string, c: number): ParamLayer {
  return { name, kind: 'bn', shapes: [[c], [c], [c], [c]], optional: false, vars: [] };
}

export function denseLayer(name: string, din: number, dout: number, optional = false): ParamLayer {
  return { name, kind: 'dense', shapes: [[din, dout], [dout]], optional, vars: [] };
}

/** conv2d + bias (unfused: its gradient does not drag a filter gradient into NIWT's activation gradients). */
export function applyConv(layer: ParamLayer, x: tf.Tensor4D, stride: number, pad: 'same' | 'valid'): tf.Tensor4D {
  const [w, b] = layer.vars as [tf.Variable<tf.Rank.R4>, tf.Variable<tf.Rank.R1>];
  return tf.add(tf.conv2d(x, w, stride, pad), b);
}

export function applyBn(layer: ParamLayer, x: tf.Tensor4D): tf.Tensor4D {
  const [gamma, beta, mean, variance] = layer.vars;
  return affineBatchNorm(x, mean, variance, beta, gamma, BN_EPSILON);
}

export function applyDense(layer: ParamLayer, x: tf.Tensor): tf.Tensor2D {
  const [w, b] = layer.vars as [tf.Variable<tf.Rank.R2>, tf.Variable<tf.Rank.R1>];
  const flat = x.rank === 2 ? (x as tf.Tensor2D) : (tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D);
  return tf.add(tf.matMul(flat, w), b);
}

/** Output size of a convolution or pooling along one axis. */
export function outSize(n: number, k: number, stride: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? Math.ceil(n / stride) : Math.floor((n - k) / stride) + 1;
}

/** Channel count scaled by the width multiplier (tiny test variants), at least 1. */
export function scaled(c: number, width: number): number {
  return Math.max(1, Math.round(c * width));
}

/** He-normal initial weights (used when no weights file is given, e.g. the tiny test variants). */
export function initialValues(layer: ParamLayer, rng: Rng): Float32Array[] {
  return layer.shapes.map((shape, i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (layer.kind === 'bn') {
      if (i === 0 || i === 3) out.fill(1);
      return out;
    }
    if (i === 1) return out;
    const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
    const std = Math.sqrt(2 / fanIn);
    for (let j = 0; j < n; j++) out[j] = rng.normal() * std;
    return out;
  });
}

/** Whether a variable of a layer is trained (BN moving statistics are not: BN runs in inference mode). */
export function isTrainable(layer: ParamLayer, i: number): boolean {
  return !(layer.kind === 'bn' && i >= 2);
}

/** Creates the layer's variables from values (scoped names: tfjs variable names are global). */
export function createVariables(layer: ParamLayer, values: readonly Float32Array[], scope: string): void {
  layer.vars.forEach((v) => v.dispose());
  const suffix = layer.kind === 'bn' ? ['gamma', 'beta', 'moving_mean', 'moving_variance'] : ['kernel', 'bias'];
  layer.vars = layer.shapes.map((shape, i) =>
    variableFrom(values[i], shape, `${scope}${layer.name}/${suffix[i]}`, isTrainable(layer, i)),
  );
}

/** Runs nodes [from, to) of the chain. */
export function runChain(
  nodes: readonly Node[],
  x: tf.Tensor,
  from: number,
  to: number,
  opts: ApplyOptions = {},
): tf.Tensor {
  let h = x;
  for (let i = from; i < to; i++) {
    h = nodes[i].apply(h, opts);
    const d = opts.dropout;
    if (d && d.rate > 0 && d.after.includes(nodes[i].name)) h = tf.dropout(h, d.rate, undefined, d.seed + i);
  }
  return h;
}

export function nodeIndex(spec: NetSpec, name: string): number {
  const i = spec.nodes.findIndex((n) => n.name === name);
  if (i < 0) throw new Error(`${spec.family}: no node '${name}'`);
  return i;
}

/** A conv layer as a `HeadLayer` (kernel and bias). */
export function convHeadLayer(layer: ParamLayer, stride: number, padding: 'same' | 'valid'): HeadLayer {
  const [w, b] = layer.vars as [tf.Variable<tf.Rank.R4>, tf.Variable<tf.Rank.R1>];
  return { kind: 'conv', filter: w, bias: b, stride, padding };
}

/** A BN layer as an `affine` `HeadLayer`. */
export function bnHeadLayer(layer: ParamLayer, fold: FoldBn): HeadLayer {
  const { scale, offset } = fold(layer);
  return { kind: 'affine', scale, offset };
}

/** Folds inference BN: scale = γ/√(var + ε), offset = β − mean·scale. The caller owns the tensors. */
export function foldBn(layer: ParamLayer): { scale: tf.Tensor1D; offset: tf.Tensor1D } {
  const [gamma, beta, mean, variance] = layer.vars as tf.Variable<tf.Rank.R1>[];
  return tf.tidy(() => {
    const scale = tf.div(gamma, tf.sqrt(tf.add(variance, BN_EPSILON))) as tf.Tensor1D;
    return { scale, offset: tf.sub(beta, tf.mul(mean, scale)) as tf.Tensor1D };
  });
}
