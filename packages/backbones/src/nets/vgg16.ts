/**
 * VGG16 (Simonyan & Zisserman 2015) in the Keras Applications anatomy, with Keras' layer names:
 *
 *   block1_conv1 block1_conv2 block1_pool … block5_conv1 block5_conv2 block5_conv3 block5_pool
 *   → fc1 (flatten, dense, ReLU) → fc2 (dense, ReLU; the penultimate features, 4096) [→ predictions]
 *
 * 3×3 'same' convolutions with ReLU, 2×2/2 max pooling. `width` scales every channel count (tiny test
 * variants); `inputSize` 224 is what ImageNet weights need (fc1's input is 7·7·512).
 */
import * as tf from '@tensorflow/tfjs';
import {
  applyConv,
  applyDense,
  convHeadLayer,
  convLayer,
  denseLayer,
  scaled,
  type NetSpec,
  type Node,
  type ParamLayer,
} from './graph.js';

const BLOCKS: readonly (readonly [convs: number, channels: number])[] = [
  [2, 64],
  [2, 128],
  [3, 256],
  [3, 512],
  [3, 512],
];

export function vgg16Spec(inputSize: number, width: number): NetSpec {
  if (inputSize % 32 !== 0)
    throw new Error(`vgg16: inputSize must be a multiple of 32 (five 2×2 poolings), got ${inputSize}`);
  const nodes: Node[] = [];
  const layers: ParamLayer[] = [];
  let cin = 3;
  let size = inputSize;
  BLOCKS.forEach(([convs, channels], b) => {
    const c = scaled(channels, width);
    for (let k = 1; k <= convs; k++) {
      const layer = convLayer(`block${b + 1}_conv${k}`, 3, cin, c);
      layers.push(layer);
      nodes.push({
        name: layer.name,
        shape: [size, size, c],
        apply: (x) => tf.relu(applyConv(layer, x as tf.Tensor4D, 1, 'same')),
        describe: () => [convHeadLayer(layer, 1, 'same'), { kind: 'relu' }],
      });
      cin = c;
    }
    size /= 2;
    nodes.push({
      name: `block${b + 1}_pool`,
      shape: [size, size, c],
      apply: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid'),
      describe: () => [{ kind: 'maxpool', size: 2, stride: 2, padding: 'valid' }],
    });
  });
  const hidden = scaled(4096, width);
  const fc1 = denseLayer('fc1', size * size * cin, hidden);
  const fc2 = denseLayer('fc2', hidden, hidden);
  layers.push(fc1, fc2, denseLayer('predictions', hidden, 1000, true));
  for (const layer of [fc1, fc2]) {
    nodes.push({
      name: layer.name,
      shape: [hidden],
      apply: (x) => tf.relu(applyDense(layer, x)),
      describe: () => [
        {
          kind: 'dense',
          weights: layer.vars[0] as tf.Variable<tf.Rank.R2>,
          bias: layer.vars[1] as tf.Variable<tf.Rank.R1>,
        },
        { kind: 'relu' },
      ],
    });
  }
  return {
    family: 'vgg16',
    inputSize,
    nodes,
    layers,
    penultimate: 'fc2',
    taps: nodes.filter((n) => n.name.startsWith('block')).map((n) => n.name),
    degenerateTaps: [],
    dropoutAfter: ['fc1', 'fc2'],
  };
}
