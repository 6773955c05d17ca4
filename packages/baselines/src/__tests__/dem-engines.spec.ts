/** The onnx DEM engine (graph gradients + fused Adam) against the tfjs engine (autograd + core Adam). */
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendError, Rng, matrix } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { DemTrainer, demBatchLoss, groupBatch, initDemParams, type DemParams } from '../index.js';
import { OnnxDemEngine } from '../dem/engine-onnx.js';
import { syntheticProblem } from './fixtures.js';

await initBackend('wasm');

/** max |a − b| / max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / scale;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
  return err;
}

const flat = (p: DemParams): Float32Array => Float32Array.from([...p.w1, ...p.b1, ...p.w2, ...p.b2]);

describe('DEM onnx engine', () => {
  const [E, H, D, C, B] = [6, 10, 8, 5, 23];
  const rng = new Rng(77);
  const knowledge = matrix(
    C,
    E,
    Float32Array.from({ length: C * E }, () => rng.normal()),
  );
  const x = matrix(
    B,
    D,
    Float32Array.from({ length: B * D }, () => Math.max(0, 0.3 + rng.normal())),
  );
  const labels = Int32Array.from({ length: B }, () => Math.floor(rng.next() * C));
  const lambda = 0.02;
  const init = initDemParams(E, H, D, 9);
  // Spread biases around 0 so that both ReLU masks cut some units and rows (the official 0.1 would not).
  const params: DemParams = {
    w1: init.w1.map((v) => 4 * v),
    b1: Float32Array.from({ length: H }, () => 0.5 * rng.normal()),
    w2: init.w2.map((v) => 4 * v),
    b2: Float32Array.from({ length: D }, () => 0.5 * rng.normal()),
  };

  it(
    'gives the loss and gradients of tfjs autograd (demBatchLoss) to 1e-5 relative, with both ReLU masks ' + 'active',
    async () => {
      const batch = groupBatch(
        x,
        labels,
        Array.from({ length: B }, (_, i) => i),
      );
      expect(batch.classes.length).toBe(C);
      const K = tf.tensor2d(knowledge.data, [C, E]);
      const vars = [
        tf.tensor2d(params.w1, [E, H]),
        tf.tensor1d(params.b1),
        tf.tensor2d(params.w2, [H, D]),
        tf.tensor1d(params.b2),
      ] as const;
      const lossOf =
        (lam: number) =>
        (w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor): tf.Scalar =>
          demBatchLoss(
            { w1: w1 as tf.Tensor2D, b1: b1 as tf.Tensor1D, w2: w2 as tf.Tensor2D, b2: b2 as tf.Tensor1D },
            K,
            batch,
            lam,
          );
      // The graph computes the data term's gradients (λθ is added by the Adam kernel): compare with λ = 0.
      const dataLoss = tf.tidy(() => lossOf(0)(...vars).dataSync()[0]);
      const fullLoss = tf.tidy(() => lossOf(lambda)(...vars).dataSync()[0]);
      const ref = tf.tidy(() =>
        tf
          .grads(lossOf(0))([...vars])
          .map((g) => g.dataSync().slice() as Float32Array),
      );
      // Both masks matter here: some hidden units and some outputs are cut at this point.
      const [h1, f] = tf.tidy(() => {
        const h = tf.relu(tf.add(tf.matMul(tf.gather(K, tf.tensor1d(batch.classes, 'int32')), vars[0]), vars[1]));
        return [
          h.dataSync().slice(),
          tf
            .relu(tf.add(tf.matMul(h, vars[2]), vars[3]))
            .dataSync()
            .slice(),
        ];
      });
      tf.dispose([K, ...vars]);
      const zeros = (a: ArrayLike<number>): number => Array.from(a).filter((v) => v === 0).length;
      expect(zeros(h1)).toBeGreaterThan(0);
      expect(zeros(h1)).toBeLessThan(h1.length);
      expect(zeros(f)).toBeGreaterThan(0);
      expect(zeros(f)).toBeLessThan(f.length);

      const engine = await OnnxDemEngine.create(knowledge, D, params, { lr: 1e-3, lambda });
      const { wsse, grads } = await engine.gradients(batch);
      expect(Math.abs(wsse / 2 + batch.scatter / (B * D) - dataLoss) / dataLoss).toBeLessThan(1e-5);
      const ours = [grads.w1, grads.b1, grads.w2, grads.b2];
      for (let k = 0; k < 4; k++) {
        expect(ours[k].length).toBe(ref[k].length);
        expect(relErr(ours[k], ref[k])).toBeLessThan(1e-5);
      }
      // A step reports the loss with the L2 term, at the parameters before the update.
      const stepLoss = await engine.step(batch);
      expect(Math.abs(stepLoss - fullLoss) / fullLoss).toBeLessThan(1e-5);
      await engine.dispose();
    },
  );
});

describe('DemTrainer engines', () => {
  afterEach(() => {
    delete process.env.NIWT_ONNX;
  });

  it('onnx and tfjs follow the same trajectory: parameters within 1e-4 after 3 epochs', async () => {
    const p = syntheticProblem({ seed: 41, seen: 12, D: 24, perClass: 10 });
    const problem = {
      x: p.ctx.trainval.features,
      labels: p.ctx.trainval.labels,
      knowledge: matrix(12, 8, p.ctx.knowledge.matrix.data.slice(0, 12 * 8)),
    };
    const settings = { hidden: 32, lambda: 1e-3, lr: 1e-3, batchSize: 16 };
    const run = async (
      engine: 'onnx' | 'tfjs',
    ): Promise<{ losses: number[]; params: DemParams; init: DemParams; protos: Float32Array }> => {
      const trainer = new DemTrainer(problem, { ...settings, engine }, 3);
      expect((await trainer.ready()).name).toBe(engine);
      const init = trainer.params();
      const losses = [];
      for (let e = 0; e < 3; e++) losses.push(await trainer.epoch());
      const out = { losses, params: trainer.params(), init, protos: trainer.prototypes(problem.knowledge) };
      await trainer.dispose();
      return out;
    };
    const before = tf.memory().numTensors;
    const onnx = await run('onnx');
    expect(tf.memory().numTensors).toBe(before);
    const tfjs = await run('tfjs');
    expect(tf.memory().numTensors).toBe(before);
    expect(flat(onnx.init)).toEqual(flat(tfjs.init));
    expect(maxAbsDiff(flat(onnx.params), flat(tfjs.params))).toBeLessThan(1e-4);
    // ... while training moved them by far more than that, and the loss fell.
    expect(maxAbsDiff(flat(tfjs.params), flat(tfjs.init))).toBeGreaterThan(0.01);
    expect(tfjs.losses[2]).toBeLessThan(tfjs.losses[0]);
    for (let e = 0; e < 3; e++) expect(Math.abs(onnx.losses[e] - tfjs.losses[e]) / tfjs.losses[e]).toBeLessThan(1e-5);
    expect(relErr(onnx.protos, tfjs.protos)).toBeLessThan(1e-4);
  });

  it('auto falls back to tfjs when onnxruntime is unavailable, and onnx then fails with BackendError', async () => {
    const p = syntheticProblem({ seed: 43, seen: 4, D: 8, perClass: 3 });
    const problem = {
      x: p.ctx.trainval.features,
      labels: p.ctx.trainval.labels,
      knowledge: matrix(4, 8, p.ctx.knowledge.matrix.data.slice(0, 32)),
    };
    const settings = { hidden: 8, lambda: 1e-3, lr: 1e-3, batchSize: 4 };
    const auto = new DemTrainer(problem, settings, 1);
    expect((await auto.ready()).name).toBe('onnx');
    await auto.dispose();
    process.env.NIWT_ONNX = 'off';
    const fallback = new DemTrainer(problem, settings, 1);
    const info = await fallback.ready();
    expect(info.name).toBe('tfjs');
    expect(info.note).toMatch(/onnxruntime unavailable: disabled by NIWT_ONNX=off/);
    expect(Number.isFinite(await fallback.epoch())).toBe(true);
    await fallback.dispose();
    const forced = new DemTrainer(problem, { ...settings, engine: 'onnx' }, 1);
    await expect(forced.ready()).rejects.toThrow(BackendError);
    await expect(forced.ready()).rejects.toThrow(
      new RegExp(
        String.raw`engine 'onnx' needs onnxruntime-node, which is unavailable \(disabled by NIWT_ONNX=off\); ` +
          String.raw`set the method option engine to 'auto' or 'tfjs'`,
      ),
    );
    await forced.dispose();
  });
});
