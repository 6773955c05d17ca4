import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { relMaxError, runOn, seededRandom, size } from './test-utils.js';
import { registerWasmKernels, WASM_KERNEL_FIXES } from './wasm-kernels.js';

const TOL = 1e-4;

type Pad = 'same' | 'valid' | number;

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad | tf.backend_util.ExplicitPadding;
}

const convCases: ConvCase[] = [
  { x: [1, 7, 7, 1], filter: [3, 3, 1, 4], stride: 1, pad: 'same' },
  { x: [1, 7, 7, 1], filter: [3, 3, 1, 4], stride: 2, pad: 'valid' },
  { x: [2, 8, 8, 3], filter: [3, 3, 3, 5], stride: 2, pad: 'same' },
  { x: [2, 9, 9, 4], filter: [5, 5, 4, 3], stride: 1, pad: 'valid' },
  { x: [2, 9, 9, 4], filter: [5, 5, 4, 3], stride: 2, pad: 'same' },
  { x: [3, 10, 10, 6], filter: [1, 1, 6, 7], stride: 1, pad: 'valid' },
  { x: [3, 10, 10, 6], filter: [1, 1, 6, 7], stride: 2, pad: 'same' },
  { x: [1, 11, 11, 3], filter: [7, 7, 3, 8], stride: 2, pad: 'same' },
  { x: [2, 6, 9, 5], filter: [3, 3, 5, 2], stride: [1, 2], pad: 'valid' },
  { x: [2, 8, 8, 2], filter: [3, 3, 2, 3], stride: 1, pad: 1 },
  {
    x: [2, 8, 9, 2],
    filter: [3, 3, 2, 3],
    stride: 2,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  { x: [2, 12, 12, 16], filter: [3, 3, 16, 8], stride: 1, pad: 'same' },
];

function label(c: ConvCase): string {
  return `x[${c.x}] f[${c.filter}] s${c.stride} ${JSON.stringify(c.pad)}`;
}

async function cbfOn(backend: string, c: ConvCase, dataFormat: 'NHWC' | 'NCHW' = 'NHWC') {
  await tf.setBackend('cpu');
  const outShape = tf.tidy(
    () => tf.conv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.stride, c.pad).shape,
  );
  const xData = seededRandom(size(c.x), 1);
  const dyData = seededRandom(size(outShape), 2);
  return runOn(backend, () => {
    let x: tf.Tensor4D = tf.tensor4d(xData, c.x);
    let dy: tf.Tensor4D = tf.tensor4d(dyData, outShape as [number, number, number, number]);
    if (dataFormat === 'NCHW') {
      x = tf.transpose(x, [0, 3, 1, 2]);
      dy = tf.transpose(dy, [0, 3, 1, 2]);
    }
    return tf
      .engine()
      .runKernel(
        'Conv2DBackpropFilter',
        { x, dy },
        { strides: c.stride, pad: c.pad, dataFormat, filterShape: c.filter },
      ) as tf.Tensor;
  });
}

interface PoolCase {
  x: [number, number, number, number];
  filter: number | [number, number];
  stride: number | [number, number];
  pad: Pad;
}

const poolCases: PoolCase[] = [
  { x: [1, 6, 6, 1], filter: 2, stride: 2, pad: 'valid' },
  { x: [2, 6, 6, 3], filter: 2, stride: 2, pad: 'valid' },
  { x: [2, 7, 7, 3], filter: 2, stride: 2, pad: 'same' },
  { x: [1, 9, 9, 4], filter: 3, stride: 2, pad: 'same' },
  { x: [2, 9, 9, 4], filter: 3, stride: 2, pad: 'valid' },
  { x: [1, 8, 8, 5], filter: 3, stride: 1, pad: 'same' },
  { x: [2, 7, 8, 2], filter: 2, stride: 1, pad: 'valid' },
  { x: [1, 10, 10, 3], filter: 5, stride: 2, pad: 'same' },
  { x: [3, 9, 9, 8], filter: 3, stride: 3, pad: 'valid' },
  { x: [1, 8, 8, 1], filter: 3, stride: 1, pad: 'same' },
  { x: [2, 9, 10, 3], filter: [3, 2], stride: [2, 1], pad: 'same' },
  { x: [1, 9, 9, 2], filter: 3, stride: 2, pad: 1 },
];

/** MaxPoolGrad on `backend`; `ints` makes many ties (values in {0,1,2}) to test the tie-breaking. */
async function mpgOn(backend: string, c: PoolCase, ints = false) {
  const raw = seededRandom(size(c.x), 3);
  const xData = ints ? raw.map((v) => Math.floor((v + 1) * 1.5)) : raw;
  await tf.setBackend('cpu');
  const outShape = tf.tidy(() => tf.maxPool(tf.zeros(c.x) as tf.Tensor4D, c.filter, c.stride, c.pad).shape);
  const dyData = seededRandom(size(outShape), 4);
  return runOn(backend, () => {
    const x = tf.tensor4d(xData, c.x);
    const y = tf.maxPool(x, c.filter, c.stride, c.pad);
    const dy = tf.tensor4d(dyData, y.shape);
    return tf
      .engine()
      .runKernel(
        'MaxPoolGrad',
        { dy, input: x, output: y },
        { filterSize: c.filter, strides: c.stride, pad: c.pad },
      ) as tf.Tensor;
  });
}

/** MaxPoolWithArgmax on `backend`: pooled values followed by the indexes (as floats). */
async function argmaxOn(backend: string, c: PoolCase, includeBatchInIndex: boolean) {
  const xData = seededRandom(size(c.x), 17); // half of the values negative, so all-negative windows occur
  return runOn(backend, () => {
    const { result, indexes } = tf.maxPoolWithArgmax(
      tf.tensor4d(xData, c.x),
      c.filter,
      c.stride,
      c.pad as 'same',
      includeBatchInIndex,
    );
    return tf.concat([result.flatten(), indexes.flatten().toFloat()]);
  });
}

interface MatMulCase {
  a: number[];
  b: number[];
  tA: boolean;
  tB: boolean;
}

const matMulCases: MatMulCase[] = [
  { a: [5, 7], b: [7, 3], tA: false, tB: false },
  { a: [7, 5], b: [7, 3], tA: true, tB: false },
  { a: [5, 7], b: [3, 7], tA: false, tB: true },
  { a: [7, 5], b: [3, 7], tA: true, tB: true },
  { a: [40, 33], b: [20, 33], tA: false, tB: true }, // rows > N: transpose B
  { a: [33, 40], b: [20, 33], tA: true, tB: true },
  { a: [1, 64], b: [300, 64], tA: false, tB: true }, // dense dx, batch 1
  { a: [64, 48], b: [64, 96], tA: true, tB: false }, // dense dW = xᵀ·dy
  { a: [4, 6, 5], b: [5, 3], tA: false, tB: false }, // batch of A against one B: folded
  { a: [4, 5, 6], b: [3, 5], tA: true, tB: true },
  { a: [4, 6, 5], b: [1, 3, 5], tA: false, tB: true },
  { a: [2, 3, 6, 5], b: [5, 4], tA: false, tB: false },
  { a: [3, 6, 5], b: [3, 5, 4], tA: false, tB: false }, // batched, small: stock loop
  { a: [3, 40, 50], b: [3, 40, 36], tA: true, tB: false }, // batched, large: per-batch GEMMs
  { a: [3, 40, 50], b: [3, 36, 50], tA: false, tB: true },
  { a: [1, 40, 50], b: [3, 50, 36], tA: false, tB: false }, // broadcast A
  { a: [3, 50, 40], b: [1, 36, 50], tA: true, tB: true },
];

async function matMulOn(backend: string, c: MatMulCase) {
  const aData = seededRandom(size(c.a), 5);
  const bData = seededRandom(size(c.b), 6);
  return runOn(backend, () => tf.matMul(tf.tensor(aData, c.a), tf.tensor(bData, c.b), c.tA, c.tB));
}

function wasmBackend(): BackendWasm {
  return tf.backend() as BackendWasm;
}

describe('wasm kernel fixes', () => {
  let stockMaxPoolError = 0;
  let stockArgmaxError = 0;

  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
    // The stock kernel first: the bug these tests guard against.
    const c = poolCases[1] as PoolCase;
    const [cpu, stock] = [await mpgOn('cpu', c), await mpgOn('wasm', c)];
    stockMaxPoolError = relMaxError(stock.values, cpu.values);
    const c2 = poolCases[1] as PoolCase; // 2×2 windows: about 1 in 16 is all-negative
    const [cpu2, stock2] = [await argmaxOn('cpu', c2, true), await argmaxOn('wasm', c2, true)];
    stockArgmaxError = relMaxError(stock2.values, cpu2.values);
    registerWasmKernels();
    await tf.setBackend('wasm');
  });

  it('registers every fix on the wasm backend, idempotently', () => {
    const before = WASM_KERNEL_FIXES.map((name) => tf.getKernel(name, 'wasm'));
    for (const k of before) expect(k).toBeDefined();
    registerWasmKernels();
    expect(WASM_KERNEL_FIXES.map((name) => tf.getKernel(name, 'wasm'))).toEqual(before);
    for (const [i, name] of WASM_KERNEL_FIXES.entries()) expect(tf.getKernel(name, 'wasm')).toBe(before[i]);
  });

  it('the stock wasm MaxPoolGrad is wrong with channels > 1 (why it is replaced)', () => {
    expect(stockMaxPoolError).toBeGreaterThan(0.1);
  });

  it('the stock wasm MaxPoolWithArgmax returns wrong indexes for all-negative windows', () => {
    expect(stockArgmaxError).toBeGreaterThan(0.01);
  });

  describe('Conv2DBackpropFilter matches cpu', () => {
    for (const c of convCases) {
      it(label(c), async () => {
        const [cpu, wasm] = [await cbfOn('cpu', c), await cbfOn('wasm', c)];
        expect(wasm.shape).toEqual(c.filter);
        expect(cpu.shape).toEqual(c.filter);
        expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
      });
    }

    it('NCHW data format', async () => {
      const c = convCases[2] as ConvCase;
      const [cpu, wasm] = [await cbfOn('cpu', c, 'NCHW'), await cbfOn('wasm', c, 'NCHW')];
      const nhwc = await cbfOn('cpu', c);
      expect(relMaxError(cpu.values, nhwc.values)).toBeLessThan(TOL);
      expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
    });

    it('splits a large patch matrix into several GEMMs correctly', async () => {
      // C·N·OH·OW = 64·2·96·96 ≈ 1.2 M floats per tap, so the 9 taps exceed one 8 M-float chunk.
      const c: ConvCase = { x: [2, 96, 96, 64], filter: [3, 3, 64, 2], stride: 1, pad: 'same' };
      const [cpu, wasm] = [await cbfOn('cpu', c), await cbfOn('wasm', c)];
      expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
    });

    it('gives the filter gradient of conv2d and fused conv2d through tf.grad', async () => {
      const xData = seededRandom(2 * 9 * 9 * 3, 7);
      const fData = seededRandom(3 * 3 * 3 * 4, 8);
      const grads = async (backend: string) =>
        runOn(backend, () => {
          const x = tf.tensor4d(xData, [2, 9, 9, 3]);
          const g1 = tf.grad((f: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, f as tf.Tensor4D, 2, 'same'))));
          const g2 = tf.grad((f: tf.Tensor) =>
            tf.sum(
              tf.square(tf.fused.conv2d({ x, filter: f as tf.Tensor4D, strides: 1, pad: 'same', activation: 'relu' })),
            ),
          );
          const f = tf.tensor4d(fData, [3, 3, 3, 4]);
          return tf.concat([g1(f).flatten(), g2(f).flatten()]);
        });
      const [cpu, wasm] = [await grads('cpu'), await grads('wasm')];
      expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
    });
  });

  describe('MaxPoolGrad matches cpu', () => {
    for (const c of poolCases) {
      it(`x[${c.x}] f${c.filter} s${c.stride} ${c.pad}`, async () => {
        const [cpu, wasm] = [await mpgOn('cpu', c), await mpgOn('wasm', c)];
        expect(wasm.shape).toEqual(c.x);
        expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
      });
    }

    it('breaks ties like cpu (first maximum in window order)', async () => {
      for (const c of poolCases) {
        const [cpu, wasm] = [await mpgOn('cpu', c, true), await mpgOn('wasm', c, true)];
        expect(relMaxError(wasm.values, cpu.values), `x[${c.x}] f${c.filter} s${c.stride} ${c.pad}`).toBeLessThan(TOL);
      }
    });
  });

  describe('MaxPoolWithArgmax matches cpu', () => {
    for (const c of poolCases) {
      it(`x[${c.x}] f${c.filter} s${c.stride} ${c.pad}`, async () => {
        for (const includeBatch of [true, false]) {
          const [cpu, wasm] = [await argmaxOn('cpu', c, includeBatch), await argmaxOn('wasm', c, includeBatch)];
          expect(wasm.shape).toEqual(cpu.shape);
          expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
        }
      });
    }
  });

  describe('BatchMatMul matches cpu', () => {
    for (const c of matMulCases) {
      it(`a[${c.a}]${c.tA ? 'ᵀ' : ''} · b[${c.b}]${c.tB ? 'ᵀ' : ''}`, async () => {
        const [cpu, wasm] = [await matMulOn('cpu', c), await matMulOn('wasm', c)];
        expect(wasm.shape).toEqual(cpu.shape);
        expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
      });
    }

    it('gives the dense-layer gradients of a 2-layer MLP', async () => {
      const x = seededRandom(32 * 20, 9);
      const w1 = seededRandom(20 * 30, 10);
      const w2 = seededRandom(30 * 6, 11);
      const grads = async (backend: string) =>
        runOn(backend, () => {
          const xs = tf.tensor2d(x, [32, 20]);
          const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.relu(tf.matMul(xs, a)), b)));
          const [g1, g2] = tf.grads(loss)([tf.tensor2d(w1, [20, 30]), tf.tensor2d(w2, [30, 6])]);
          return tf.concat([(g1 as tf.Tensor).flatten(), (g2 as tf.Tensor).flatten()]);
        });
      const [cpu, wasm] = [await grads('cpu'), await grads('wasm')];
      expect(relMaxError(wasm.values, cpu.values)).toBeLessThan(TOL);
    });
  });

  it('leaks neither tensors nor wasm buffers across repeated kernel calls', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(seededRandom(2 * 12 * 12 * 16, 12), [2, 12, 12, 16]);
    const dy = tf.tensor4d(seededRandom(2 * 6 * 6 * 8, 13), [2, 6, 6, 8]);
    const a = tf.tensor3d(seededRandom(3 * 40 * 50, 14), [3, 40, 50]);
    const b = tf.tensor2d(seededRandom(36 * 50, 15), [36, 50]);
    const pool = tf.tensor4d(seededRandom(2 * 8 * 8 * 4, 16), [2, 8, 8, 4]);
    // Not in a tidy: every output is disposed explicitly, so a leak inside a kernel shows up.
    const round = () => {
      const a2 = tf.reshape(a, [120, 50]);
      const outs = [
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 16, 8] },
          ),
        tf.matMul(a, b, false, true),
        tf.matMul(a, a, true, false),
        tf.matMul(a2, b, false, true),
        tf.grad((p: tf.Tensor) => tf.sum(tf.maxPool(p as tf.Tensor4D, 3, 2, 'same')))(pool),
      ];
      tf.dispose([...(outs as tf.Tensor[]), a2]);
    };
    round();
    const tensors = tf.memory().numTensors;
    const dataIds = wasmBackend().numDataIds();
    for (let i = 0; i < 5; i++) round();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(wasmBackend().numDataIds()).toBe(dataIds);
    tf.dispose([x, dy, a, b, pool]);
  });
});
