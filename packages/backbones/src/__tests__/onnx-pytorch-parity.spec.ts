/**
 * The `onnx` backbone against PyTorch itself. scripts/onnx-fixtures.sh (PyTorch 2.13 CPU in .cache/) exports
 * a ResNet-18, a VGG-11-BN, a MobileNetV3-small, a DenseNet-121 (torchvision's architectures) and a small
 * custom CNN with seeded random weights and writes PyTorch's values in float64. For each network and two
 * taps: the forward pass to the tap and the features on onnxruntime, the imported tfjs head, stage B
 * importances (autograd) and stage D's loss and ∂L/∂W_u (double backprop), all within 1e-4 relative
 * (max error over max magnitude). Stage D on the ResNet-18 head takes the fast path, asserted.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { matrix, readNpy, silentLogger, type TapSource } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { importance, LinearizedHead, trainUnseenWeights, transferLoss } from '@niwt/niwt';
import { OnnxBackbone, createForward } from '../onnx-model/backbone.js';
import { HeadWeights } from '../onnx-model/head.js';
import { onnxBackboneOptions } from '../onnx-model/options.js';
import { REPO, relMaxError } from './keras-fixtures.js';

let dir = '';
beforeAll(async () => {
  await initBackend('wasm');
  const out = execFileSync(path.join(REPO, 'scripts/onnx-fixtures.sh'), [], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 1_200_000,
  });
  dir = out.trim().split('\n').pop()!;
}, 1_200_000);

const IDENTITY = {
  channels: 'RGB' as const,
  scale: 1,
  mean: [0, 0, 0] as [number, number, number],
  std: [1, 1, 1] as [number, number, number],
};

async function npy(...p: string[]): Promise<{ data: Float32Array; shape: number[] }> {
  const a = await readNpy(path.join(dir, ...p));
  return { data: Float32Array.from(a.data as ArrayLike<number>), shape: [...a.shape] };
}

function backbone(arch: string, tap: string): OnnxBackbone {
  const opts = onnxBackboneOptions.parse({
    model: path.join(dir, `${arch}.onnx`),
    tap,
    preprocessing: IDENTITY,
    engine: 'onnx',
  });
  return new OnnxBackbone(opts, { seed: 1, baseDir: dir, cacheDir: dir, runDir: dir }, silentLogger);
}

function source(data: Float32Array, shape: readonly [number, number, number], size: number): TapSource {
  const per = shape[0] * shape[1] * shape[2];
  return {
    shape,
    size,
    read: (idx: readonly number[]) => {
      const out = new Float32Array(idx.length * per);
      idx.forEach((i, k) => out.set(data.subarray(i * per, (i + 1) * per), k * per));
      return out;
    },
  } as TapSource;
}

/** Measured relative errors, printed once for the README table. */
const table: Record<string, Record<string, number>> = {};

const ARCHS = ['resnet18', 'vgg11_bn', 'mobilenet_v3_small', 'densenet121', 'custom'];

async function parity(arch: string, k: number): Promise<void> {
  const tap = readFileSync(path.join(dir, arch, `tap${k}`, 'name.txt'), 'utf8').trim();
  const bb = backbone(arch, tap);
  await bb.prepare();
  const x = await npy(arch, 'x.npy');
  const [n, s] = x.shape;
  // forward on onnxruntime: NCHW input from the NHWC fixture
  const weights = new HeadWeights();
  const fwd = await createForward(bb.checked, [tap, bb.checked.features], 'onnx', weights);
  const nchw = tf.tidy(() => tf.transpose(tf.tensor4d(x.data, [n, s, s, 3]), [0, 3, 1, 2]).dataSync() as Float32Array);
  const out = await fwd.run(nchw, n);
  await fwd.dispose();
  const tapRef = await npy(arch, `tap${k}`, 'tap.npy');
  const featRef = await npy(arch, 'features.npy');
  const e: Record<string, number> = {};
  e.tap = relMaxError(out[tap].data, tapRef.data);
  e.features = relMaxError(out[bb.checked.features].data, featRef.data);
  if (arch === 'custom') {
    // engine 'tfjs': the whole graph interpreted with the head's ops
    const tfFwd = await createForward(bb.checked, [tap, bb.checked.features], 'tfjs', weights);
    const o2 = await tfFwd.run(nchw, n);
    e.tfjsEngine = Math.max(
      relMaxError(o2[tap].data, tapRef.data),
      relMaxError(o2[bb.checked.features].data, featRef.data),
    );
  }
  // the imported head on PyTorch's own tap values
  const head = bb.head();
  const [h, w, c] = bb.tap.shape;
  expect([n, h, w, c]).toEqual(tapRef.shape);
  const A = tf.tensor4d(tapRef.data, [n, h, w, c]);
  const f = tf.tidy(() => head.apply(A));
  e.head = relMaxError(await f.data(), featRef.data);
  // stage B: importances of each image's label under the model's own classifier
  const fcW = await npy(arch, 'fc_w.npy');
  const labels = await npy(arch, 'labels.npy');
  const W = tf.tensor2d(fcW.data, fcW.shape as [number, number]);
  const alpha = tf.tidy(() => importance(head, A, W, tf.tensor1d(Int32Array.from(labels.data), 'int32')));
  e.stageB = relMaxError(await alpha.data(), (await npy(arch, `tap${k}`, 'alpha.npy')).data);
  // stage D: loss and ∂L/∂W_u by double backprop through the imported head
  const wu = await npy(arch, `tap${k}`, 'wu.npy');
  const mu = await npy(arch, `tap${k}`, 'mu.npy');
  const targets = await npy(arch, `tap${k}`, 'targets.npy');
  const pairs = await npy(arch, `tap${k}`, 'pairs.npy');
  const lambda = (
    JSON.parse(readFileSync(path.join(dir, arch, `tap${k}`, 'lambda.json'), 'utf8')) as { lambda: number }
  ).lambda;
  const P = pairs.shape[0];
  const imgs = Array.from({ length: P }, (_, i) => pairs.data[2 * i]);
  const cls = tf.tensor1d(
    Int32Array.from({ length: P }, (_, i) => pairs.data[2 * i + 1]),
    'int32',
  );
  const per = h * w * c;
  const batch = new Float32Array(P * per);
  imgs.forEach((img, j) => batch.set(tapRef.data.subarray(img * per, (img + 1) * per), j * per));
  const tapBatch = tf.tensor4d(batch, [P, h, w, c]);
  const wuT = tf.tensor2d(wu.data, wu.shape as [number, number]);
  const muT = tf.tensor2d(mu.data, mu.shape as [number, number]);
  const tHat = tf.tidy(() => {
    const t = tf.tensor2d(targets.data, targets.shape as [number, number]);
    return tf.div(t, tf.add(tf.norm(t, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D;
  });
  const { value, grad } = tf.valueAndGrad((v: tf.Tensor) =>
    transferLoss(head, v as tf.Tensor2D, tapBatch, cls, tHat, muT, lambda),
  )(wuT);
  e.stageDLoss = relMaxError(await value.data(), (await npy(arch, `tap${k}`, 'loss.npy')).data);
  e.stageDGrad = relMaxError(await grad.data(), (await npy(arch, `tap${k}`, 'grad.npy')).data);
  e.fastPath = head.layers ? 1 : 0;
  table[`${arch} @ ${tap} (${tf.getBackend()})`] = e;
  console.info(`onnx parity ${arch} @ ${tap}: ${JSON.stringify(e)}`);
  for (const [key, v] of Object.entries(e)) if (key !== 'fastPath') expect(v, `${arch} ${key}`).toBeLessThan(1e-4);
  tf.dispose([A, f, W, alpha, cls, tapBatch, wuT, muT, tHat, value, grad]);
  weights.dispose();
  bb.dispose();
}

describe.each(ARCHS)('%s exported by PyTorch (wasm backend)', (arch) => {
  it.each([0, 1])('tap %i: forward, head, stage B and stage D within 1e-4 of PyTorch', (k) => parity(arch, k), 300_000);
});

describe('stage D on the imported ResNet-18 head', () => {
  it('takes the fast path at layer4.0, with losses equal to double backprop within 1e-4', async () => {
    const tap = readFileSync(path.join(dir, 'resnet18', 'tap0', 'name.txt'), 'utf8').trim();
    const bb = backbone('resnet18', tap);
    await bb.prepare();
    const head = bb.head();
    expect(bb.fastPathUnavailable()).toBeUndefined();
    expect(head.layers?.map((l) => l.kind)).toEqual(['residual', 'relu', 'gap', 'flatten']);
    const tapRef = await npy('resnet18', 'tap0', 'tap.npy');
    const [h, w, c] = bb.tap.shape;
    // the layer description computes what apply computes
    const A = tf.tensor4d(tapRef.data, [4, h, w, c]);
    const lin = new LinearizedHead(head.layers!, [h, w, c]);
    lin.dispose();
    const pool = source(tapRef.data, [h, w, c], 4);
    const fcW = await npy('resnet18', 'fc_w.npy');
    const data = {
      head,
      pool,
      seenWeights: matrix(fcW.shape[0], fcW.shape[1], fcW.data),
      targets: matrix(3, c, (await npy('resnet18', 'tap0', 'targets.npy')).data),
    };
    const opts = {
      lambda: 1e-2,
      lr: 1e-3,
      batchSize: 4,
      pairsPerClass: 4,
      maxSteps: 5,
      patience: 40,
      minImprovement: 0.01,
      seed: 5,
    };
    const fast = trainUnseenWeights(data, { ...opts, implementation: 'auto' });
    const ref = trainUnseenWeights(data, { ...opts, implementation: 'reference' });
    expect(fast.implementation).toBe('fast');
    expect(ref.implementation).toBe('reference');
    expect(fast.losses.length).toBe(5);
    expect(relMaxError(fast.losses, ref.losses)).toBeLessThan(1e-4);
    expect(relMaxError(fast.weights.data, ref.weights.data)).toBeLessThan(1e-4);
    A.dispose();
    bb.dispose();
  }, 300_000);

  it('heads outside the piecewise-linear set say why they use double backprop', async () => {
    const tap = readFileSync(path.join(dir, 'mobilenet_v3_small', 'tap0', 'name.txt'), 'utf8').trim();
    const bb = backbone('mobilenet_v3_small', tap);
    await bb.prepare();
    expect(bb.head().layers).toBeUndefined();
    expect(bb.fastPathUnavailable()).toMatch(/HardSwish|HardSigmoid|GlobalAveragePool|feeds/);
    bb.dispose();
    console.info(`onnx parity table ${JSON.stringify(table)}`);
  }, 300_000);
});

describe('on the cpu backend too', () => {
  // the custom CNN holds every op with a hand-written second-order path (dilated grouped conv, padded pools)
  it.each([0, 1])(
    'custom, tap %i: within 1e-4 of PyTorch',
    async (k) => {
      await initBackend('cpu');
      try {
        await parity('custom', k);
      } finally {
        await initBackend('wasm');
      }
    },
    300_000,
  );
});
