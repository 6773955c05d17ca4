/**
 * Backend-independent gradient registrations that double backprop (NIWT weight transfer: the gradient of a
 * loss of a gradient) needs. tfjs 4.22 has no gradient for the `MaxPoolGrad` and `AvgPoolGrad` kernels, so
 * `tf.grad(() => f(tf.grad(g)(x)))` through any pooling layer throws "gradient function not found".
 * Also replaces tfjs's AvgPool gradient, which is wrong at padded borders on cpu and wasm.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  AvgPoolAttrs,
  AvgPoolGradAttrs,
  GradConfig,
  MaxPoolGradAttrs,
  NamedAttrMap,
  GradFunc,
  Rank,
  Tensor,
  Tensor4D,
  TensorLike,
} from '@tensorflow/tfjs';

type Shape4 = [number, number, number, number];
/** `NamedGradientMap` is not exported by tfjs. */
type NamedGradientMap = ReturnType<GradFunc>;

function firstGrad(dy: Tensor | Tensor[]): Tensor4D {
  const g = Array.isArray(dy) ? dy[0] : dy;
  if (g === undefined || g.rank !== 4) throw new Error('pooling gradient: expected one rank-4 upstream gradient');
  return g as Tensor4D;
}

function saved4(saved: Tensor[], i: number, what: string): Tensor4D {
  const t = saved[i];
  if (t === undefined || t.rank !== 4) throw new Error(`pooling gradient: saved '${what}' is missing or not rank 4`);
  return t as Tensor4D;
}

/**
 * MaxPoolGrad computes dx = S·dy, S scattering each window's dy to the window's argmax, so its gradient
 * w.r.t. dy is Sᵀ·g: gather g at each window's argmax. Exact for overlapping windows too. The argmax comes
 * from `maxPoolWithArgmax`, which uses the same tie-breaking as the tfjs cpu MaxPoolGrad kernel and the wasm
 * replacement (first strict maximum in row-major window order). The gradient w.r.t. the pooling input and
 * output is zero almost everywhere (the argmax is piecewise constant).
 */
function maxPoolGradGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): NamedGradientMap {
  const g = firstGrad(dy);
  const dyIn = saved4(saved, 0, 'dy');
  const x = saved4(saved, 1, 'input');
  const y = saved4(saved, 2, 'output');
  const { filterSize, strides, pad, dimRoundingMode } = attrs as unknown as MaxPoolGradAttrs;
  return {
    dy: () =>
      tf.tidy(() => {
        if (typeof pad === 'object') {
          throw new Error(
            'gradient of MaxPoolGrad: explicit per-side padding is not supported (use "same", "valid" or a number)',
          );
        }
        const { indexes } = tf.maxPoolWithArgmax(x, filterSize, strides, pad, true);
        if (indexes.shape.join() !== dyIn.shape.join()) {
          throw new Error(
            `gradient of MaxPoolGrad: argmax shape [${indexes.shape}] differs from dy [${dyIn.shape}]` +
              (dimRoundingMode ? ` (dimRoundingMode '${dimRoundingMode}' is not supported)` : ''),
          );
        }
        const picked = tf.gather(tf.reshape(g, [-1]), tf.reshape(indexes, [-1]));
        return tf.reshape(picked, dyIn.shape);
      }),
    input: () => tf.zerosLike(x),
    output: () => tf.zerosLike(y),
  };
}

/**
 * How the current backend's AvgPoolGrad kernel divides: 'filter' = by the full filter size even where a
 * window overlaps padding (tfjs cpu and wasm), 'inside' = by the number of window positions inside the input
 * (TensorFlow's native kernel, i.e. tfjs-node). Probed once per backend on a 1×1 input with a 2×2 'same' pool,
 * whose only window holds one real position: dx = dy/4 under 'filter', dy under 'inside'.
 */
type AvgDivisor = 'filter' | 'inside';
const avgDivisorByBackend = new Map<string, AvgDivisor>();

export function avgPoolGradDivisor(): AvgDivisor {
  const backend = tf.getBackend();
  let d = avgDivisorByBackend.get(backend);
  if (d === undefined) {
    const v = tf.tidy(() => {
      const out = tf
        .engine()
        .runKernel(
          'AvgPoolGrad',
          { dy: tf.ones([1, 1, 1, 1]), input: tf.zeros([1, 1, 1, 1]) },
          { filterSize: 2, strides: 1, pad: 'same' },
        ) as Tensor;
      return out.dataSync()[0] as number;
    });
    d = Math.abs(v - 0.25) < 1e-6 ? 'filter' : 'inside';
    avgDivisorByBackend.set(backend, d);
  }
  return d;
}

/**
 * Per pooling window, the fraction of its positions inside the input (`invert`: its inverse, 0 for windows
 * wholly in the padding), shape [1, OH, OW, 1]; null when every window lies fully inside.
 */
function windowCoverage(
  invert: boolean,
  xShape: Shape4,
  filterSize: AvgPoolAttrs['filterSize'],
  strides: AvgPoolAttrs['strides'],
  pad: AvgPoolAttrs['pad'],
  dimRoundingMode?: AvgPoolAttrs['dimRoundingMode'],
): Tensor4D | null {
  const info = tf.backend_util.computePool2DInfo(xShape, filterSize, strides, 1, pad, dimRoundingMode);
  const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
  const { effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { top, left } = info.padInfo;
  const scale = new Float32Array(OH * OW);
  let partial = false;
  for (let oh = 0; oh < OH; oh++) {
    const r0 = oh * sh - top;
    const rows = Math.min(H, r0 + fh) - Math.max(0, r0);
    for (let ow = 0; ow < OW; ow++) {
      const c0 = ow * sw - left;
      const cols = Math.min(W, c0 + fw) - Math.max(0, c0);
      const inside = Math.max(0, rows) * Math.max(0, cols);
      if (inside !== fh * fw) partial = true;
      scale[oh * OW + ow] = invert ? (inside > 0 ? (fh * fw) / inside : 0) : inside / (fh * fw);
    }
  }
  return partial ? tf.tensor4d(scale, [1, OH, OW, 1]) : null;
}

/**
 * AvgPoolGrad is linear in dy: dx[i] = Σ_{windows w ∋ i} dy[w] / d[w], so its gradient w.r.t. dy is
 * ddy[w] = Σ_{i ∈ w} g[i] / d[w]. With d = window positions inside the input ('inside') that is exactly the
 * forward avgPool of g. With d = full filter size ('filter', tfjs cpu/wasm) it is avgPool(g) times
 * inside/filter per window. The gradient w.r.t. the pooling input is zero.
 */
function avgPoolGradGrad(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): NamedGradientMap {
  const g = firstGrad(dy);
  const dyIn = saved4(saved, 0, 'dy');
  const x = saved4(saved, 1, 'input');
  const { filterSize, strides, pad } = attrs as unknown as AvgPoolGradAttrs;
  return {
    dy: () =>
      tf.tidy(() => {
        const pooled = tf.avgPool(g, filterSize, strides, pad);
        if (pooled.shape.join() !== dyIn.shape.join()) {
          throw new Error(`gradient of AvgPoolGrad: pooled shape [${pooled.shape}] differs from dy [${dyIn.shape}]`);
        }
        if (avgPoolGradDivisor() === 'inside') return pooled;
        const frac = windowCoverage(false, x.shape as Shape4, filterSize, strides, pad);
        return frac === null ? pooled : tf.mul(pooled, frac);
      }),
    input: () => tf.zerosLike(x),
  };
}

/**
 * Corrected first-order AvgPool gradient. The forward avgPool divides each window by the number of positions
 * inside the input (padding excluded, as in TensorFlow), but tfjs's cpu and wasm AvgPoolGrad kernels divide by
 * the full filter size, so with 'same' (or numeric) padding tfjs's AvgPool gradient is wrong at the borders
 * (measured: error 0.25 on gradients of size ≤ 0.5 for a 3×3/2 'same' pool). On such backends dy is rescaled
 * per window by filter/inside before the kernel, which makes the gradient exact.
 */
function avgPoolGradCorrected(dy: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap): NamedGradientMap {
  const g = firstGrad(dy);
  const x = saved4(saved, 0, 'x');
  const a = attrs as unknown as AvgPoolAttrs;
  return {
    x: () =>
      tf.tidy(() => {
        const scale =
          avgPoolGradDivisor() === 'filter'
            ? windowCoverage(true, x.shape as Shape4, a.filterSize, a.strides, a.pad, a.dimRoundingMode)
            : null;
        const dyScaled = scale === null ? g : tf.mul(g, scale);
        return tf
          .engine()
          .runKernel(
            'AvgPoolGrad',
            { dy: dyScaled, input: x },
            { filterSize: a.filterSize, strides: a.strides, pad: a.pad },
          ) as Tensor4D;
      }),
  };
}

const GRADIENTS: GradConfig[] = [
  { kernelName: 'MaxPoolGrad', inputsToSave: ['dy', 'input', 'output'], gradFunc: maxPoolGradGrad },
  { kernelName: 'AvgPoolGrad', inputsToSave: ['dy', 'input'], gradFunc: avgPoolGradGrad },
  { kernelName: 'AvgPool', inputsToSave: ['x'], gradFunc: avgPoolGradCorrected },
];

/**
 * Registers the gradients of `MaxPoolGrad` and `AvgPoolGrad` and replaces tfjs's wrong `AvgPool` gradient
 * (idempotent; gradients are global, not per backend). Called by `initBackend` for every backend.
 */
export function registerGradients(): void {
  for (const g of GRADIENTS) {
    if (tf.getGradient(g.kernelName) !== g) tf.registerGradient(g);
  }
}

/**
 * Inference-mode batch normalisation written as `x·s + (offset − mean·s)` with `s = scale / √(variance+ε)`,
 * using only mul/add/rsqrt, whose gradients are themselves differentiable. Same values and defaults as
 * `tf.batchNorm`, but offset and scale may be omitted: tfjs's FusedBatchNorm gradient throws ("Cannot read
 * properties of undefined (reading 'dataId')") unless both are given, already at first order. With both
 * given, `tf.batchNorm` does survive double backprop (see gradients.spec.ts).
 */
export function affineBatchNorm<R extends Rank>(
  x: Tensor<R> | TensorLike,
  mean: Tensor | TensorLike,
  variance: Tensor | TensorLike,
  offset?: Tensor | TensorLike | null,
  scale?: Tensor | TensorLike | null,
  varianceEpsilon = 0.001,
): Tensor<R> {
  return tf.tidy(() => {
    const xs = x instanceof tf.Tensor ? x : tf.tensor(x);
    const inv = tf.rsqrt(tf.add(variance, varianceEpsilon));
    const s = scale === undefined || scale === null ? inv : tf.mul(inv, scale);
    const negShift = tf.mul(mean, s);
    const shift = offset === undefined || offset === null ? tf.neg(negShift) : tf.sub(offset, negShift);
    return tf.add(tf.mul(xs, s), shift) as Tensor<R>;
  });
}
