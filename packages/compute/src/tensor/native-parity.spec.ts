/**
 * Backend parity of the native 'tensorflow' backend (tfjs-node built by scripts/tfjs-native.sh) against
 * tfjs's 'cpu' backend, the reference: every kernel the WASM fixes replace, the kernel registered for
 * 'tensorflow' (MaxPoolWithArgmax), every registered gradient, and NIWT's double backprop, each within 1e-4
 * relative (max error over the reference's max magnitude). The suite fails, never skips, when the native
 * backend cannot be built or loaded. The largest error per group is printed at the end.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { affineBatchNorm, avgPoolGradDivisor } from './gradients.js';
import { NATIVE_KERNEL_FIXES } from './native-kernels.js';
import { ensureNativeBackend } from './native-setup.js';
import { relMaxError, runOn, scoped, seededRandom, size } from './test-utils.js';
import { WASM_KERNEL_FIXES } from './wasm-kernels.js';

const TOL = 1e-4;
type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid';

const maxima = new Map<string, number>();
function within(group: string, a: ArrayLike<number>, ref: ArrayLike<number>, tol = TOL): void {
  const e = relMaxError(a, ref);
  maxima.set(group, Math.max(maxima.get(group) ?? 0, e));
  expect(e, group).toBeLessThan(tol);
}

/** Runs `fn` on 'cpu' and 'tensorflow'; both results, values and shapes. */
async function both(fn: () => tf.Tensor) {
  const cpu = await runOn('cpu', fn);
  const native = await runOn('tensorflow', fn);
  expect(native.shape).toEqual(cpu.shape);
  return { cpu: cpu.values, native: native.values };
}

const t4 = (shape: Shape4, seed: number, scale = 1) =>
  tf.tensor4d(seededRandom(size(shape), seed), shape).mul(scale) as tf.Tensor4D;

beforeAll(async () => {
  ensureNativeBackend();
  const info = await initBackend('tensorflow');
  expect(info.name).toBe('tensorflow');
  await initBackend('cpu');
}, 900_000);

afterAll(() => {
  const all = Object.fromEntries([...maxima].map(([k, v]) => [k, +v.toExponential(2)]));
  console.log(`native parity maxima (relative to cpu): ${JSON.stringify(all)}`);
});

describe("the native 'tensorflow' backend", () => {
  it('loads through initBackend, registers its kernel fix and divides AvgPoolGrad like TensorFlow', async () => {
    const info = await initBackend('tensorflow');
    expect(info.note).toMatch(/native TensorFlow via @tensorflow\/tfjs-node(-gpu)? \(TensorFlow 2\.21\.0\)/);
    for (const k of NATIVE_KERNEL_FIXES) expect(tf.getKernel(k, 'tensorflow')).toBeDefined();
    // The WASM replacements stay on WASM: the native backend keeps its own kernels.
    for (const k of WASM_KERNEL_FIXES) expect(tf.getKernel(k, 'tensorflow')?.backendName).toBe('tensorflow');
    expect(avgPoolGradDivisor()).toBe('inside');
    await initBackend('cpu');
  });
});

const CONV: Array<{ x: Shape4; f: Shape4; s: number; pad: Pad }> = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 1, pad: 'same' },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], s: 2, pad: 'same' },
  { x: [1, 10, 8, 5], f: [3, 3, 5, 6], s: 2, pad: 'valid' },
  { x: [2, 7, 7, 8], f: [1, 1, 8, 16], s: 1, pad: 'valid' },
  { x: [1, 15, 15, 3], f: [7, 7, 3, 8], s: 2, pad: 'same' },
];

describe('conv kernels match cpu (forward, Conv2DBackpropInput, Conv2DBackpropFilter)', () => {
  for (const c of CONV) {
    it(`x[${c.x}] f[${c.f}] s${c.s} ${c.pad}`, async () => {
      const fwd = await both(() => tf.conv2d(t4(c.x, 1), t4(c.f, 2, 0.5), c.s, c.pad));
      within('conv2d', fwd.native, fwd.cpu);
      const conv = (x: tf.Tensor, f: tf.Tensor) =>
        tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.s, c.pad)));
      const dx = await both(() => tf.grad((x: tf.Tensor) => conv(x, t4(c.f, 2, 0.5)))(t4(c.x, 1)));
      within('Conv2DBackpropInput', dx.native, dx.cpu);
      const df = await both(() => tf.grad((f: tf.Tensor) => conv(t4(c.x, 1), f))(t4(c.f, 2, 0.5)));
      within('Conv2DBackpropFilter', df.native, df.cpu);
    });
  }

  it('fused conv2d (bias, relu) and its gradients', async () => {
    const r = await both(() => {
      const x = t4([2, 8, 8, 4], 3);
      const bias = tf.tensor1d(seededRandom(6, 4)).mul(0.1);
      const loss = (xx: tf.Tensor, ff: tf.Tensor) =>
        tf.sum(
          tf.square(
            tf.fused.conv2d({
              ...{ x: xx as tf.Tensor4D, filter: ff as tf.Tensor4D, bias },
              ...{ strides: 1, pad: 'same' as const, activation: 'relu' as const },
            }),
          ),
        );
      const [gx, gf] = tf.grads(loss)([x, t4([3, 3, 4, 6], 5, 0.4)]);
      return tf.concat([gx!.flatten(), gf!.flatten()]);
    });
    within('fused conv2d grads', r.native, r.cpu);
  });
});

describe('BatchMatMul matches cpu', () => {
  const cases: Array<{ a: number[]; b: number[]; tA: boolean; tB: boolean }> = [
    { a: [7, 33], b: [33, 5], tA: false, tB: false },
    { a: [33, 7], b: [33, 5], tA: true, tB: false },
    { a: [7, 33], b: [5, 33], tA: false, tB: true },
    { a: [33, 7], b: [5, 33], tA: true, tB: true },
    { a: [3, 6, 20], b: [3, 20, 4], tA: false, tB: false },
    { a: [3, 20, 6], b: [3, 4, 20], tA: true, tB: true },
  ];
  for (const c of cases) {
    it(`a[${c.a}]${c.tA ? 'ᵀ' : ''} · b[${c.b}]${c.tB ? 'ᵀ' : ''}`, async () => {
      const r = await both(() =>
        tf.matMul(tf.tensor(seededRandom(size(c.a), 10), c.a), tf.tensor(seededRandom(size(c.b), 11), c.b), c.tA, c.tB),
      );
      within('BatchMatMul', r.native, r.cpu);
    });
  }
});

const POOL: Array<{ x: Shape4; f: number; s: number; pad: Pad }> = [
  { x: [2, 6, 6, 3], f: 2, s: 2, pad: 'valid' },
  { x: [1, 7, 7, 4], f: 3, s: 2, pad: 'same' },
  { x: [1, 6, 6, 2], f: 3, s: 1, pad: 'same' },
  { x: [2, 7, 6, 2], f: 2, s: 1, pad: 'valid' },
];

describe('pooling kernels match cpu (MaxPool, MaxPoolGrad, MaxPoolWithArgmax, AvgPool and its gradient)', () => {
  for (const c of POOL) {
    it(`x[${c.x}] ${c.f}×${c.f}/${c.s} ${c.pad}`, async () => {
      const attrs = { filterSize: c.f, strides: c.s, pad: c.pad };
      const mp = await both(() => tf.maxPool(t4(c.x, 20), c.f, c.s, c.pad));
      within('MaxPool', mp.native, mp.cpu);
      const mpg = await both(() => {
        const x = t4(c.x, 20);
        const y = tf.maxPool(x, c.f, c.s, c.pad);
        const dy = t4(y.shape as Shape4, 21);
        return tf.engine().runKernel('MaxPoolGrad', { dy, input: x, output: y }, attrs) as tf.Tensor;
      });
      within('MaxPoolGrad', mpg.native, mpg.cpu);
      for (const includeBatchInIndex of [true, false]) {
        const am = await both(() => tf.maxPoolWithArgmax(t4(c.x, 22), c.f, c.s, c.pad, includeBatchInIndex).indexes);
        expect(Array.from(am.native)).toEqual(Array.from(am.cpu));
      }
      const ap = await both(() => tf.avgPool(t4(c.x, 23), c.f, c.s, c.pad));
      within('AvgPool', ap.native, ap.cpu);
      // The corrected AvgPool gradient (./gradients.ts) is exact on both, though their AvgPoolGrad kernels
      // divide differently.
      const apg = await both(() => {
        const g = t4(tf.avgPool(t4(c.x, 0), c.f, c.s, c.pad).shape as Shape4, 24);
        return tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(x as tf.Tensor4D, c.f, c.s, c.pad), g)))(t4(c.x, 23));
      });
      within('AvgPool gradient', apg.native, apg.cpu);
    });
  }
});

describe('other kernels the networks use, with gradients', () => {
  it('batchNorm (FusedBatchNorm), relu, softmax cross-entropy, mean', async () => {
    const r = await both(() => {
      const x = t4([2, 4, 4, 6], 30);
      const p = (s: number, k = 0.2) => tf.tensor1d(seededRandom(6, s)).mul(k);
      const loss = (xx: tf.Tensor, sc: tf.Tensor) => {
        const h = tf.relu(tf.batchNorm(xx as tf.Tensor4D, p(31), p(32).abs().add(0.5), p(33), sc as tf.Tensor1D, 1e-3));
        const logits = tf.reshape(tf.mean(h, [1, 2]), [2, 6]);
        return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.tensor1d([1, 4], 'int32'), 6), logits);
      };
      const [gx, gs] = tf.grads(loss)([x, p(34).add(1)]);
      return tf.concat([gx!.flatten(), gs!.flatten()]);
    });
    within('batchNorm/relu/softmax-xent grads', r.native, r.cpu);
  });
});

/** Σ g ⊙ op(dy) is linear in dy: its gradient w.r.t. dy, by tf.grad (the registered gradient), as values. */
function adjoint(kernel: 'MaxPoolGrad' | 'AvgPoolGrad', c: (typeof POOL)[number]): tf.Tensor {
  const x = t4(c.x, 200);
  const y = kernel === 'MaxPoolGrad' ? tf.maxPool(x, c.f, c.s, c.pad) : tf.avgPool(x, c.f, c.s, c.pad);
  const g = t4(c.x, 201);
  const attrs = { filterSize: c.f, strides: c.s, pad: c.pad };
  const op = (dy: tf.Tensor) =>
    tf
      .engine()
      .runKernel(kernel, kernel === 'MaxPoolGrad' ? { dy, input: x, output: y } : { dy, input: x }, attrs) as tf.Tensor;
  return tf.grad((dy: tf.Tensor) => tf.sum(tf.mul(g, op(dy))))(tf.zeros(y.shape));
}

/** The same adjoint as columns: Σ_i g_i · op(e_j)_i for every unit vector e_j of dy (exact by construction). */
function adjointByColumns(kernel: 'MaxPoolGrad' | 'AvgPoolGrad', c: (typeof POOL)[number]): Float32Array {
  return scoped(() => {
    const x = t4(c.x, 200);
    const y = kernel === 'MaxPoolGrad' ? tf.maxPool(x, c.f, c.s, c.pad) : tf.avgPool(x, c.f, c.s, c.pad);
    const gv = t4(c.x, 201).dataSync();
    const attrs = { filterSize: c.f, strides: c.s, pad: c.pad };
    const out = new Float32Array(y.size);
    for (let j = 0; j < y.size; j++) {
      const dy = tf
        .oneHot(tf.tensor1d([j], 'int32'), y.size)
        .toFloat()
        .reshape(y.shape);
      const inputs: tf.NamedTensorMap = kernel === 'MaxPoolGrad' ? { dy, input: x, output: y } : { dy, input: x };
      const col = (tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor).dataSync();
      let s = 0;
      for (let i = 0; i < col.length; i++) s += (gv[i] as number) * (col[i] as number);
      out[j] = s;
    }
    return out;
  });
}

describe('registered gradients of MaxPoolGrad and AvgPoolGrad on tensorflow', () => {
  for (const kernel of ['MaxPoolGrad', 'AvgPoolGrad'] as const) {
    for (const c of POOL) {
      it(`${kernel}: x[${c.x}] ${c.f}×${c.f}/${c.s} ${c.pad} — exact adjoint, and cpu's`, async () => {
        await tf.setBackend('tensorflow');
        const exact = adjointByColumns(kernel, c);
        const r = await both(() => adjoint(kernel, c));
        within(`${kernel} gradient (exact adjoint)`, r.native, exact, 1e-5);
        // AvgPoolGrad means a different linear map per backend (the divisor); only MaxPoolGrad's adjoints coincide.
        if (kernel === 'MaxPoolGrad') within('MaxPoolGrad gradient vs cpu', r.native, r.cpu);
      });
    }
  }
});

/**
 * NIWT's double backprop: L(w) = Σ (mean_hw ∂(Σ_k u_k f_k(A))/∂A)² through a small network f with the
 * weights w of its last layer; dL/dw on tensorflow against cpu.
 */
function doubleBackprop(body: (a: tf.Tensor4D) => tf.Tensor4D, aShape: Shape4, feat: number): tf.Tensor {
  const A = t4(aShape, 50);
  const u = tf.tensor2d(seededRandom(5, 51), [5, 1]);
  return tf.grad((w: tf.Tensor) => {
    const alpha = tf.grad((a: tf.Tensor) => {
      const h = body(a as tf.Tensor4D);
      const flat = tf.reshape(h, [h.shape[0], -1]) as tf.Tensor2D;
      return tf.sum(tf.matMul(tf.matMul(flat, w as tf.Tensor2D), u));
    })(A);
    return tf.sum(tf.square(tf.mean(alpha, [1, 2])));
  })(tf.tensor2d(seededRandom(feat * 5, 52), [feat, 5]).mul(0.3));
}

describe('double backprop (NIWT stage D reference) matches cpu', () => {
  it('through conv, relu and maxPool (VGG-style tail)', async () => {
    const f = () => t4([3, 3, 4, 4], 53, 0.5);
    const body = (a: tf.Tensor4D) => tf.maxPool(tf.relu(tf.conv2d(a, f(), 1, 'same')), 2, 2, 'valid');
    const r = await both(() => doubleBackprop(body, [2, 6, 6, 4], 3 * 3 * 4));
    expect(Math.max(...Array.from(r.cpu, Math.abs))).toBeGreaterThan(1e-4);
    within('double backprop', r.native, r.cpu);
  });

  it('through a ResNet unit (fused conv, affineBatchNorm, identity add, avgPool)', async () => {
    const r = await both(() =>
      doubleBackprop(
        (a) => {
          const f1 = t4([1, 1, 4, 4], 60, 0.5);
          const h = tf.fused.conv2d({ x: a, filter: f1, strides: 1, pad: 'same', activation: 'relu' });
          const v = tf.tensor1d(seededRandom(4, 61)).abs().add(0.5);
          const mean = tf.tensor1d(seededRandom(4, 63)).mul(0.2);
          const bn = affineBatchNorm(tf.conv2d(h, t4([3, 3, 4, 4], 62, 0.3), 1, 'same'), mean, v, null, null);
          return tf.avgPool(tf.relu(tf.add(bn, a)) as tf.Tensor4D, 3, 2, 'same') as tf.Tensor4D;
        },
        [2, 6, 6, 4],
        3 * 3 * 4,
      ),
    );
    expect(Math.max(...Array.from(r.cpu, Math.abs))).toBeGreaterThan(1e-4);
    within('double backprop', r.native, r.cpu);
  });
});
