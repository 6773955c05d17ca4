/**
 * The native 'tensorflow' backend (scripts/tfjs-native.sh) on the ImageNet networks: full-size VGG16 and
 * ResNet-101 forward against the Keras-made fixtures (within 1e-4 relative, as WASM in keras-parity.spec.ts),
 * and one fine-tuning step (gradients through every layer, weight decay, clipping, Adam: the fine-tune's
 * FinetuneOptimizer) whose updated weights match the 'cpu' backend within 1e-4 relative. Fails, never skips,
 * when the native backend cannot be built or loaded.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { resnetSpec } from '../nets/resnet.js';
import { vgg16Spec } from '../nets/vgg16.js';
import type { NetSpec } from '../nets/graph.js';
import { Network } from '../imagenet/network.js';
import { FinetuneOptimizer } from '../imagenet/train.js';
import { PREPROCESSING } from '../preprocess/preprocess.js';
import { kerasFixtures, relMaxError, REPO } from './keras-fixtures.js';

let dir = '';
beforeAll(async () => {
  const script = path.join(REPO, 'scripts/tfjs-native.sh');
  execFileSync(script, [], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
  expect((await initBackend('tensorflow')).name).toBe('tensorflow');
  dir = kerasFixtures();
}, 1_800_000);

async function fixture(family: string, name: string, batch: number): Promise<Float32Array> {
  const a = await readNpy(path.join(dir, `${family}.${name}.npy`));
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return (a.data as Float32Array).subarray(0, batch * per);
}

const FORWARD: { family: 'vgg16' | 'resnet101'; spec: () => NetSpec; tap: string; penult: string }[] = [
  { family: 'vgg16', spec: () => vgg16Spec(224, 1), tap: 'block5_conv3', penult: 'fc2' },
  { family: 'resnet101', spec: () => resnetSpec('resnet101', 224, 1), tap: 'conv5_block1_out', penult: 'avg_pool' },
];

describe.each(FORWARD)('$family on tensorflow matches Keras', ({ family, spec, tap, penult }) => {
  it('tap, penultimate features and ImageNet predictions within 1e-4', async () => {
    await initBackend('tensorflow');
    const net = new Network(spec(), PREPROCESSING.caffe);
    await net.importWeights(path.join(dir, `${family}.apps.h5`), family);
    const x = tf.tensor4d(await fixture(family, 'input', 1), [1, 224, 224, 3]);
    const [a, f, p] = tf.tidy(() => {
      const a = net.toTap(x, tap);
      const f = net.fromTap(a, tap);
      return [a, f, tf.softmax(net.imagenetLogits(f)!)];
    });
    const errs = [
      relMaxError(await a.data(), await fixture(family, tap, 1)),
      relMaxError(await f.data(), await fixture(family, penult, 1)),
      relMaxError(await p.data(), await fixture(family, 'predictions', 1)),
    ];
    const shown = errs.map((e) => e.toExponential(2));
    console.log(`${family} on tensorflow vs Keras, relative errors (tap, ${penult}, predictions): ${shown}`);
    for (const e of errs) expect(e).toBeLessThan(1e-4);
    tf.dispose([a, f, p, x]);
    net.dispose();
  }, 300_000);
});

/**
 * One fine-tuning step on `backend`: a reduced-width network (same layers, fewer channels, 32×32: the cpu
 * backend is too slow for full size) plus a linear head, softmax cross-entropy on 4 images of 3 classes;
 * returns the gradients and the updated weights, flattened.
 */
async function fineTuneStep(
  backend: string,
  spec: () => NetSpec,
): Promise<{ grads: Float32Array[]; weights: Float32Array[] }> {
  await initBackend(backend as 'cpu' | 'tensorflow');
  const net = new Network(spec(), PREPROCESSING.caffe);
  net.initRandom(5);
  const pixels = Float32Array.from({ length: 4 * 32 * 32 * 3 }, (_, k) => (k * 2654435761) % 256);
  const x = tf.tensor4d(pixels, [4, 32, 32, 3]);
  const dim = net.features(x.slice([0], [1])).shape[1];
  const head = tf.variable(
    tf.tensor2d(
      Float32Array.from({ length: dim * 3 }, (_, k) => Math.sin(k) * 0.05),
      [dim, 3],
    ),
  );
  const vars = [...net.trainableVariables(), head];
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
  const g = tf.tidy(() => {
    const loss = () => tf.losses.softmaxCrossEntropy(y, tf.matMul(net.features(x), head)) as tf.Scalar;
    const { grads } = tf.variableGrads(loss, vars);
    return vars.map((v) => grads[v.name]!);
  });
  const gradValues = g.map((t) => Float32Array.from(t.dataSync()));
  const kernels = new Set([...net.kernels(), head].map((v) => v.name));
  const opt = new FinetuneOptimizer(vars, kernels, { lr: 1e-3, weightDecay: 5e-4, clipNorm: 5 });
  opt.accumulate(g);
  opt.step();
  const weights = vars.map((v) => Float32Array.from(v.dataSync()));
  opt.dispose();
  tf.dispose([x, y, head]);
  net.dispose();
  return { grads: gradValues, weights };
}

const FINETUNE: { family: string; spec: () => NetSpec }[] = [
  { family: 'vgg16', spec: () => vgg16Spec(32, 0.125) },
  { family: 'resnet50', spec: () => resnetSpec('resnet50', 32, 0.125) },
];

describe.each(FINETUNE)('one $family fine-tuning step on tensorflow', ({ family, spec }) => {
  it("gives the cpu backend's gradients and updated weights within 1e-4", async () => {
    const cpu = await fineTuneStep('cpu', spec);
    const native = await fineTuneStep('tensorflow', spec);
    expect(native.weights.length).toBe(cpu.weights.length);
    let gradErr = 0;
    let weightErr = 0;
    let moved = 0;
    for (let i = 0; i < cpu.weights.length; i++) {
      gradErr = Math.max(gradErr, relMaxError(native.grads[i]!, cpu.grads[i]!));
      weightErr = Math.max(weightErr, relMaxError(native.weights[i]!, cpu.weights[i]!));
      moved = cpu.grads[i]!.reduce((m, g) => Math.max(m, Math.abs(g)), moved);
    }
    console.log(
      `${family} fine-tuning step, tensorflow vs cpu: gradients ${gradErr.toExponential(2)}, ` +
        `updated weights ${weightErr.toExponential(2)}`,
    );
    expect(moved).toBeGreaterThan(1e-6); // the step really changes the weights
    expect(gradErr).toBeLessThan(1e-4);
    expect(weightErr).toBeLessThan(1e-4);
  }, 600_000);
});
