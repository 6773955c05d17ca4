export { initBackend } from './backend.js';
export type { BackendInfo, BackendPreference } from './backend.js';
export { registerWasmKernels, WASM_KERNEL_FIXES } from './wasm-kernels.js';
export { registerGradients, affineBatchNorm } from './gradients.js';
export { registerNativeKernels, NATIVE_KERNEL_FIXES } from './native-kernels.js';
export {
  chooseEngine,
  ENGINE_TABLE,
  type Engine,
  type EngineChoice as JobEngineChoice,
  type EngineTable,
  type Job,
} from './engine-choice.js';
