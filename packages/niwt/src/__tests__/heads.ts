import * as tf from '@tensorflow/tfjs';
import { Rng, type HeadLayer, type TapHead } from '@niwt/core';

/** Applies a layer list (the contract's meaning of `TapHead.layers`). */
export function applyLayers(layers: readonly HeadLayer[], x: tf.Tensor): tf.Tensor {
  let h = x;
  for (const l of layers) {
    switch (l.kind) {
      case 'relu':
        h = tf.relu(h);
        break;
      case 'maxpool':
        h = tf.maxPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
        break;
      case 'avgpool':
        h = tf.avgPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0], -1]);
        break;
      case 'dense':
        h = tf.matMul(tf.reshape(h, [h.shape[0], -1]), l.weights);
        if (l.bias) h = tf.add(h, l.bias);
        break;
      case 'conv':
        h = tf.conv2d(h as tf.Tensor4D, l.filter, l.stride, l.padding);
        if (l.bias) h = tf.add(h, l.bias);
        break;
      case 'affine':
        h = tf.add(tf.mul(h, l.scale), l.offset);
        break;
      case 'gap':
        h = tf.mean(h, [1, 2]);
        break;
      case 'residual':
        h = tf.add(applyLayers(l.branch, h), l.shortcut ? applyLayers(l.shortcut, h) : h);
        break;
    }
  }
  return h;
}

export interface TestHead extends TapHead {
  dispose(): void;
}

/** Seeded random tensors for test heads, kept for disposal. */
export function maker(seed: number) {
  const rng = new Rng(seed);
  const kept: tf.Tensor[] = [];
  const rand = <T extends tf.Tensor = tf.Tensor>(shape: number[], scale: number, offset = 0): T => {
    const x = tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => offset + scale * rng.normal()), shape) as T;
    kept.push(x);
    return x;
  };
  return { rand, kept };
}

/** Max absolute error relative to the largest reference magnitude. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / Math.max(den, 1e-12);
}

export function head(tapShape: [number, number, number], layers: HeadLayer[], kept: tf.Tensor[], outDim: number): TestHead {
  return {
    tap: { name: 'tap', shape: tapShape },
    outDim,
    layers,
    apply: (a) => tf.tidy(() => applyLayers(layers, a) as tf.Tensor2D),
    dispose: () => tf.dispose(kept),
  };
}

/** VGG-like: maxpool 2×2 → flatten → fc → ReLU → fc → ReLU (the fast path commutes the spatial sum). */
export function vggHead(seed: number, [h, w, k]: [number, number, number], D: number): TestHead {
  const { rand, kept } = maker(seed);
  const din = (h / 2) * (w / 2) * k;
  const layers: HeadLayer[] = [
    { kind: 'maxpool', size: 2, stride: 2, padding: 'valid' },
    { kind: 'flatten' },
    { kind: 'dense', weights: rand([din, 12], 0.4) as tf.Tensor2D, bias: rand([12], 0.1, 0.2) as tf.Tensor1D },
    { kind: 'relu' },
    { kind: 'dense', weights: rand([12, D], 0.4) as tf.Tensor2D, bias: rand([D], 0.1, 0.3) as tf.Tensor1D },
    { kind: 'relu' },
  ];
  return head([h, w, k], layers, kept, D);
}

/** Conv-first (small-cnn from conv2): conv → ReLU → maxpool → avgpool → dense → ReLU. */
export function convHead(seed: number, [h, w, k]: [number, number, number], D: number): TestHead {
  const { rand, kept } = maker(seed);
  const c = 5;
  const layers: HeadLayer[] = [
    { kind: 'conv', filter: rand([3, 3, k, c], 0.4) as tf.Tensor4D, bias: rand([c], 0.1, 0.1) as tf.Tensor1D, stride: 1, padding: 'same' },
    { kind: 'relu' },
    { kind: 'maxpool', size: 2, stride: 2, padding: 'valid' },
    { kind: 'avgpool', size: 2, stride: 1, padding: 'same' },
    { kind: 'dense', weights: rand([(h / 2) * (w / 2) * c, D], 0.3) as tf.Tensor2D, bias: rand([D], 0.1, 0.2) as tf.Tensor1D },
    { kind: 'relu' },
  ];
  return head([h, w, k], layers, kept, D);
}

/** ResNet-like: two bottleneck units with inference BN (affine) and identity adds, then global average pooling. */
export function resnetHead(seed: number, [h, w, k]: [number, number, number]): TestHead {
  const { rand, kept } = maker(seed);
  const m = 3;
  const unit = (): HeadLayer[] => [
    {
      kind: 'residual',
      branch: [
        { kind: 'conv', filter: rand([1, 1, k, m], 0.5) as tf.Tensor4D, stride: 1, padding: 'same' },
        { kind: 'affine', scale: rand([m], 0.2, 1) as tf.Tensor1D, offset: rand([m], 0.1, 0.1) as tf.Tensor1D },
        { kind: 'relu' },
        { kind: 'conv', filter: rand([3, 3, m, m], 0.4) as tf.Tensor4D, stride: 1, padding: 'same' },
        { kind: 'affine', scale: rand([m], 0.2, 1) as tf.Tensor1D, offset: rand([m], 0.1, 0) as tf.Tensor1D },
        { kind: 'relu' },
        { kind: 'conv', filter: rand([1, 1, m, k], 0.5) as tf.Tensor4D, stride: 1, padding: 'same' },
        { kind: 'affine', scale: rand([k], 0.2, 1) as tf.Tensor1D, offset: rand([k], 0.1, 0) as tf.Tensor1D },
      ],
    },
    { kind: 'relu' },
  ];
  return head([h, w, k], [...unit(), ...unit(), { kind: 'gap' }], kept, k);
}
