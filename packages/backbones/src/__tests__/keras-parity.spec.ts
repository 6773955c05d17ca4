/**
 * Forward parity with Keras itself: random-weight VGG16 / ResNet-50 / ResNet-101 written by Keras (both
 * `.h5` layouts), loaded here, run on WASM on Keras' fixed input; outputs within 1e-4 relative (max error
 * over max magnitude). Full-size networks: batch 1–2, about 1 s per image.
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { resnetSpec } from '../nets/resnet.js';
import { vgg16Spec } from '../nets/vgg16.js';
import type { NetSpec } from '../nets/graph.js';
import { Network } from '../imagenet/network.js';
import { PREPROCESSING } from '../preprocess/preprocess.js';
import { openWeightFile } from '../weights/weight-file.js';
import { kerasFixtures, relMaxError } from './keras-fixtures.js';

let dir = '';
beforeAll(async () => {
  await initBackend('wasm');
  dir = kerasFixtures();
}, 1_800_000);

const CASES: { family: 'vgg16' | 'resnet50' | 'resnet101'; spec: () => NetSpec; taps: string[]; batch: number }[] = [
  { family: 'vgg16', spec: () => vgg16Spec(224, 1), taps: ['block5_conv3', 'block5_pool'], batch: 1 },
  {
    family: 'resnet50',
    spec: () => resnetSpec('resnet50', 224, 1),
    taps: ['conv4_block6_out', 'conv5_block1_out'],
    batch: 2,
  },
  { family: 'resnet101', spec: () => resnetSpec('resnet101', 224, 1), taps: ['conv5_block1_out'], batch: 1 },
];

async function fixture(family: string, name: string, batch: number): Promise<Float32Array> {
  const a = await readNpy(path.join(dir, `${family}.${name}.npy`));
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return (a.data as Float32Array).subarray(0, batch * per);
}

describe.each(CASES)('$family matches Keras', ({ family, spec, taps, batch }) => {
  it('Applications .h5 layout: taps, penultimate features and ImageNet predictions within 1e-4', async () => {
    const net = new Network(spec(), PREPROCESSING.caffe);
    await net.importWeights(path.join(dir, `${family}.apps.h5`), family);
    const x = tf.tensor4d(await fixture(family, 'input', batch), [batch, 224, 224, 3]);
    const penult = family === 'vgg16' ? 'fc2' : 'avg_pool';
    for (const tap of taps) {
      const [a, f, p] = tf.tidy(() => {
        const a = net.toTap(x, tap);
        const f = net.fromTap(a, tap);
        return [a, f, tf.softmax(net.imagenetLogits(f)!)];
      });
      expect(relMaxError(await a.data(), await fixture(family, tap, batch))).toBeLessThan(1e-4);
      expect(relMaxError(await f.data(), await fixture(family, penult, batch))).toBeLessThan(1e-4);
      expect(relMaxError(await p.data(), await fixture(family, 'predictions', batch))).toBeLessThan(1e-4);
      tf.dispose([a, f, p]);
    }
    x.dispose();
    // The Keras 3 save_weights layout holds the same values under positional names.
    const other = new Network(spec(), PREPROCESSING.caffe);
    await other.importWeights(path.join(dir, `${family}.weights.h5`), family);
    const va = net.variables();
    const vb = other.variables();
    expect(vb.length).toBe(va.length);
    for (let i = 0; i < va.length; i += Math.max(1, Math.floor(va.length / 40))) {
      expect(Array.from((await vb[i].data()).subarray(0, 64))).toEqual(
        Array.from((await va[i].data()).subarray(0, 64)),
      );
    }
    net.dispose();
    other.dispose();
  }, 300_000);
});

describe('weight files of the wrong architecture', () => {
  it('names the first mismatching layer', async () => {
    await expect(
      new Network(resnetSpec('resnet101', 224, 1), PREPROCESSING.caffe).importWeights(
        path.join(dir, 'resnet50.apps.h5'),
        'resnet101',
      ),
    ).rejects.toThrow(/layer 'conv4_block7_1_conv' \(expected \[1, 1, 1024, 256\] \+ \[256\]\) is missing/);
    await expect(
      new Network(resnetSpec('resnet50', 224, 1), PREPROCESSING.caffe).importWeights(
        path.join(dir, 'resnet101.apps.h5'),
        'resnet50',
      ),
    ).rejects.toThrow(/has a layer 'conv4_block7_1_conv'.*that resnet50 does not have/);
    await expect(
      new Network(vgg16Spec(224, 1), PREPROCESSING.caffe).importWeights(path.join(dir, 'resnet50.apps.h5'), 'vgg16'),
    ).rejects.toThrow(/layer 'block1_conv1' \(expected \[3, 3, 3, 64\] \+ \[64\]\) is missing from the file/);
    await expect(
      new Network(vgg16Spec(224, 1), PREPROCESSING.caffe).importWeights(path.join(dir, 'resnet50.weights.h5'), 'vgg16'),
    ).rejects.toThrow(
      new RegExp(
        String.raw`layer 'block1_conv1' \(the file's 'conv2d'\) expected \[3, 3, 3, 64\] \+ \[64\], found ` +
          String.raw`\[7, 7, 3, 64\] \+ \[64\]`,
      ),
    );
    await expect(
      new Network(vgg16Spec(160, 1), PREPROCESSING.caffe).importWeights(path.join(dir, 'vgg16.apps.h5'), 'vgg16'),
    ).rejects.toThrow(/layer 'fc1' expected \[12800, 4096\] \+ \[4096\], found \[25088, 4096\] \+ \[4096\]/);
  });

  it('lists layers and shapes of both layouts', async () => {
    const a = await openWeightFile(path.join(dir, 'resnet50.apps.h5'));
    const b = await openWeightFile(path.join(dir, 'resnet50.weights.h5'));
    expect(a.format).toBe('keras-h5');
    expect(b.format).toBe('keras3-weights-h5');
    expect(a.layers[0]).toEqual({
      layer: 'conv1_conv',
      weights: [
        { name: 'conv1_conv/kernel', shape: [7, 7, 3, 64] },
        { name: 'conv1_conv/bias', shape: [64] },
      ],
    });
    expect(a.layers.length).toBe(b.layers.length);
    a.close();
    b.close();
  });
});
