import type * as tf from '@tensorflow/tfjs';

export * from './tensor/index.js';
export * from './adam.js';
export * from './fused-adam.js';
export * from './checkpoint.js';
export * from './variables.js';
export * from './onnx/index.js';

/**
 * Gives core's tensor-bearing contracts (`HeadLayer`, `TapHead`) tfjs's tensor types: core declares
 * `TensorTypes` empty so that it depends on no tensor library; every program importing @niwt/compute sees these.
 */
declare module '@niwt/core' {
  interface TensorTypes {
    readonly Tensor1D: tf.Tensor1D;
    readonly Tensor2D: tf.Tensor2D;
    readonly Tensor4D: tf.Tensor4D;
  }
}
