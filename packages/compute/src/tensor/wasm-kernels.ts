/**
 * Kernels registered on the tfjs 'wasm' backend to fill its gaps (see compute-lab §5–6):
 * - `Conv2DBackpropFilter` is missing, so any conv-filter gradient (and fused-conv gradients, whose
 *   customGrad always computes it) fails on wasm;
 * - the stock `MaxPoolGrad` is wrong whenever channels > 1, and the stock `MaxPoolWithArgmax` returns index 0
 *   for windows whose values are all negative;
 * - the stock `BatchMatMul` runs a naive 1–2 GFLOP/s loop whenever a transpose or a batch > 1 is involved,
 *   while the non-transposed batch-1 case goes through XNNPACK (~25 GFLOP/s).
 *
 * The replacements compose the wasm backend's own kernels on `TensorInfo`s (data stays in the wasm heap) or
 * work directly on heap views; every temporary is released with `backend.disposeData`.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  Attribute,
  BatchMatMulAttrs,
  Conv2DBackpropFilterAttrs,
  KernelConfig,
  KernelFunc,
  MaxPoolGradAttrs,
  MaxPoolWithArgmaxAttrs,
  NamedTensorInfoMap,
  TensorInfo,
} from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

const WASM = 'wasm';

/** Marker so that a second `registerWasmKernels()` recognises its own configs and does nothing. */
const OURS = Symbol.for('niwt.wasmKernel');
type OurKernelConfig = KernelConfig & { [OURS]?: true };

/**
 * Above this many float32 elements the Conv2DBackpropFilter patch matrix is split into several GEMMs
 * (32 MB per chunk; the wasm32 heap is capped at 4 GB).
 */
const CBF_MAX_PATCH_ELEMS = 8 * 1024 * 1024;

/** Per-batch GEMM work (multiply-adds) below which batched matmuls stay on the stock loop. */
const BATCHED_MIN_MACS = 32 * 32 * 32;

type Shape4 = [number, number, number, number];

/** `{ inputs, backend, attrs }` as tfjs passes them to a kernel function. */
type KernelArgs = Parameters<KernelFunc>[0];

/** Stock wasm kernel functions, captured before any replacement. */
interface Stock {
  batchMatMul: KernelConfig;
}
let stock: Stock | undefined;

function asWasm(backend: KernelArgs['backend']): BackendWasm {
  return backend as BackendWasm;
}

function input(inputs: NamedTensorInfoMap, name: string, kernel: string): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`${kernel}: missing input '${name}'`);
  return t;
}

function single(out: TensorInfo | TensorInfo[], kernel: string): TensorInfo {
  if (Array.isArray(out)) {
    if (out.length !== 1 || out[0] === undefined) throw new Error(`${kernel} returned ${out.length} outputs`);
    return out[0];
  }
  return out;
}

/** Runs a registered wasm kernel on TensorInfos; the caller owns (and must dispose) the result. */
function run(
  kernelName: string,
  backend: BackendWasm,
  inputs: NamedTensorInfoMap,
  attrs: Record<string, Attribute> = {},
): TensorInfo {
  const k = tf.getKernel(kernelName, WASM);
  if (k === undefined) throw new Error(`wasm kernel '${kernelName}' is not registered`);
  return single(k.kernelFunc({ inputs, backend, attrs }), kernelName);
}

function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return run('Reshape', backend, { x }, { shape });
}

function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return run('Transpose', backend, { x }, { perm });
}

/** A copy with a fresh dataId (XNNPACK caches its packed weights per dataId, ignoring shape). */
function copy(backend: BackendWasm, x: TensorInfo): TensorInfo {
  return run('Identity', backend, { x });
}

function dispose(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

function f32View(backend: BackendWasm, t: TensorInfo): Float32Array {
  const v = backend.typedArrayFromHeap(t);
  if (!(v instanceof Float32Array)) throw new Error(`expected a float32 tensor, got ${t.dtype}`);
  return v;
}

/** The stock BatchMatMul: XNNPACK when neither operand is transposed and both batches are 1, else a loop. */
function stockMatMul(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  transposeA = false,
  transposeB = false,
): TensorInfo {
  if (stock === undefined) throw new Error('registerWasmKernels() has not run');
  return single(
    stock.batchMatMul.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA, transposeB } }),
    'BatchMatMul',
  );
}

// ---------------------------------------------------------------------------------------------------------
// Conv2DBackpropFilter
// ---------------------------------------------------------------------------------------------------------

/**
 * dW[fh,fw,c,co] = Σ_{n,oh,ow} x[n, oh·sh+fh−top, ow·sw+fw−left, c] · dy[n,oh,ow,co].
 *
 * x is transposed once to [C,N,H,W]; for a chunk of taps the patch matrix A = [taps·C, N·OH·OW] is filled
 * from heap views (contiguous row copies when the stride is 1, zeros where the tap falls in the padding),
 * and one XNNPACK GEMM A @ dy[N·OH·OW, CO] gives those rows of dW. Grouping taps keeps the GEMM tall even
 * for C = 3 (the per-tap variant of compute-lab §6 ran the 7×7 stem at 0.9 GFLOP/s). dy is packed by
 * XNNPACK once and reused by every chunk.
 */
function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const backend = asWasm(args.backend);
  const x = input(args.inputs, 'x', 'Conv2DBackpropFilter');
  const dy = input(args.inputs, 'dy', 'Conv2DBackpropFilter');
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropFilter on wasm supports float32 only, got ${x.dtype}/${dy.dtype}`);
  }
  const channelsLast = attrs.dataFormat !== 'NCHW';
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    channelsLast ? 'channelsLast' : 'channelsFirst',
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { outChannels: CO, strideHeight: sh, strideWidth: sw, filterHeight: FH, filterWidth: FW } = info;
  const { top, left } = info.padInfo;
  const P = N * OH * OW;
  const taps = FH * FW;
  const filterShape = [FH, FW, C, CO];
  if (P === 0 || C === 0 || CO === 0) {
    const out = backend.makeOutput(filterShape, 'float32');
    f32View(backend, out).fill(0);
    return out;
  }

  const xT = transpose(backend, x, channelsLast ? [3, 0, 1, 2] : [1, 0, 2, 3]); // [C, N, H, W]
  const dyM = channelsLast ? copy(backend, dy) : transpose(backend, dy, [0, 2, 3, 1]); // [N, OH, OW, CO]
  const dyB = reshape(backend, dyM, [1, P, CO]);

  const group = Math.max(1, Math.min(taps, Math.floor(CBF_MAX_PATCH_ELEMS / (C * P))));
  const parts: TensorInfo[] = [];
  for (let t0 = 0; t0 < taps; t0 += group) {
    const nt = Math.min(group, taps - t0);
    const patches = backend.makeOutput([1, nt * C, P], 'float32');
    // Views are taken after the allocation: a heap growth detaches earlier views.
    const xv = f32View(backend, xT);
    const av = f32View(backend, patches);
    let o = 0;
    for (let t = t0; t < t0 + nt; t++) {
      const fh = Math.floor(t / FW);
      const fw = t % FW;
      // Output rows/cols whose tap lands inside the input (not in the padding).
      const ohLo = Math.max(0, Math.ceil((top - fh) / sh));
      const ohHi = Math.min(OH, Math.floor((H - 1 + top - fh) / sh) + 1);
      const owLo = Math.min(OW, Math.max(0, Math.ceil((left - fw) / sw)));
      const owHi = Math.max(owLo, Math.min(OW, Math.floor((W - 1 + left - fw) / sw) + 1));
      for (let cn = 0; cn < C * N; cn++) {
        const plane = cn * H * W;
        for (let oh = 0; oh < OH; oh++) {
          if (oh < ohLo || oh >= ohHi || owHi === owLo) {
            av.fill(0, o, o + OW);
            o += OW;
            continue;
          }
          const row = plane + (oh * sh + fh - top) * W + fw - left;
          if (owLo > 0) av.fill(0, o, o + owLo);
          if (sw === 1) {
            av.set(xv.subarray(row + owLo, row + owHi), o + owLo);
          } else {
            for (let ow = owLo; ow < owHi; ow++) av[o + ow] = xv[row + ow * sw];
          }
          if (owHi < OW) av.fill(0, o + owHi, o + OW);
          o += OW;
        }
      }
    }
    parts.push(stockMatMul(backend, patches, dyB)); // [1, nt·C, CO]
    dispose(backend, patches);
  }
  dispose(backend, xT, dyM, dyB);

  let flat: TensorInfo;
  if (parts.length === 1) {
    flat = parts[0] as TensorInfo;
  } else {
    // The Concat kernel takes its inputs as an array (tfjs passes `Tensor[]` cast to a map).
    flat = run('Concat', backend, parts as unknown as NamedTensorInfoMap, { axis: 1 });
    dispose(backend, ...parts);
  }
  const out = reshape(backend, flat, filterShape);
  dispose(backend, flat);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// MaxPoolGrad, MaxPoolWithArgmax
// ---------------------------------------------------------------------------------------------------------

/**
 * Calls `visit(outIndex, argmaxIndex, max)` for every pooling window of x (NHWC, flat heap view). Same
 * semantics as the tfjs cpu backend: the argmax is the first strict maximum in row-major window order over
 * non-padded positions (-1 when there is none); the index is into x including the batch.
 */
function scanMaxPool(
  xv: ArrayLike<number>,
  info: ReturnType<typeof tf.backend_util.computePool2DInfo>,
  visit: (outIndex: number, argmax: number, max: number) => void,
): void {
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const { strideHeight: sh, strideWidth: sw, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = info;
  const { dilationHeight: dh, dilationWidth: dw } = info;
  const { top, left } = info.padInfo;
  const maxVal = new Float64Array(C);
  const maxIdx = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const r0 = oh * sh - top;
      let rLo = r0;
      while (rLo < 0) rLo += dh;
      const rHi = Math.min(H, r0 + fh);
      for (let ow = 0; ow < OW; ow++) {
        const c0 = ow * sw - left;
        let cLo = c0;
        while (cLo < 0) cLo += dw;
        const cHi = Math.min(W, c0 + fw);
        maxVal.fill(Number.NEGATIVE_INFINITY);
        maxIdx.fill(-1);
        for (let r = rLo; r < rHi; r += dh) {
          for (let col = cLo; col < cHi; col += dw) {
            const base = ((n * H + r) * W + col) * C;
            for (let c = 0; c < C; c++) {
              const v = xv[base + c] as number;
              if (v > (maxVal[c] as number)) {
                maxVal[c] = v;
                maxIdx[c] = base + c;
              }
            }
          }
        }
        const o = ((n * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) visit(o + c, maxIdx[c] as number, maxVal[c] as number);
      }
    }
  }
}

/**
 * dx = scatter of dy to each window's argmax; overlapping windows accumulate. The stock wasm kernel mixes up
 * channels whenever C > 1 (compute-lab §5).
 */
function maxPoolGrad(args: KernelArgs): TensorInfo {
  const backend = asWasm(args.backend);
  const dy = input(args.inputs, 'dy', 'MaxPoolGrad');
  const x = input(args.inputs, 'input', 'MaxPoolGrad');
  const attrs = args.attrs as unknown as MaxPoolGradAttrs;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as Shape4,
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  if (dy.shape.join() !== info.outShape.join()) {
    throw new Error(`MaxPoolGrad: dy has shape [${dy.shape}], expected [${info.outShape}]`);
  }
  const out = backend.makeOutput(x.shape, 'float32');
  // Views are taken after the allocation: a heap growth detaches earlier views.
  const xv = backend.typedArrayFromHeap(x);
  const gv = backend.typedArrayFromHeap(dy);
  const dx = f32View(backend, out);
  dx.fill(0);
  scanMaxPool(xv, info, (o, i) => {
    if (i >= 0) dx[i] = (dx[i] as number) + (gv[o] as number);
  });
  return out;
}

/**
 * The stock wasm kernel returns index 0 for every window whose values are all negative (measured; the pooled
 * values are right). The argmax gradient of MaxPoolGrad (./gradients.ts) relies on these indexes.
 */
function maxPoolWithArgmax(args: KernelArgs): TensorInfo[] {
  const backend = asWasm(args.backend);
  const x = input(args.inputs, 'x', 'MaxPoolWithArgmax');
  const attrs = args.attrs as unknown as MaxPoolWithArgmaxAttrs;
  const info = tf.backend_util.computePool2DInfo(x.shape as Shape4, attrs.filterSize, attrs.strides, 1, attrs.pad);
  const pooled = backend.makeOutput(info.outShape, x.dtype);
  const indexes = backend.makeOutput(info.outShape, 'int32');
  const xv = backend.typedArrayFromHeap(x);
  const pv = backend.typedArrayFromHeap(pooled);
  const iv = backend.typedArrayFromHeap(indexes);
  const perImage = info.inHeight * info.inWidth * info.inChannels;
  scanMaxPool(xv, info, (o, i, max) => {
    pv[o] = max;
    iv[o] = i < 0 || attrs.includeBatchInIndex ? i : i % perImage;
  });
  return [pooled, indexes];
}

// ---------------------------------------------------------------------------------------------------------
// BatchMatMul
// ---------------------------------------------------------------------------------------------------------

/**
 * Brings every case that can be one XNNPACK GEMM onto that path: explicit Transposes (fast in wasm) replace
 * the naive transposed loop, and a batch of A against a single B is folded into the rows of one GEMM.
 * Batched products with a batched B are done per batch when each product is big enough, else on the stock
 * loop. XNNPACK re-packs its right operand on every call unless that tensor was seen before (it caches the
 * packing per dataId) and packing runs at only ~100 M floats/s, so `x · Wᵀ` with fewer rows than W is computed
 * as (W · xᵀ)ᵀ: W is used as stored and only the small xᵀ is packed. (compute-lab §6 kept the naive loop for
 * < 16 rows instead; this is 2–4× faster than that loop.)
 */
function batchMatMul(args: KernelArgs): TensorInfo {
  const backend = asWasm(args.backend);
  const a = input(args.inputs, 'a', 'BatchMatMul');
  const b = input(args.inputs, 'b', 'BatchMatMul');
  const { transposeA, transposeB } = args.attrs as unknown as BatchMatMulAttrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) {
    return stockMatMul(backend, a, b, transposeA, transposeB);
  }
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const aR = a.shape[aRank - 2] as number;
  const aC = a.shape[aRank - 1] as number;
  const bR = b.shape[bRank - 2] as number;
  const bC = b.shape[bRank - 1] as number;
  const M = transposeA ? aC : aR;
  const K = transposeA ? aR : aC;
  const K2 = transposeB ? bC : bR;
  const N = transposeB ? bR : bC;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (K !== K2 || M * N * K === 0) return stockMatMul(backend, a, b, transposeA, transposeB);
  const outShape = [...tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N];

  if (batchB === 1) {
    const rows = batchA * M;
    if (!transposeA && !transposeB && batchA === 1) return stockMatMul(backend, a, b); // already XNNPACK
    if (transposeB && rows <= N) {
      // out = (B · Aᵀ)ᵀ: B [N, K] is used as stored and only the small Aᵀ [K, rows] is packed by XNNPACK.
      let aT: TensorInfo; // [1, K, rows]
      if (transposeA && batchA === 1) {
        aT = reshape(backend, a, [1, K, rows]);
      } else {
        const a3 = reshape(backend, a, transposeA ? [batchA, K, M] : [batchA, M, K]);
        const t = transposeA ? transpose(backend, a3, [1, 0, 2]) : transpose(backend, a3, [2, 0, 1]); // [K, batchA, M]
        aT = reshape(backend, t, [1, K, rows]);
        dispose(backend, a3, t);
      }
      const b3 = reshape(backend, b, [1, N, K]);
      const prodT = stockMatMul(backend, b3, aT); // [1, N, rows]
      dispose(backend, aT, b3);
      const prodT2 = reshape(backend, prodT, [N, rows]);
      const prod = transpose(backend, prodT2, [1, 0]); // [rows, N]
      dispose(backend, prodT, prodT2);
      const out = reshape(backend, prod, outShape);
      dispose(backend, prod);
      return out;
    }
    // A as [1, batchA·M, K]
    let a2: TensorInfo;
    if (transposeA) {
      const a3 = reshape(backend, a, [batchA, K, M]);
      const aT = transpose(backend, a3, [0, 2, 1]);
      a2 = reshape(backend, aT, [1, rows, K]);
      dispose(backend, a3, aT);
    } else {
      a2 = reshape(backend, a, [1, rows, K]);
    }
    // B as [1, K, N]
    let b2: TensorInfo;
    if (transposeB) {
      const b2d = reshape(backend, b, [N, K]);
      const bT = transpose(backend, b2d, [1, 0]);
      b2 = reshape(backend, bT, [1, K, N]);
      dispose(backend, b2d, bT);
    } else {
      b2 = reshape(backend, b, [1, K, N]);
    }
    const prod = stockMatMul(backend, a2, b2);
    dispose(backend, a2, b2);
    const out = reshape(backend, prod, outShape);
    dispose(backend, prod);
    return out;
  }

  if (M * N * K < BATCHED_MIN_MACS) return stockMatMul(backend, a, b, transposeA, transposeB);
  return batchedMatMul(backend, a, b, transposeA, transposeB, { M, N, K, batchA, batchB, outShape });
}

/** One XNNPACK GEMM per batch; A and B are first brought to [batch, M, K] and [batch, K, N]. */
function batchedMatMul(
  backend: BackendWasm,
  a: TensorInfo,
  b: TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  d: { M: number; N: number; K: number; batchA: number; batchB: number; outShape: number[] },
): TensorInfo {
  const { M, N, K, batchA, batchB, outShape } = d;
  const batch = Math.max(batchA, batchB);
  const a3 = reshape(backend, a, transposeA ? [batchA, K, M] : [batchA, M, K]);
  const b3 = reshape(backend, b, transposeB ? [batchB, N, K] : [batchB, K, N]);
  const aN = transposeA ? transpose(backend, a3, [0, 2, 1]) : a3;
  const bN = transposeB ? transpose(backend, b3, [0, 2, 1]) : b3;
  const out = backend.makeOutput([batch, M, N], 'float32');
  for (let i = 0; i < batch; i++) {
    const ai = backend.makeOutput([1, M, K], 'float32');
    const bi = backend.makeOutput([1, K, N], 'float32');
    const ia = batchA === 1 ? 0 : i;
    const ib = batchB === 1 ? 0 : i;
    f32View(backend, ai).set(f32View(backend, aN).subarray(ia * M * K, (ia + 1) * M * K));
    f32View(backend, bi).set(f32View(backend, bN).subarray(ib * K * N, (ib + 1) * K * N));
    const pi = stockMatMul(backend, ai, bi);
    f32View(backend, out).set(f32View(backend, pi), i * M * N);
    dispose(backend, ai, bi, pi);
  }
  if (aN !== a3) dispose(backend, aN);
  if (bN !== b3) dispose(backend, bN);
  dispose(backend, a3, b3);
  const res = reshape(backend, out, outShape);
  dispose(backend, out);
  return res;
}

// ---------------------------------------------------------------------------------------------------------
// Registration
// ---------------------------------------------------------------------------------------------------------

function isOurs(k: KernelConfig | undefined): boolean {
  return k !== undefined && (k as OurKernelConfig)[OURS] === true;
}

function install(config: KernelConfig): void {
  if (isOurs(tf.getKernel(config.kernelName, WASM))) return;
  if (tf.getKernel(config.kernelName, WASM) !== undefined) tf.unregisterKernel(config.kernelName, WASM);
  const ours: OurKernelConfig = { ...config, [OURS]: true };
  tf.registerKernel(ours);
}

/**
 * Registers the wasm kernel fixes (idempotent). Safe before or after the wasm backend initialises: the
 * replaced BatchMatMul keeps the stock setup function, which tfjs runs at backend init.
 */
export function registerWasmKernels(): void {
  if (stock === undefined) {
    const bmm = tf.getKernel('BatchMatMul', WASM);
    if (bmm === undefined || isOurs(bmm)) {
      throw new Error('the stock wasm BatchMatMul kernel is not registered (is @tensorflow/tfjs-backend-wasm loaded?)');
    }
    stock = { batchMatMul: bmm };
  }
  const kernels: KernelConfig[] = [
    { kernelName: 'Conv2DBackpropFilter', backendName: WASM, kernelFunc: conv2DBackpropFilter as KernelFunc },
    { kernelName: 'MaxPoolGrad', backendName: WASM, kernelFunc: maxPoolGrad as KernelFunc },
    { kernelName: 'MaxPoolWithArgmax', backendName: WASM, kernelFunc: maxPoolWithArgmax as KernelFunc },
    {
      kernelName: 'BatchMatMul',
      backendName: WASM,
      kernelFunc: batchMatMul as KernelFunc,
      ...(stock.batchMatMul.setupFunc ? { setupFunc: stock.batchMatMul.setupFunc } : {}),
    },
  ];
  for (const k of kernels) install(k);
}

/** Names of the kernels `registerWasmKernels` installs on 'wasm'. */
export const WASM_KERNEL_FIXES = ['Conv2DBackpropFilter', 'MaxPoolGrad', 'MaxPoolWithArgmax', 'BatchMatMul'] as const;
