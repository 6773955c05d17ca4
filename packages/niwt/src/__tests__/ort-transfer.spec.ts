/**
 * The onnxruntime engine of the linearised head against the tfjs one: α, the adjoint, and whole stage D runs.
 * onnxruntime-node is an optional dependency; it is installed in this repository, so these tests use it.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Rng, matrix, memoryTaps, type HeadLayer } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { LinearizedHead, trainUnseenWeights, trainUnseenWeightsAsync, UnsupportedHead } from '../index.js';
import { OrtLinearizedHead } from '../linear-head-ort.js';
import { randomTap } from './fixtures.js';
import { bnOf, convOf, denseOf, head, maker, relErr, resnetHead, vggHead, type TestHead } from './heads.js';

await initBackend('wasm');

/**
 * Everything else the compiler handles: an even 'same' conv (asymmetric padding), a 'valid' 3×3 conv, a
 * residual with a conv shortcut whose branch starts with BN, max pooling, flatten and two dense layers.
 */
function mixedHead(seed: number, [h, w, k]: [number, number, number]): TestHead {
  const { rand, kept } = maker(seed);
  const c = 4;
  // drawn in the order the layer list names them (the seeded values are part of the tests' numbers)
  const [f0, b0] = [rand<tf.Tensor4D>([2, 2, k, c], 0.5), rand<tf.Tensor1D>([c], 0.1, 0.1)];
  const [s1, o1] = [rand<tf.Tensor1D>([c], 0.2, 1), rand<tf.Tensor1D>([c], 0.1, 0.05)];
  const f1 = rand<tf.Tensor4D>([3, 3, c, c], 0.4);
  const fs = rand<tf.Tensor4D>([1, 1, c, c], 0.5);
  const [f2, b2] = [rand<tf.Tensor4D>([3, 3, c, c], 0.4), rand<tf.Tensor1D>([c], 0.1, 0.1)];
  const [w1, c1] = [rand<tf.Tensor2D>([((h - 2) / 2) * ((w - 2) / 2) * c, 7], 0.4), rand<tf.Tensor1D>([7], 0.1, 0.2)];
  const [w2, c2] = [rand<tf.Tensor2D>([7, 6], 0.4), rand<tf.Tensor1D>([6], 0.1, 0.3)];
  const layers: HeadLayer[] = [
    { kind: 'conv', filter: f0, bias: b0, stride: 1, padding: 'same' },
    { kind: 'relu' },
    {
      kind: 'residual',
      branch: [
        { kind: 'affine', scale: s1, offset: o1 },
        { kind: 'conv', filter: f1, stride: 1, padding: 'same' },
        { kind: 'relu' },
      ],
      shortcut: [{ kind: 'conv', filter: fs, stride: 1, padding: 'same' }],
    },
    { kind: 'conv', filter: f2, bias: b2, stride: 1, padding: 'valid' },
    { kind: 'relu' },
    { kind: 'maxpool', size: 2, stride: 2, padding: 'valid' },
    { kind: 'flatten' },
    { kind: 'dense', weights: w1, bias: c1 },
    { kind: 'relu' },
    { kind: 'dense', weights: w2, bias: c2 },
  ];
  const fn = (a: tf.Tensor4D): tf.Tensor2D => {
    const x1 = tf.relu(convOf(a, f0, 1, 'same', b0));
    const x2 = tf.add<tf.Tensor4D>(tf.relu(convOf(bnOf(x1, s1, o1), f1, 1, 'same')), convOf(x1, fs, 1, 'same'));
    const x3 = tf.maxPool(tf.relu(convOf(x2, f2, 1, 'valid', b2)), 2, 2, 'valid');
    return denseOf(tf.relu(denseOf(x3, w1, c1)), w2, c2);
  };
  return head([h, w, k], layers, kept, 6, fn);
}

/** Starts with a 'valid' 3×3 conv and BN (constant in the JVP, commuted in the VJP's sum), then a unit and GAP. */
function validFirst(seed: number, [h, w, k]: [number, number, number]): TestHead {
  const { rand, kept } = maker(seed);
  const c = 5;
  const [f, fb] = [rand<tf.Tensor4D>([3, 3, k, c], 0.4), rand<tf.Tensor1D>([c], 0.1, 0.1)];
  const [s, o] = [rand<tf.Tensor1D>([c], 0.2, 1), rand<tf.Tensor1D>([c], 0.1, 0.05)];
  const [g1, g2] = [rand<tf.Tensor4D>([1, 1, c, 3], 0.5), rand<tf.Tensor4D>([1, 1, 3, c], 0.5)];
  const layers: HeadLayer[] = [
    { kind: 'conv', filter: f, bias: fb, stride: 1, padding: 'valid' },
    { kind: 'affine', scale: s, offset: o },
    { kind: 'relu' },
    {
      kind: 'residual',
      branch: [
        { kind: 'conv', filter: g1, stride: 1, padding: 'valid' },
        { kind: 'relu' },
        { kind: 'conv', filter: g2, stride: 1, padding: 'same' },
      ],
    },
    { kind: 'relu' },
    { kind: 'gap' },
  ];
  const fn = (a: tf.Tensor4D): tf.Tensor2D => {
    const x1 = tf.relu(bnOf(convOf(a, f, 1, 'valid', fb), s, o));
    return tf.mean(tf.relu(tf.add(convOf(tf.relu(convOf(x1, g1, 1, 'valid')), g2, 1, 'same'), x1)), [1, 2]);
  };
  return head([h, w, k], layers, kept, c, fn);
}

/** No ReLU at all: the VJP stays spatially constant from GAP down to the tap (summed as constant × h·w). */
function linearHead(seed: number, [h, w, k]: [number, number, number]): TestHead {
  const { rand, kept } = maker(seed);
  const f = rand<tf.Tensor4D>([1, 1, k, 4], 0.5);
  const [s, o] = [rand<tf.Tensor1D>([4], 0.2, 1), rand<tf.Tensor1D>([4], 0.1)];
  const g = rand<tf.Tensor4D>([1, 1, 4, 4], 0.5);
  const layers: HeadLayer[] = [
    { kind: 'conv', filter: f, stride: 1, padding: 'same' },
    { kind: 'affine', scale: s, offset: o },
    { kind: 'residual', branch: [{ kind: 'conv', filter: g, stride: 1, padding: 'valid' }] },
    { kind: 'gap' },
  ];
  const fn = (a: tf.Tensor4D): tf.Tensor2D => {
    const x1 = bnOf(convOf(a, f, 1, 'same'), s, o);
    return tf.mean(tf.add(convOf(x1, g, 1, 'valid'), x1), [1, 2]);
  };
  return head([h, w, k], layers, kept, 4, fn);
}

const cases: [string, TestHead, [number, number, number]][] = [
  ['ResNet-like (1×1 + 3×3 convs, BN, residual, GAP)', resnetHead(3, [3, 3, 4]), [3, 3, 4]],
  ['valid 3×3 conv + BN first, then a unit, on 5×4', validFirst(4, [5, 4, 3]), [5, 4, 3]],
  ['VGG-like (pool → fc, commuted spatial sum)', vggHead(1, [4, 4, 3], 6), [4, 4, 3]],
  ['linear (1×1 convs, BN, residual, GAP; no ReLU)', linearHead(6, [3, 2, 3]), [3, 2, 3]],
  ['even same conv, valid conv, conv shortcut, max pool, flatten, dense', mixedHead(5, [6, 6, 3]), [6, 6, 3]],
];
afterAll(() => cases.forEach(([, h]) => h.dispose()));

describe.each(cases)('onnxruntime linearised head: %s', (_name, head, shape) => {
  const B = 5;
  const nU = 3;
  const D = head.outDim;
  const K = shape[2];
  const tap = randomTap(8, B, ...shape);
  const rng = new Rng(12);
  const wPer = Float32Array.from({ length: B * D }, () => rng.normal());
  const tRows = Float32Array.from({ length: B * K }, () => rng.normal());

  it('α, the cosine and the adjoint of its gradient equal the tfjs engine (relative error < 1e-4)', async () => {
    const lin = new LinearizedHead(head.layers!, shape);
    const bits = tf.tidy(() => lin.state(tf.tensor4d(tap, [B, ...shape])));
    // the masks are not trivial
    if (lin.maskSizes.length) expect(bits.some((b) => b !== 0) && bits.some((b) => b !== 255)).toBe(true);
    let alphaRef: Float32Array = new Float32Array(0);
    let cosRef: Float32Array = new Float32Array(0);
    let adjRef: Float32Array = new Float32Array(0);
    tf.tidy(() => {
      const masks = lin.masks(bits, B);
      const alpha = lin.alpha(masks, tf.tensor2d(wPer, [B, D]));
      const t = tf.tensor2d(tRows, [B, K]);
      // the cosine term, written out independently of transfer.ts
      const term = (a: tf.Tensor) =>
        tf.mean(tf.sub(1, tf.div(tf.sum(tf.mul(a, t), 1), tf.add(tf.norm(a, 'euclidean', 1), 1e-12)))) as tf.Scalar;
      alphaRef = alpha.dataSync() as Float32Array;
      cosRef = tf.div(tf.sum(tf.mul(alpha, t), 1), tf.norm(alpha, 'euclidean', 1)).dataSync() as Float32Array;
      adjRef = lin.adjoint(masks, tf.grad(term)(alpha) as tf.Tensor2D).dataSync() as Float32Array;
    });
    const ort = await OrtLinearizedHead.create(lin, { threads: 1 });
    const out = await ort.step(bits, B, wPer, tRows);
    await ort.dispose();
    lin.dispose();
    expect(out.alpha).toHaveLength(B * K);
    expect(out.adjoint).toHaveLength(B * D);
    expect(Math.max(...alphaRef.map(Math.abs))).toBeGreaterThan(1e-3);
    expect(Math.max(...adjRef.map(Math.abs))).toBeGreaterThan(1e-6);
    expect(relErr(out.alpha, alphaRef)).toBeLessThan(1e-4);
    expect(relErr(out.cos, cosRef)).toBeLessThan(1e-4);
    expect(relErr(out.adjoint, adjRef)).toBeLessThan(1e-4);
  });

  it(
    'trainUnseenWeightsAsync on onnxruntime follows the tfjs loss curve (within 1e-4) with flat tensor ' + 'memory',
    async () => {
      const targets = matrix(
        nU,
        K,
        Float32Array.from({ length: nU * K }, () => rng.normal()),
      );
      const data = {
        head,
        pool: memoryTaps(tap, shape),
        seenWeights: matrix(
          D,
          4,
          Float32Array.from({ length: D * 4 }, (_, i) => Math.cos(i)),
        ),
        targets,
      };
      const opts = {
        lambda: 0.01,
        lr: 0.02,
        batchSize: 4,
        pairsPerClass: 6,
        maxSteps: 20,
        patience: 1000,
        minImprovement: 0.01,
        seed: 5,
      };
      const before = tf.memory().numTensors;
      const ort = await trainUnseenWeightsAsync(data, { ...opts, implementation: 'auto', ortThreads: 1 });
      expect(tf.memory().numTensors).toBe(before);
      const fast = trainUnseenWeights(data, { ...opts, implementation: 'fast' });
      expect(ort.implementation).toBe('fast-ort');
      expect(ort.ortUnavailableReason).toBeUndefined();
      expect(fast.implementation).toBe('fast');
      expect(ort.losses).toHaveLength(20);
      for (let i = 0; i < 20; i++) expect(Math.abs(ort.losses[i] - fast.losses[i])).toBeLessThan(1e-4);
      expect(relErr(ort.weights.data, fast.weights.data)).toBeLessThan(1e-3);
    },
  );
});

describe('onnxruntime engine fallbacks', () => {
  const shape: [number, number, number] = [4, 4, 2];
  const tap = randomTap(3, 4, ...shape);
  const avgHead = (): TestHead => {
    const f = tf.tensor4d(
      Float32Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => Math.sin(i + 1)),
      [2, 2, 2, 3],
    );
    const layers: HeadLayer[] = [
      { kind: 'conv', filter: f, stride: 1, padding: 'same' },
      { kind: 'relu' },
      { kind: 'avgpool', size: 2, stride: 2, padding: 'valid' },
      { kind: 'gap' },
    ];
    const apply = (a: tf.Tensor4D): tf.Tensor2D =>
      tf.tidy(() => tf.mean(tf.avgPool(tf.relu(tf.conv2d(a, f, 1, 'same')), 2, 2, 'valid'), [1, 2]));
    return { tap: { name: 'tap', shape }, outDim: 3, layers, apply, dispose: () => f.dispose() };
  };
  const data = (head: TestHead) => ({
    head,
    pool: memoryTaps(tap, shape),
    seenWeights: matrix(
      head.outDim,
      3,
      Float32Array.from({ length: head.outDim * 3 }, (_, i) => Math.sin(i)),
    ),
    targets: matrix(2, shape[2], Float32Array.from([1, 0.5, -0.2, 0.8])),
  });
  const opts = {
    lambda: 0.01,
    lr: 0.02,
    batchSize: 2,
    pairsPerClass: 3,
    maxSteps: 4,
    patience: 1000,
    minImprovement: 0.01,
    seed: 1,
  };
  afterEach(() => {
    delete process.env.NIWT_ONNX;
  });

  it(
    'a layer the ONNX compiler lacks: auto runs the tfjs engine, says why, same losses; fast-ort ' + 'refuses',
    async () => {
      const head = avgHead();
      const res = await trainUnseenWeightsAsync(data(head), { ...opts, implementation: 'auto' });
      const ref = trainUnseenWeights(data(head), { ...opts, implementation: 'fast' });
      expect(res.implementation).toBe('fast');
      expect(res.ortUnavailableReason).toBe('avgpool is not compiled to ONNX');
      expect(res.fallbackReason).toBeUndefined();
      expect(res.losses).toEqual(ref.losses);
      await expect(trainUnseenWeightsAsync(data(head), { ...opts, implementation: 'fast-ort' })).rejects.toThrow(
        UnsupportedHead,
      );
      expect(() => trainUnseenWeights(data(head), { ...opts, implementation: 'fast-ort' })).toThrow(
        /call trainUnseenWeightsAsync/,
      );
      head.dispose();
    },
  );

  it('onnxruntime unavailable (NIWT_ONNX=off): auto runs the tfjs engine and names the reason', async () => {
    const head = resnetHead(2, shape);
    process.env.NIWT_ONNX = 'off';
    const res = await trainUnseenWeightsAsync(data(head), { ...opts, implementation: 'auto' });
    expect(res.implementation).toBe('fast');
    expect(res.ortUnavailableReason).toMatch(/onnxruntime-node is not available \(disabled by NIWT_ONNX=off\)/);
    await expect(trainUnseenWeightsAsync(data(head), { ...opts, implementation: 'fast-ort' })).rejects.toThrow(
      /NIWT_ONNX=off/,
    );
    head.dispose();
  });
});
