export { initBackend } from './backend.js';
export type { BackendInfo, BackendPreference } from './backend.js';
export { registerWasmKernels, WASM_KERNEL_FIXES } from './wasm-kernels.js';
export { registerGradients, affineBatchNorm } from './gradients.js';
