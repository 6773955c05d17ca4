import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, matrix } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { DEM_PRESETS, Dem, demBatchLoss, demOptions, groupBatch, initDemParams, prototypeScores } from '../index.js';
import { OnnxDemEngine } from '../dem/engine-onnx.js';
import { evaluate, syntheticProblem } from './fixtures.js';

await initBackend('wasm');

const ENGINES = ['onnx', 'tfjs'] as const;

describe('DEM', () => {
  const [E, H, D, C, B] = [3, 5, 4, 3, 7];
  const rng = new Rng(31);
  const knowledge = matrix(
    C,
    E,
    Float32Array.from({ length: C * E }, () => rng.normal()),
  );
  const x = matrix(
    B,
    D,
    Float32Array.from({ length: B * D }, () => 1 + rng.normal()),
  );
  const labels = Int32Array.from([0, 2, 2, 1, 0, 2, 1]);
  const lambda = 0.05;
  const init = initDemParams(E, H, D, 5);
  // Random biases too (the official 0.1 constant would leave their gradient check weaker).
  const b1 = Float32Array.from({ length: H }, () => 0.3 * rng.normal());
  const b2 = Float32Array.from({ length: D }, () => 0.5 + 0.3 * rng.normal());
  const flat = Float64Array.from([...init.w1, ...b1, ...init.w2, ...b2]);

  /** The official per-image form, float64: mean over batch × dims of (f(a_y) − x)² + λ·½‖θ‖² (biases included). */
  const reference = (theta: Float64Array): number => {
    const w1 = theta.subarray(0, E * H);
    const bb1 = theta.subarray(E * H, E * H + H);
    const w2 = theta.subarray(E * H + H, E * H + H + H * D);
    const bb2 = theta.subarray(E * H + H + H * D);
    let se = 0;
    for (let i = 0; i < B; i++) {
      const a = knowledge.data.subarray(labels[i] * E, (labels[i] + 1) * E);
      const h = Array.from({ length: H }, (_, j) =>
        Math.max(0, bb1[j] + a.reduce((s, v, e) => s + v * w1[e * H + j], 0)),
      );
      for (let d = 0; d < D; d++) {
        const f = Math.max(0, bb2[d] + h.reduce((s, v, j) => s + v * w2[j * D + d], 0));
        se += (f - x.data[i * D + d]) ** 2;
      }
    }
    return se / (B * D) + (lambda / 2) * theta.reduce((s, v) => s + v * v, 0);
  };

  it(
    'the class-grouped batch loss equals the per-image loss, and its gradient matches finite differences (tfjs ' +
      'and onnx engines)',
    async () => {
      const batch = groupBatch(
        x,
        labels,
        Array.from({ length: B }, (_, i) => i),
      );
      expect(Array.from(batch.classes)).toEqual([0, 2, 1]);
      expect(Array.from(batch.counts)).toEqual([2, 3, 2]);
      const K = tf.tensor2d(knowledge.data, [C, E]);
      const params = [
        tf.tensor2d(init.w1, [E, H]),
        tf.tensor1d(b1),
        tf.tensor2d(init.w2, [H, D]),
        tf.tensor1d(b2),
      ] as const;
      const lossOf = (w1: tf.Tensor, bb1: tf.Tensor, w2: tf.Tensor, bb2: tf.Tensor): tf.Scalar =>
        demBatchLoss(
          { w1: w1 as tf.Tensor2D, b1: bb1 as tf.Tensor1D, w2: w2 as tf.Tensor2D, b2: bb2 as tf.Tensor1D },
          K,
          batch,
          lambda,
        );
      const value = tf.tidy(() => lossOf(...params).dataSync()[0]);
      expect(value).toBeCloseTo(reference(flat), 5);
      const grads = tf.tidy(() =>
        tf
          .grads(lossOf)([...params])
          .map((g) => Array.from(g.dataSync())),
      );
      tf.dispose([K, ...params]);
      const analytic = grads.flat();
      // The onnx step graph gives the data term's gradients; its Adam kernel adds λθ.
      const ort = await OnnxDemEngine.create(knowledge, D, { w1: init.w1, b1, w2: init.w2, b2 }, { lr: 1e-3, lambda });
      const g = (await ort.gradients(batch)).grads;
      await ort.dispose();
      const ortAnalytic = [...g.w1, ...g.b1, ...g.w2, ...g.b2].map((v, i) => v + lambda * flat[i]);
      expect(analytic.length).toBe(flat.length);
      expect(ortAnalytic.length).toBe(flat.length);
      const h = 1e-6;
      let maxErr = 0;
      let maxErrOrt = 0;
      let maxAbs = 0;
      for (let i = 0; i < flat.length; i++) {
        const p = flat.slice();
        const m = flat.slice();
        p[i] += h;
        m[i] -= h;
        const fd = (reference(p) - reference(m)) / (2 * h);
        maxErr = Math.max(maxErr, Math.abs(fd - analytic[i]));
        maxErrOrt = Math.max(maxErrOrt, Math.abs(fd - ortAnalytic[i]));
        maxAbs = Math.max(maxAbs, Math.abs(fd));
      }
      expect(maxAbs).toBeGreaterThan(0.01);
      expect(maxErr).toBeLessThan(1e-4 * Math.max(1, maxAbs));
      expect(maxErrOrt).toBeLessThan(1e-4 * Math.max(1, maxAbs));
    },
  );

  it('scores by negative Euclidean distance or cosine similarity to the prototypes', () => {
    const feats = matrix(2, 2, [1, 0, 0, 2]);
    const protos = Float32Array.from([1, 0, 0, 1, 3, 3]);
    const eu = prototypeScores(feats, protos, 3, 'euclidean');
    expect(eu[0]).toBeCloseTo(0, 3);
    expect(eu[1]).toBeCloseTo(-Math.SQRT2, 5);
    expect(eu[4]).toBeCloseTo(-1, 5);
    const cos = prototypeScores(feats, protos, 3, 'cosine');
    expect(cos[0]).toBeCloseTo(1, 6);
    expect(cos[2]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(cos[4]).toBeCloseTo(1, 6);
  });

  it('presets are the official settings and explicit options override them', () => {
    const awa2 = demOptions.parse({ preset: 'awa2' });
    expect({
      hidden: awa2.hidden,
      lambda: awa2.lambda,
      lr: awa2.lr,
      batchSize: awa2.batchSize,
      distance: awa2.distance,
    }).toEqual({
      hidden: 1600,
      lambda: 1e-3,
      lr: 1e-4,
      batchSize: 64,
      distance: 'euclidean',
    });
    const cub = demOptions.parse({ preset: 'cub', lr: 3e-5 });
    expect([cub.hidden, cub.lambda, cub.lr, cub.batchSize, cub.distance, cub.knowledgeNorm]).toEqual([
      1200,
      1e-2,
      3e-5,
      100,
      'cosine',
      'l2',
    ]);
    const none = demOptions.parse({});
    expect(none).toMatchObject({
      preset: 'none',
      ...DEM_PRESETS.none,
      epochs: 100,
      patience: 10,
      evalEvery: 1,
      valFraction: 0.25,
      retrain: true,
      engine: 'auto',
    });
    // What the run records re-validates to the same options.
    expect(demOptions.parse(cub)).toEqual(cub);
    expect(() => demOptions.parse({ hiden: 10 })).toThrow();
    expect(() => demOptions.parse({ engine: 'gpu' })).toThrow(/engine/);
  });

  it.for(ENGINES)(
    'reaches ZSL T1 ≥ 0.9 on a linearly separable synthetic problem, with flat tensor memory (%s engine)',
    async (engine) => {
      const p = syntheticProblem({ seed: 21 });
      const before = tf.memory().numTensors;
      const dem = new Dem(demOptions.parse({ hidden: 256, epochs: 60, engine }));
      const summary = await dem.fit(p.ctx);
      expect(summary.engine).toBe(engine);
      const r = evaluate(dem, p);
      expect(tf.memory().numTensors).toBe(before);
      expect(r.zslT1).toBeGreaterThanOrEqual(0.9);
      expect(r.s).toBeGreaterThan(0.5);
      expect(summary.selected_epochs).toBeGreaterThanOrEqual(1);
      expect(p.metrics.get('train/loss')?.length).toBe(summary.selected_epochs);
    },
  );

  it.for(ENGINES)(
    'is deterministic for a seed, with cosine distance and without retraining (%s engine)',
    async (engine) => {
      const p = syntheticProblem({ seed: 23 });
      const run = async (): Promise<number[]> => {
        const dem = new Dem(demOptions.parse({ hidden: 64, epochs: 8, distance: 'cosine', retrain: false, engine }));
        await dem.fit(p.ctx);
        return Array.from(dem.scores(p.testUnseen.features).data);
      };
      const a = await run();
      expect(a.every(Number.isFinite)).toBe(true);
      expect(await run()).toEqual(a);
    },
  );
});
