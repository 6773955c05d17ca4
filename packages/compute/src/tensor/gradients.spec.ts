import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { affineBatchNorm, avgPoolGradDivisor } from './gradients.js';
import { relMaxError, scoped, seededRandom, size } from './test-utils.js';

const BACKENDS = ['cpu', 'wasm'] as const;
type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid';

/** A network f: A [N,H,W,C] → [N,K] with fixed weights (built inside the current backend). */
type Net = (A: tf.Tensor4D) => tf.Tensor2D;

interface Problem {
  name: string;
  aShape: Shape4;
  k: number;
  build: () => Net;
}

function dense(x: tf.Tensor2D, inDim: number, outDim: number, seed: number): tf.Tensor2D {
  const w = tf.tensor2d(seededRandom(inDim * outDim, seed), [inDim, outDim]).mul(Math.sqrt(3 / inDim)) as tf.Tensor2D;
  const b = tf.tensor1d(seededRandom(outDim, seed + 1)).mul(0.1);
  return tf.add(tf.matMul(x, w), b);
}

/** dense(relu(dense(flatten(pool(A))))) */
function poolMlp(name: string, aShape: Shape4, pool: (a: tf.Tensor4D) => tf.Tensor4D): Problem {
  const k = 6;
  return {
    name,
    aShape,
    k,
    build: () => (A) => {
      const p = pool(A);
      const flat = tf.reshape(p, [p.shape[0], -1]) as tf.Tensor2D;
      return dense(tf.relu(dense(flat, flat.shape[1], 16, 20)), 16, k, 30);
    },
  };
}

/** 1×1 conv, BN (inference), relu, 3×3 conv, BN, identity add, relu, global average pool, dense. */
function resnetUnit(name: string, bn: 'tf' | 'affine', fused: boolean): Problem {
  const c = 8;
  const mid = 4;
  const k = 5;
  return {
    name,
    aShape: [2, 6, 6, c],
    k,
    build: () => {
      const f1 = tf.tensor4d(seededRandom(c * mid, 40), [1, 1, c, mid]).mul(0.5) as tf.Tensor4D;
      const f2 = tf.tensor4d(seededRandom(9 * mid * c, 41), [3, 3, mid, c]).mul(0.3) as tf.Tensor4D;
      const bias2 = tf.tensor1d(seededRandom(c, 42)).mul(0.1);
      const bnParams = (n: number, seed: number) => ({
        mean: tf.tensor1d(seededRandom(n, seed)).mul(0.2),
        variance: tf
          .tensor1d(seededRandom(n, seed + 1))
          .abs()
          .add(0.5),
        offset: tf.tensor1d(seededRandom(n, seed + 2)).mul(0.1),
        scale: tf
          .tensor1d(seededRandom(n, seed + 3))
          .mul(0.3)
          .add(1),
      });
      const p1 = bnParams(mid, 50);
      const p2 = bnParams(c, 60);
      const norm = (x: tf.Tensor4D, p: ReturnType<typeof bnParams>): tf.Tensor4D =>
        bn === 'tf'
          ? (tf.batchNorm(x, p.mean, p.variance, p.offset, p.scale, 1e-3) as tf.Tensor4D)
          : affineBatchNorm(x, p.mean, p.variance, p.offset, p.scale, 1e-3);
      return (A) => {
        const h1 = tf.relu(norm(tf.conv2d(A, f1, 1, 'valid'), p1));
        const c2 = fused
          ? tf.fused.conv2d({ x: h1, filter: f2, strides: 1, pad: 'same', bias: bias2 })
          : tf.add(tf.conv2d(h1, f2, 1, 'same'), bias2);
        const out = tf.relu(tf.add(norm(c2 as tf.Tensor4D, p2), A));
        const gap = tf.mean(out, [1, 2]) as tf.Tensor2D;
        return dense(gap, c, k, 70);
      };
    },
  };
}

const PROBLEMS: Problem[] = [
  poolMlp('maxPool 2×2/2 valid → MLP', [2, 6, 6, 4], (a) => tf.maxPool(a, 2, 2, 'valid')),
  poolMlp('maxPool 3×3/2 same (overlapping) → MLP', [2, 7, 7, 3], (a) => tf.maxPool(a, 3, 2, 'same')),
  poolMlp('avgPool 2×2/2 valid → MLP', [2, 6, 6, 4], (a) => tf.avgPool(a, 2, 2, 'valid')),
  poolMlp('avgPool 3×3/2 same → MLP', [2, 7, 7, 3], (a) => tf.avgPool(a, 3, 2, 'same')),
  resnetUnit('ResNet unit, tf.batchNorm', 'tf', false),
  resnetUnit('ResNet unit, affineBatchNorm, fused conv', 'affine', true),
];

/**
 * NIWT-style loss L(w) = 1 − cos(Σ_{n,h,w} ∂(Σ_n wᵀ f(A_n))/∂A, target). Returns L as a tensor (for tf.grad)
 * and α = the summed gradient (for the float64 finite differences).
 */
function alphaOf(net: Net, A: tf.Tensor4D, w: tf.Tensor1D): tf.Tensor1D {
  const dA = tf.grad((a: tf.Tensor) => tf.sum(tf.matMul(net(a as tf.Tensor4D), tf.reshape(w, [-1, 1]))))(A);
  return tf.sum(dA, [0, 1, 2]) as tf.Tensor1D;
}

function lossOf(alpha: tf.Tensor1D, target: tf.Tensor1D): tf.Scalar {
  const cos = tf.div(tf.sum(tf.mul(alpha, target)), tf.mul(tf.norm(alpha), tf.norm(target)));
  return tf.sub(1, cos) as tf.Scalar;
}

function cosLoss64(alpha: ArrayLike<number>, target: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nt = 0;
  for (let i = 0; i < alpha.length; i++) {
    const a = alpha[i] as number;
    const t = target[i] as number;
    dot += a * t;
    na += a * a;
    nt += t * t;
  }
  return 1 - dot / Math.sqrt(na * nt);
}

interface Check {
  analytic: Float32Array;
  fd: Float64Array;
  linear: Float64Array;
}

/**
 * dL/dw by tf.grad (double backprop) and two references:
 * - `fd`: 4-point central differences of L(w) (h = 0.05; L evaluated in float64 from α);
 * - `linear`: α is exactly linear in w for a fixed A (the backward pass is linear in its upstream
 *   gradient), so its columns J_i = (α(w + e_i) − α(w − e_i)) / 2 are exact up to rounding and
 *   dL/dw_i = ∇_α L · J_i with ∇_α L computed in float64. This makes a 1e-4 check meaningful in float32.
 */
function checkProblem(p: Problem): Check {
  return scoped(() => {
    const net = p.build();
    const A = tf.tensor4d(seededRandom(size(p.aShape), 100), p.aShape);
    const target = seededRandom(p.aShape[3], 101);
    const targetT = tf.tensor1d(target);
    const w0 = seededRandom(p.k, 102);
    const analytic = tf.grad((w: tf.Tensor) => lossOf(alphaOf(net, A, w as tf.Tensor1D), targetT))(tf.tensor1d(w0));
    const alphaAt = (w: Float32Array): Float32Array => {
      const t = alphaOf(net, A, tf.tensor1d(w));
      const v = t.dataSync() as Float32Array;
      t.dispose();
      return Float32Array.from(v);
    };
    const lossAt = (w: Float32Array) => cosLoss64(alphaAt(w), target);
    const shifted = (i: number, d: number) => {
      const w = Float32Array.from(w0);
      w[i] = (w[i] as number) + d;
      return w;
    };
    const h = 0.05;
    const fd = new Float64Array(p.k);
    for (let i = 0; i < p.k; i++) {
      fd[i] =
        (-lossAt(shifted(i, 2 * h)) +
          8 * lossAt(shifted(i, h)) -
          8 * lossAt(shifted(i, -h)) +
          lossAt(shifted(i, -2 * h))) /
        (12 * h);
    }
    // ∇_α L in float64 at α(w0)
    const a0 = alphaAt(Float32Array.from(w0));
    let dot = 0;
    let na2 = 0;
    let nt2 = 0;
    for (let c = 0; c < a0.length; c++) {
      dot += (a0[c] as number) * (target[c] as number);
      na2 += (a0[c] as number) ** 2;
      nt2 += (target[c] as number) ** 2;
    }
    const na = Math.sqrt(na2);
    const nt = Math.sqrt(nt2);
    const gradAlpha = Array.from(a0, (a, c) => -((target[c] as number) / (na * nt) - (dot * a) / (na ** 3 * nt)));
    const linear = new Float64Array(p.k);
    for (let i = 0; i < p.k; i++) {
      const plus = alphaAt(shifted(i, 1));
      const minus = alphaAt(shifted(i, -1));
      for (let c = 0; c < a0.length; c++) {
        linear[i] =
          (linear[i] as number) + (gradAlpha[c] as number) * (((plus[c] as number) - (minus[c] as number)) / 2);
      }
    }
    return { analytic: Float32Array.from(analytic.dataSync()), fd, linear };
  });
}

describe('double backprop (NIWT alpha → w)', () => {
  beforeAll(async () => {
    await initBackend('wasm');
    await initBackend('cpu');
  });

  for (const backend of BACKENDS) {
    describe(`on ${backend}`, () => {
      for (const p of PROBLEMS) {
        it(p.name, async () => {
          await initBackend(backend);
          const before = tf.memory().numTensors;
          const { analytic, fd, linear } = checkProblem(p);
          expect(tf.memory().numTensors).toBe(before);
          // The gradient must not be trivially zero, or the comparison means nothing.
          expect(Math.max(...Array.from(fd, Math.abs))).toBeGreaterThan(1e-3);
          expect(relMaxError(analytic, fd)).toBeLessThan(1e-3);
          expect(relMaxError(analytic, linear)).toBeLessThan(1e-4);
        });
      }
    });
  }

  it('gives the same dL/dw on cpu and wasm', async () => {
    const results: Float32Array[] = [];
    for (const backend of BACKENDS) {
      await initBackend(backend);
      results.push(checkProblem(PROBLEMS[1] as Problem).analytic);
    }
    expect(relMaxError(results[1] as Float32Array, results[0] as Float32Array)).toBeLessThan(1e-4);
  });
});

/** Σ g ⊙ op(dy) is linear in dy: its gradient w.r.t. dy, by tf.grad, against the exact column sums. */
function adjointCheck(kernel: 'MaxPoolGrad' | 'AvgPoolGrad', xShape: Shape4, filter: number, stride: number, pad: Pad) {
  return scoped(() => {
    const x = tf.tensor4d(seededRandom(size(xShape), 200), xShape);
    const y = kernel === 'MaxPoolGrad' ? tf.maxPool(x, filter, stride, pad) : tf.avgPool(x, filter, stride, pad);
    const g = tf.tensor4d(seededRandom(size(xShape), 201), xShape);
    const attrs = { filterSize: filter, strides: stride, pad };
    const op = (dy: tf.Tensor) =>
      tf
        .engine()
        .runKernel(
          kernel,
          kernel === 'MaxPoolGrad' ? { dy, input: x, output: y } : { dy, input: x },
          attrs,
        ) as tf.Tensor;
    const viaGrad = tf.grad((dy: tf.Tensor) => tf.sum(tf.mul(g, op(dy))))(tf.zeros(y.shape));
    const n = y.size;
    const exact = new Float64Array(n);
    const gv = g.dataSync();
    for (let j = 0; j < n; j++) {
      const col = op(
        tf
          .oneHot(tf.tensor1d([j], 'int32'), n)
          .toFloat()
          .reshape(y.shape),
      ).dataSync();
      let s = 0;
      for (let i = 0; i < col.length; i++) s += (gv[i] as number) * (col[i] as number);
      exact[j] = s;
    }
    return { viaGrad: Float32Array.from(viaGrad.dataSync()), exact };
  });
}

describe('registered gradients of the pooling gradient kernels', () => {
  const configs: Array<[Shape4, number, number, Pad]> = [
    [[2, 6, 6, 3], 2, 2, 'valid'],
    [[1, 7, 7, 4], 3, 2, 'same'],
    [[1, 6, 6, 2], 3, 1, 'same'],
    [[2, 7, 6, 2], 2, 1, 'valid'],
  ];
  for (const backend of BACKENDS) {
    for (const kernel of ['MaxPoolGrad', 'AvgPoolGrad'] as const) {
      for (const [shape, f, s, pad] of configs) {
        it(`${kernel} is transposed exactly on ${backend}: x[${shape}] ${f}×${f}/${s} ${pad}`, async () => {
          await initBackend(backend);
          const { viaGrad, exact } = adjointCheck(kernel, shape, f, s, pad);
          expect(relMaxError(viaGrad, exact)).toBeLessThan(1e-5);
        });
      }
    }
  }
});

describe('AvgPool first-order gradient', () => {
  for (const backend of BACKENDS) {
    it(`detects that the ${backend} AvgPoolGrad kernel divides by the full filter size`, async () => {
      await initBackend(backend);
      expect(avgPoolGradDivisor()).toBe('filter');
    });

    it(`is exact with 'same' padding on ${backend} (tfjs's own is not)`, async () => {
      await initBackend(backend);
      const { viaGrad, exact, stock } = scoped(() => {
        const shape: Shape4 = [1, 5, 5, 2];
        const x = tf.tensor4d(seededRandom(size(shape), 300), shape);
        const w = tf.tensor4d(seededRandom(2 * 3 * 3, 301), [1, 3, 3, 2]);
        const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.avgPool(a as tf.Tensor4D, 3, 2, 'same'), w));
        const grad = tf.grad(f)(x);
        // f is linear in x: its gradient is exactly f(e_i).
        const exactG = new Float64Array(x.size);
        for (let i = 0; i < x.size; i++)
          exactG[i] = f(
            tf
              .oneHot(tf.tensor1d([i], 'int32'), x.size)
              .toFloat()
              .reshape(shape),
          ).dataSync()[0] as number;
        const stockG = tf
          .engine()
          .runKernel('AvgPoolGrad', { dy: w, input: x }, { filterSize: 3, strides: 2, pad: 'same' }) as tf.Tensor;
        return {
          viaGrad: Float32Array.from(grad.dataSync()),
          exact: exactG,
          stock: Float32Array.from(stockG.dataSync()),
        };
      });
      expect(relMaxError(viaGrad, exact)).toBeLessThan(1e-5);
      expect(relMaxError(stock, exact)).toBeGreaterThan(0.1);
    });
  }
});

describe('batch normalisation and double backprop', () => {
  it('affineBatchNorm equals tf.batchNorm', async () => {
    await initBackend('cpu');
    const [a, b] = tf.tidy(() => {
      const x = tf.tensor4d(seededRandom(2 * 3 * 3 * 4, 400), [2, 3, 3, 4]);
      const mean = tf.tensor1d([0.1, -0.2, 0.3, 0]);
      const variance = tf.tensor1d([1, 0.5, 2, 0.1]);
      const offset = tf.tensor1d([0, 1, -1, 0.5]);
      const scale = tf.tensor1d([1, 2, 0.5, -1]);
      return [
        affineBatchNorm(x, mean, variance, offset, scale, 1e-3).dataSync(),
        tf.batchNorm(x, mean, variance, offset, scale, 1e-3).dataSync(),
      ];
    });
    expect(relMaxError(a, b)).toBeLessThan(1e-6);
  });

  for (const backend of BACKENDS) {
    it(`tf.batchNorm without scale/offset has no usable gradient on ${backend}; affineBatchNorm has`, async () => {
      await initBackend(backend);
      const x = tf.tensor4d(seededRandom(2 * 3 * 3 * 4, 401), [2, 3, 3, 4]);
      const mean = tf.tensor1d([0.1, -0.2, 0.3, 0]);
      const variance = tf.tensor1d([1, 0.5, 2, 0.1]);
      expect(() => tf.grad((a: tf.Tensor) => tf.sum(tf.batchNorm(a, mean, variance)))(x)).toThrow();
      const g = tf.grad((a: tf.Tensor) => tf.sum(affineBatchNorm(a, mean, variance)))(x);
      const expected = Array.from({ length: x.size }, (_, i) => 1 / Math.sqrt([1, 0.5, 2, 0.1][i % 4]! + 1e-3));
      expect(relMaxError(g.dataSync(), expected)).toBeLessThan(1e-5);
      tf.dispose([x, mean, variance, g]);
    });
  }
});
