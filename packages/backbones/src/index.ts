export * from './small-cnn/small-cnn.js';
export * from './imagenet/index.js';
export * from './module.js';
export * from './features/index.js';
export * from './onnx-model/index.js';
