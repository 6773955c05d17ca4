export * from './small-cnn/small-cnn.js';
export * from './imagenet/index.js';
export * from './module.js';
export * from './features/index.js';
export {
  checkpointedDetail,
  runSeenLoop,
  seenCheckpointFingerprint,
  type SeenLoop,
  type SeenLoopSettings,
} from './seen-loop.js';
export * from './seen-checkpoint.js';
export * from './onnx-model/index.js';
export { TapBackbone, seenTrainOptions, type TapBackboneSetup } from './tap-backbone.js';
export {
  applyLayer,
  conv,
  dense,
  heNormal,
  newScope,
  type ConvParams,
  type DenseParams,
  type Layer,
  type PoolParams,
} from './small-cnn/layers.js';
