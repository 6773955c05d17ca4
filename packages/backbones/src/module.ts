import { ContainerModule } from 'inversify';
import { registerPlugin } from '@niwt/core';
import { SmallCnn, smallCnnOptions } from './small-cnn/small-cnn.js';
import { FeaturesBackbone, featuresBackboneOptions } from './features/index.js';
import { OnnxBackbone, onnxBackboneOptions } from './onnx-model/index.js';
import { ResNet101, ResNet50, Vgg16, resnet101Options, resnet50Options, vgg16Options } from './imagenet/backbone.js';
import { IMAGENET_NON_RESULT_OPTIONS } from './imagenet/options.js';
import { imagenetPreflight } from './imagenet/preflight.js';
import { IMAGENET_TEST_OPTIONS, onnxTestOptions } from './test-options.js';

/** Registers the backbones of this package. */
export const backbonesModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'backbone',
    name: 'small-cnn',
    description: 'Small 3-block CNN trained from scratch on the seen classes (taps conv1..pool3)',
    schema: smallCnnOptions,
    impl: SmallCnn,
    testOptions: { imageSize: 16, widths: [4, 4, 4], hidden: 8, train: { epochs: 1, batchSize: 8 } },
  });
  registerPlugin(bind, {
    group: 'backbone',
    name: 'vgg16',
    description: 'VGG16 (Keras names, .h5/model.json weights), fixed or fine-tuned (default tap block5_conv3)',
    schema: vgg16Options,
    impl: Vgg16,
    nonResultOptions: IMAGENET_NON_RESULT_OPTIONS,
    preflight: imagenetPreflight('vgg16'),
    testOptions: IMAGENET_TEST_OPTIONS,
  });
  registerPlugin(bind, {
    group: 'backbone',
    name: 'resnet50',
    description: 'ResNet-50 (Keras names, .h5/model.json weights), fixed or fine-tuned (default tap conv5_block1_out)',
    schema: resnet50Options,
    impl: ResNet50,
    nonResultOptions: IMAGENET_NON_RESULT_OPTIONS,
    preflight: imagenetPreflight('resnet50'),
    testOptions: IMAGENET_TEST_OPTIONS,
  });
  registerPlugin(bind, {
    group: 'backbone',
    name: 'resnet101',
    description: 'ResNet-101 (Keras names, .h5/model.json weights), fixed or fine-tuned (default tap conv5_block1_out)',
    schema: resnet101Options,
    impl: ResNet101,
    nonResultOptions: IMAGENET_NON_RESULT_OPTIONS,
    preflight: imagenetPreflight('resnet101'),
    testOptions: IMAGENET_TEST_OPTIONS,
  });
  registerPlugin(bind, {
    group: 'backbone',
    name: 'features',
    description: 'precomputed features (xlsa17 res101.mat / .npy) as input; MLP seen head (taps input, hidden)',
    schema: featuresBackboneOptions,
    impl: FeaturesBackbone,
    testOptions: { hidden: [8], train: { epochs: 1, batchSize: 8 } },
    testDataset: 'xlsa17',
  });
  registerPlugin(bind, {
    group: 'backbone',
    name: 'onnx',
    description:
      'any trained CNN exported to ONNX (torch.onnx.export): forward on onnxruntime, head imported into tfjs',
    schema: onnxBackboneOptions,
    impl: OnnxBackbone,
    testOptions: onnxTestOptions,
  });
});
