export { OnnxGraph, type OnnxAttr, type OnnxType } from './graph.js';
export {
  OrtProgram,
  loadOnnxRuntime,
  onnxRuntimeUnavailableReason,
  type OnnxRuntime,
  type OrtFeed,
  type OrtOutput,
  type OrtProgramOptions,
} from './runtime.js';
