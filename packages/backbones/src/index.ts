export * from './small-cnn/small-cnn.js';
export * from './module.js';
