import * as tf from '@tensorflow/tfjs';
import { Rng, type HeadLayer, type TapHead } from '@niwt/core';

/*
 * Test heads: each is a `HeadLayer` description (what the fast engines interpret) and, independently, its
 * function written out by hand in plain tfjs (`apply`, what the double-backprop reference differentiates).
 * No code walks the layer list to compute `apply`, so a misreading of a layer kind shared by the production
 * interpreters (`LinearizedHead`, the ONNX compiler) and a test interpreter cannot make both sides agree.
 */

/** x·W + b over the rows of x flattened in NHWC order. */
export function denseOf(x: tf.Tensor, w: tf.Tensor2D, b?: tf.Tensor1D): tf.Tensor2D {
  const y = tf.matMul(tf.reshape(x, [x.shape[0], -1]), w) as tf.Tensor2D;
  return b ? tf.add<tf.Tensor2D>(y, b) : y;
}

/** 2-D convolution plus bias. */
export function convOf(
  x: tf.Tensor4D,
  f: tf.Tensor4D,
  stride: number,
  padding: 'valid' | 'same',
  b?: tf.Tensor1D,
): tf.Tensor4D {
  const y = tf.conv2d(x, f, stride, padding);
  return b ? tf.add<tf.Tensor4D>(y, b) : y;
}

/** Inference batch norm folded to x·s + o. */
export function bnOf(x: tf.Tensor4D, s: tf.Tensor1D, o: tf.Tensor1D): tf.Tensor4D {
  return tf.add(tf.mul(x, s), o);
}

export interface TestHead extends TapHead {
  dispose(): void;
}

/** Seeded random tensors for test heads, kept for disposal. */
export function maker(seed: number) {
  const rng = new Rng(seed);
  const kept: tf.Tensor[] = [];
  const rand = <T extends tf.Tensor = tf.Tensor>(shape: number[], scale: number, offset = 0): T => {
    const x = tf.tensor(
      Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => offset + scale * rng.normal()),
      shape,
    ) as T;
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

/** A test head from its layer description and its hand-written function of the same weights. */
export function head(
  tapShape: [number, number, number],
  layers: HeadLayer[],
  kept: tf.Tensor[],
  outDim: number,
  fn: (a: tf.Tensor4D) => tf.Tensor2D,
): TestHead {
  return {
    tap: { name: 'tap', shape: tapShape },
    outDim,
    layers,
    apply: (a) => tf.tidy(() => fn(a)),
    dispose: () => tf.dispose(kept),
  };
}

/** VGG-like: maxpool 2×2 → flatten → fc → ReLU → fc → ReLU (the fast path commutes the spatial sum). */
export function vggHead(seed: number, [h, w, k]: [number, number, number], D: number): TestHead {
  const { rand, kept } = maker(seed);
  const din = (h / 2) * (w / 2) * k;
  const [w1, b1] = [rand<tf.Tensor2D>([din, 12], 0.4), rand<tf.Tensor1D>([12], 0.1, 0.2)];
  const [w2, b2] = [rand<tf.Tensor2D>([12, D], 0.4), rand<tf.Tensor1D>([D], 0.1, 0.3)];
  const layers: HeadLayer[] = [
    { kind: 'maxpool', size: 2, stride: 2, padding: 'valid' },
    { kind: 'flatten' },
    { kind: 'dense', weights: w1, bias: b1 },
    { kind: 'relu' },
    { kind: 'dense', weights: w2, bias: b2 },
    { kind: 'relu' },
  ];
  return head([h, w, k], layers, kept, D, (a) =>
    tf.relu(denseOf(tf.relu(denseOf(tf.maxPool(a, 2, 2, 'valid'), w1, b1)), w2, b2)),
  );
}

/** Conv-first (small-cnn from conv2): conv → ReLU → maxpool → avgpool → dense → ReLU. */
export function convHead(seed: number, [h, w, k]: [number, number, number], D: number): TestHead {
  const { rand, kept } = maker(seed);
  const c = 5;
  const [f, fb] = [rand<tf.Tensor4D>([3, 3, k, c], 0.4), rand<tf.Tensor1D>([c], 0.1, 0.1)];
  const [wd, bd] = [rand<tf.Tensor2D>([(h / 2) * (w / 2) * c, D], 0.3), rand<tf.Tensor1D>([D], 0.1, 0.2)];
  const layers: HeadLayer[] = [
    { kind: 'conv', filter: f, bias: fb, stride: 1, padding: 'same' },
    { kind: 'relu' },
    { kind: 'maxpool', size: 2, stride: 2, padding: 'valid' },
    { kind: 'avgpool', size: 2, stride: 1, padding: 'same' },
    { kind: 'dense', weights: wd, bias: bd },
    { kind: 'relu' },
  ];
  const fn = (a: tf.Tensor4D): tf.Tensor2D =>
    tf.relu(denseOf(tf.avgPool(tf.maxPool(tf.relu(convOf(a, f, 1, 'same', fb)), 2, 2, 'valid'), 2, 1, 'same'), wd, bd));
  return head([h, w, k], layers, kept, D, fn);
}

/** ResNet-like: two bottleneck units with inference BN (affine) and identity adds, then global average pooling. */
export function resnetHead(seed: number, [h, w, k]: [number, number, number]): TestHead {
  const { rand, kept } = maker(seed);
  const m = 3;
  // weights drawn in the order the layer list names them (the seeded values are part of the tests' numbers)
  const unit = (): { layers: HeadLayer[]; fn: (x: tf.Tensor4D) => tf.Tensor4D } => {
    const f1 = rand<tf.Tensor4D>([1, 1, k, m], 0.5);
    const [s1, o1] = [rand<tf.Tensor1D>([m], 0.2, 1), rand<tf.Tensor1D>([m], 0.1, 0.1)];
    const f2 = rand<tf.Tensor4D>([3, 3, m, m], 0.4);
    const [s2, o2] = [rand<tf.Tensor1D>([m], 0.2, 1), rand<tf.Tensor1D>([m], 0.1, 0)];
    const f3 = rand<tf.Tensor4D>([1, 1, m, k], 0.5);
    const [s3, o3] = [rand<tf.Tensor1D>([k], 0.2, 1), rand<tf.Tensor1D>([k], 0.1, 0)];
    const layers: HeadLayer[] = [
      {
        kind: 'residual',
        branch: [
          { kind: 'conv', filter: f1, stride: 1, padding: 'same' },
          { kind: 'affine', scale: s1, offset: o1 },
          { kind: 'relu' },
          { kind: 'conv', filter: f2, stride: 1, padding: 'same' },
          { kind: 'affine', scale: s2, offset: o2 },
          { kind: 'relu' },
          { kind: 'conv', filter: f3, stride: 1, padding: 'same' },
          { kind: 'affine', scale: s3, offset: o3 },
        ],
      },
      { kind: 'relu' },
    ];
    const branch = (x: tf.Tensor4D): tf.Tensor4D =>
      bnOf(
        convOf(
          tf.relu(bnOf(convOf(tf.relu(bnOf(convOf(x, f1, 1, 'same'), s1, o1)), f2, 1, 'same'), s2, o2)),
          f3,
          1,
          'same',
        ),
        s3,
        o3,
      );
    return { layers, fn: (x) => tf.relu(tf.add<tf.Tensor4D>(branch(x), x)) };
  };
  const [u1, u2] = [unit(), unit()];
  const fn = (a: tf.Tensor4D): tf.Tensor2D => tf.mean(u2.fn(u1.fn(a)), [1, 2]);
  return head([h, w, k], [...u1.layers, ...u2.layers, { kind: 'gap' }], kept, k, fn);
}
