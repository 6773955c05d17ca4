/** Public API of the ImageNet backbones (VGG16, ResNet-50/101). */
export {
  ImagenetBackbone,
  Vgg16,
  ResNet50,
  ResNet101,
  buildSpec,
  vgg16Options,
  resnet50Options,
  resnet101Options,
} from './backbone.js';
export {
  imagenetOptions,
  REFERENCE_PRESETS,
  type Family,
  type ImagenetOptions,
  type ReferencePreset,
} from './options.js';
export { Network } from './network.js';
export { SeenHead } from './train.js';
export { vgg16Spec } from '../nets/vgg16.js';
export { resnetSpec, RESNET_UNITS } from '../nets/resnet.js';
export type { NetSpec, Node, ParamLayer } from '../nets/graph.js';
export {
  openWeightFile,
  formatShape,
  type WeightFile,
  type WeightFormat,
  type LayerWeights,
  type WeightInfo,
} from '../weights/weight-file.js';
export { checkWeights, loadWeights } from '../weights/load.js';
export {
  PREPROCESSING,
  descriptorOf,
  preprocess,
  readForInference,
  readAugmented,
  cropSource,
  weightsDescriptor,
  type WeightsDescriptor,
  type ResizeMode,
} from '../preprocess/preprocess.js';
export { extractSplit, type ExtractSplitOptions, type ExtractSplitResult } from '../extract/extract-split.js';
export { NpyRowWriter } from '../extract/npy-stream.js';
export { exportOnnx, ONNX_INPUT, ONNX_TAP, ONNX_FEATURES } from '../onnx/export.js';
export {
  OnnxForward,
  resolveEngine,
  type EngineChoice,
  type ForwardOutput,
  type ResolvedEngine,
  type RuntimeLoader,
} from '../onnx/engine.js';
