export { OnnxBackbone, createForward, toNetworkInput, nchwToNhwc } from './backbone.js';
export {
  onnxBackboneOptions,
  checkModel,
  OptionProblem,
  PREPROCESSING_METADATA,
  type OnnxBackboneOptions,
  type CheckedModel,
} from './options.js';
export { parseModel, readModel, withOutputs, type OnnxModel, type OnnxNode, type OnnxTensor } from './model.js';
export { OnnxGraphView, HEAD_OPS } from './graph.js';
export { HeadWeights, runHead } from './head.js';
export { headLayers } from './head-layers.js';
export { inspectOnnx, type OnnxInspection } from './inspect.js';
