/**
 * NIWT on the native 'tensorflow' backend (scripts/tfjs-native.sh) against the 'cpu' backend: stage B
 * importances, the stage D loss and ∂L/∂W_u (double backprop through the head), and a few stage D steps on
 * both tfjs implementations (linearised head and double backprop), within 1e-4 relative. Heads: VGG-like
 * (max pool, dense), conv + max/avg pool, ResNet-like (BN, residual). Fails, never skips, when the native
 * backend cannot be built or loaded.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng, matrix, memoryTaps } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { importance, trainUnseenWeights, transferLoss } from '../index.js';
import { randomTap } from './fixtures.js';
import { convHead, relErr, resnetHead, vggHead, type TestHead } from './heads.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const TOL = 1e-4;
const maxima = new Map<string, number>();
/** relErr, remembered per group for the summary line. */
function err(group: string, a: ArrayLike<number>, ref: ArrayLike<number>): number {
  const e = relErr(a, ref);
  maxima.set(group, Math.max(maxima.get(group) ?? 0, e));
  return e;
}
afterAll(() => {
  const all = Object.fromEntries([...maxima].map(([g, v]) => [g, +v.toExponential(2)]));
  console.log(`niwt native parity maxima (relative to cpu): ${JSON.stringify(all)}`);
});

beforeAll(async () => {
  const script = path.join(REPO, 'scripts/tfjs-native.sh');
  execFileSync(script, [], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
  expect((await initBackend('tensorflow')).name).toBe('tensorflow');
}, 900_000);

const HEADS: Array<[string, () => TestHead, [number, number, number]]> = [
  ['VGG-like', () => vggHead(1, [4, 4, 3], 6), [4, 4, 3]],
  ['conv + max/avg pool', () => convHead(2, [4, 4, 2], 6), [4, 4, 2]],
  ['ResNet-like (BN, residual)', () => resnetHead(3, [3, 3, 4]), [3, 3, 4]],
];

/** Runs `fn` with a freshly built head on `backend`; the head is disposed after. */
async function on<T>(backend: 'cpu' | 'tensorflow', make: () => TestHead, fn: (h: TestHead) => T): Promise<T> {
  await initBackend(backend);
  const head = make();
  try {
    return fn(head);
  } finally {
    head.dispose();
  }
}

describe.each(HEADS)('%s head on tensorflow matches cpu', (_name, make, [h, w, k]) => {
  const B = 6;
  const nU = 2;
  const tap = randomTap(12, B, h, w, k);

  it('stage B: importances', async () => {
    const run = (head: TestHead) =>
      tf.tidy(() => {
        const wData = Float32Array.from({ length: head.outDim * 3 }, (_, i) => Math.sin(i + 1));
        const W = tf.tensor2d(wData, [head.outDim, 3]);
        const cols = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
        return Float32Array.from(importance(head, tf.tensor4d(tap, [B, h, w, k]), W, cols).dataSync());
      });
    const [cpu, native] = [await on('cpu', make, run), await on('tensorflow', make, run)];
    expect(Math.max(...Array.from(cpu, Math.abs))).toBeGreaterThan(1e-3);
    expect(err('stage B importances', native, cpu)).toBeLessThan(TOL);
  });

  it('stage D: loss and ∂L/∂W_u (double backprop)', async () => {
    const run = (head: TestHead) =>
      tf.tidy(() => {
        const D = head.outDim;
        const rng = new Rng(13);
        const wu = tf.tensor2d(
          Float32Array.from({ length: D * nU }, () => rng.normal()),
          [D, nU],
        );
        const mu0 = tf.tensor2d(
          Float32Array.from({ length: D }, () => rng.normal() * 0.1),
          [D, 1],
        );
        const mu = tf.tile(mu0, [1, nU]) as tf.Tensor2D;
        const t = tf.tensor2d(
          Float32Array.from({ length: nU * k }, () => rng.normal()),
          [nU, k],
        );
        const tH = tf.div(t, tf.norm(t, 'euclidean', 1, true)) as tf.Tensor2D;
        const a = tf.tensor4d(tap, [B, h, w, k]);
        const c = tf.tensor1d([0, 1, 1, 0, 1, 0], 'int32');
        const loss = (x: tf.Tensor) => transferLoss(head, x as tf.Tensor2D, a, c, tH, mu, 0.05);
        const { value, grad } = tf.valueAndGrad(loss)(wu);
        return { loss: value.dataSync()[0] as number, grad: Float32Array.from(grad.dataSync()) };
      });
    const [cpu, native] = [await on('cpu', make, run), await on('tensorflow', make, run)];
    expect(err('stage D loss', [native.loss], [cpu.loss])).toBeLessThan(TOL);
    expect(Math.max(...Array.from(cpu.grad, Math.abs))).toBeGreaterThan(1e-4);
    expect(err('stage D dL/dW_u', native.grad, cpu.grad)).toBeLessThan(TOL);
  });

  const impls = ['fast', 'reference'] as const;
  it.each(impls)('stage D: 5 steps (%s) give the same losses and weights', async (implementation) => {
    const run = (head: TestHead) => {
      const D = head.outDim;
      const rng = new Rng(21);
      const res = trainUnseenWeights(
        {
          head,
          pool: memoryTaps(randomTap(22, 16, h, w, k), [h, w, k]),
          seenWeights: matrix(
            D,
            3,
            Float32Array.from({ length: D * 3 }, () => rng.normal()),
          ),
          targets: matrix(
            nU,
            k,
            Float32Array.from({ length: nU * k }, () => rng.normal()),
          ),
        },
        {
          ...{ lambda: 0.05, lr: 1e-2, batchSize: 4, pairsPerClass: 8, maxSteps: 5 },
          ...{ patience: 100, minImprovement: 0, seed: 3, implementation },
        },
      );
      expect(res.implementation).toBe(implementation);
      return { losses: Float32Array.from(res.losses), weights: Float32Array.from(res.weights.data) };
    };
    const [cpu, native] = [await on('cpu', make, run), await on('tensorflow', make, run)];
    expect(native.losses.length).toBe(cpu.losses.length);
    expect(err(`stage D ${implementation} losses`, native.losses, cpu.losses)).toBeLessThan(TOL);
    expect(err(`stage D ${implementation} weights`, native.weights, cpu.weights)).toBeLessThan(TOL);
  });
});
