/**
 * Kernels registered on the native 'tensorflow' backend (tfjs-node / tfjs-node-gpu) to fill its gaps.
 * tfjs-node 4.22 has no `MaxPoolWithArgmax` kernel, which the backend-independent gradient of `MaxPoolGrad`
 * (./gradients.ts, NIWT's double backprop) uses. TensorFlow itself has the op: it is run through the
 * backend's own binding, so the data never leaves TensorFlow. Scoped to 'tensorflow'; the WASM fixes
 * (./wasm-kernels.ts) stay on 'wasm'.
 */
import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, MaxPoolWithArgmaxAttrs, Tensor, TensorInfo } from '@tensorflow/tfjs';

const NATIVE = 'tensorflow';
const OURS = Symbol.for('niwt.nativeKernel');
type OurKernelConfig = KernelConfig & { [OURS]?: true };

/** The parts of tfjs-node's `NodeJSKernelBackend` used here (it is not a dependency at compile time). */
interface TfeOpAttr {
  name: string;
  type: number;
  value: unknown;
}
interface NativeBackend {
  binding: {
    TF_ATTR_INT: number;
    TF_ATTR_STRING: number;
    TF_ATTR_TYPE: number;
    TF_ATTR_BOOL: number;
    TF_FLOAT: number;
    TF_INT32: number;
    TF_INT64: number;
  };
  executeSingleOutput(name: string, opAttrs: TfeOpAttr[], inputs: TensorInfo[]): Tensor;
  executeMultipleOutputs(name: string, opAttrs: TfeOpAttr[], inputs: TensorInfo[], numOutputs: number): Tensor[];
}

function asNative(backend: unknown): NativeBackend {
  const b = backend as Partial<NativeBackend>;
  if (typeof b.executeMultipleOutputs !== 'function' || b.binding === undefined) {
    throw new Error("MaxPoolWithArgmax: the backend is not tfjs-node's 'tensorflow' backend");
  }
  return b as NativeBackend;
}

const INT64_WARNING = 'INT64 output tensor will be stored as BigInt64Array.';

/**
 * Runs `fn` without tfjs-node's warning for int64 outputs, printed once per call: the int64 argmax is cast to
 * int32 inside TensorFlow before anything reads it.
 */
function quietInt64<T>(fn: () => T): T {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (args[0] !== INT64_WARNING) warn(...args);
  };
  try {
    return fn();
  } finally {
    console.warn = warn;
  }
}

/**
 * TensorFlow's `MaxPoolWithArgmax` (CPU kernel: int64 indexes only), cast to int32 inside TensorFlow as tfjs
 * expects. Index layout with `includeBatchInIndex`: ((b·H + y)·W + x)·C + c, as in tfjs; ties go to the first
 * maximum in window order, as in tfjs's cpu kernel.
 */
function maxPoolWithArgmax({ inputs, backend, attrs }: Parameters<KernelFunc>[0]): TensorInfo[] {
  const x = inputs.x;
  if (x === undefined) throw new Error("MaxPoolWithArgmax: missing input 'x'");
  const nb = asNative(backend);
  const { filterSize, strides, pad, includeBatchInIndex } = attrs as unknown as MaxPoolWithArgmaxAttrs;
  const shape = x.shape as [number, number, number, number];
  const info = tf.backend_util.computePool2DInfo(shape, filterSize, strides, 1, pad);
  if (info.padInfo.type !== 'SAME' && info.padInfo.type !== 'VALID') {
    throw new Error(`MaxPoolWithArgmax on 'tensorflow': padding must be 'same' or 'valid', got ${JSON.stringify(pad)}`);
  }
  const B = nb.binding;
  const [values, argmax64] = quietInt64(() =>
    nb.executeMultipleOutputs(
      'MaxPoolWithArgmax',
      [
        { name: 'T', type: B.TF_ATTR_TYPE, value: B.TF_FLOAT },
        { name: 'Targmax', type: B.TF_ATTR_TYPE, value: B.TF_INT64 },
        { name: 'ksize', type: B.TF_ATTR_INT, value: [1, info.filterHeight, info.filterWidth, 1] },
        { name: 'strides', type: B.TF_ATTR_INT, value: [1, info.strideHeight, info.strideWidth, 1] },
        { name: 'padding', type: B.TF_ATTR_STRING, value: info.padInfo.type },
        { name: 'include_batch_in_index', type: B.TF_ATTR_BOOL, value: includeBatchInIndex },
      ],
      [x],
      2,
    ),
  );
  if (values === undefined || argmax64 === undefined) {
    throw new Error('MaxPoolWithArgmax: TensorFlow returned no outputs');
  }
  const indexes = nb.executeSingleOutput(
    'Cast',
    [
      { name: 'SrcT', type: B.TF_ATTR_TYPE, value: B.TF_INT64 },
      { name: 'DstT', type: B.TF_ATTR_TYPE, value: B.TF_INT32 },
      { name: 'Truncate', type: B.TF_ATTR_BOOL, value: false },
    ],
    [argmax64],
  );
  argmax64.dispose();
  return [values, indexes];
}

/** Names of the kernels `registerNativeKernels` installs on 'tensorflow'. */
export const NATIVE_KERNEL_FIXES = ['MaxPoolWithArgmax'] as const;

/**
 * Registers the 'tensorflow' kernels tfjs-node lacks (idempotent). Call after tfjs-node registered its backend.
 * A kernel tfjs-node itself provides (a later version) is left alone.
 */
export function registerNativeKernels(): void {
  const configs: OurKernelConfig[] = [
    {
      kernelName: 'MaxPoolWithArgmax',
      backendName: NATIVE,
      kernelFunc: maxPoolWithArgmax as unknown as KernelFunc,
      [OURS]: true,
    },
  ];
  for (const k of configs) {
    if (tf.getKernel(k.kernelName, NATIVE) === undefined) tf.registerKernel(k);
  }
}
