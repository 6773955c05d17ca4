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
