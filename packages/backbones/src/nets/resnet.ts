/**
 * ResNet-50 / ResNet-101 v1 (He et al. 2016) in the Keras Applications anatomy, with Keras' layer names:
 *
 *   conv1_pad conv1_conv conv1_bn conv1_relu pool1_pad pool1_pool          (node `pool1_pool`)
 *   convS_blockB_{0_conv,0_bn (first unit only), 1_conv,1_bn, 2_conv,2_bn, 3_conv,3_bn, add} → convS_blockB_out
 *   → avg_pool (global average; the penultimate features, 2048) [→ predictions]
 *
 * Bottleneck units (1×1, 3×3, 1×1 ×4); the stride of a stage sits on its first unit's 1×1 convolutions, as
 * in Keras. Convolutions have biases; BatchNorm (ε = 1.001e-5) runs in inference mode on its moving
 * statistics, also while fine-tuning (batches of 1–3 images cannot estimate batch statistics).
 * Every unit output `convS_blockB_out` is a tap; the last (`conv5_block3_out`) is degenerate for NIWT.
 */
import * as tf from '@tensorflow/tfjs';
import {
  applyBn,
  applyConv,
  bnHeadLayer,
  bnLayer,
  convHeadLayer,
  convLayer,
  denseLayer,
  outSize,
  scaled,
  type NetSpec,
  type Node,
  type ParamLayer,
} from './graph.js';

export const RESNET_UNITS = { resnet50: [3, 4, 6, 3], resnet101: [3, 4, 23, 3] } as const;

export function resnetSpec(family: 'resnet50' | 'resnet101', inputSize: number, width: number): NetSpec {
  const nodes: Node[] = [];
  const layers: ParamLayer[] = [];
  const stemC = scaled(64, width);
  const c1 = convLayer('conv1_conv', 7, 3, stemC);
  const bn1 = bnLayer('conv1_bn', stemC);
  layers.push(c1, bn1);
  let size = outSize(outSize(inputSize + 6, 7, 2, 'valid') + 2, 3, 2, 'valid');
  nodes.push({
    name: 'pool1_pool',
    shape: [size, size, stemC],
    apply: (x) => {
      const h = tf.relu(
        applyBn(
          bn1,
          applyConv(
            c1,
            tf.pad(x as tf.Tensor4D, [
              [0, 0],
              [3, 3],
              [3, 3],
              [0, 0],
            ]),
            2,
            'valid',
          ),
        ),
      );
      return tf.maxPool(
        tf.pad(h, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]),
        3,
        2,
        'valid',
      );
    },
    // Not `describe`: HeadLayers have no explicit padding, and NIWT never needs a head through the stem.
    onnx: (e, x, fold) => {
      const h = e.layers(e.pad(x, 3), [convHeadLayer(c1, 2, 'valid'), bnHeadLayer(bn1, fold), { kind: 'relu' }]);
      return e.pool(e.pad(h, 1), 'max', 3, 2, 'valid');
    },
  });
  let cin = stemC;
  RESNET_UNITS[family].forEach((units, s) => {
    const stage = s + 2;
    const f = scaled(64 * 2 ** s, width);
    const out = 4 * f;
    for (let b = 1; b <= units; b++) {
      const p = `conv${stage}_block${b}_`;
      const stride = b === 1 && stage > 2 ? 2 : 1;
      const shortcut = b === 1 ? [convLayer(`${p}0_conv`, 1, cin, out), bnLayer(`${p}0_bn`, out)] : [];
      const main = [
        convLayer(`${p}1_conv`, 1, cin, f),
        bnLayer(`${p}1_bn`, f),
        convLayer(`${p}2_conv`, 3, f, f),
        bnLayer(`${p}2_bn`, f),
        convLayer(`${p}3_conv`, 1, f, out),
        bnLayer(`${p}3_bn`, out),
      ];
      // Keras' model.layers order (the Keras 3 `save_weights` layout names layers by their position in it).
      layers.push(
        ...(shortcut.length ? [main[0], main[1], main[2], main[3], shortcut[0], main[4], shortcut[1], main[5]] : main),
      );
      size = outSize(size, 1, stride, 'valid');
      nodes.push({
        name: `${p}out`,
        shape: [size, size, out],
        apply: (x) => {
          const x4 = x as tf.Tensor4D;
          const sc = shortcut.length ? applyBn(shortcut[1], applyConv(shortcut[0], x4, stride, 'valid')) : x4;
          let h = tf.relu(applyBn(main[1], applyConv(main[0], x4, stride, 'valid')));
          h = tf.relu(applyBn(main[3], applyConv(main[2], h, 1, 'same')));
          h = applyBn(main[5], applyConv(main[4], h, 1, 'valid'));
          return tf.relu(tf.add(sc, h));
        },
        describe: (fold) => [
          {
            kind: 'residual',
            branch: [
              convHeadLayer(main[0], stride, 'valid'),
              bnHeadLayer(main[1], fold),
              { kind: 'relu' },
              convHeadLayer(main[2], 1, 'same'),
              bnHeadLayer(main[3], fold),
              { kind: 'relu' },
              convHeadLayer(main[4], 1, 'valid'),
              bnHeadLayer(main[5], fold),
            ],
            shortcut: shortcut.length
              ? [convHeadLayer(shortcut[0], stride, 'valid'), bnHeadLayer(shortcut[1], fold)]
              : undefined,
          },
          { kind: 'relu' },
        ],
      });
      cin = out;
    }
  });
  nodes.push({ name: 'avg_pool', shape: [cin], apply: (x) => tf.mean(x, [1, 2]), describe: () => [{ kind: 'gap' }] });
  layers.push(denseLayer('predictions', cin, 1000, true));
  const taps = nodes.filter((n) => n.name !== 'avg_pool').map((n) => n.name);
  return {
    family,
    inputSize,
    nodes,
    layers,
    penultimate: 'avg_pool',
    taps,
    degenerateTaps: [taps[taps.length - 1]],
    dropoutAfter: ['avg_pool'],
  };
}
