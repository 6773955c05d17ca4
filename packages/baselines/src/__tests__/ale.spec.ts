import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, matrix, type Matrix } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { Ale, AleTrainer, aleOptions, aleSampleLoss, rankWeights } from '../index.js';
import { evaluate, syntheticProblem } from './fixtures.js';

await initBackend('wasm');

/** The textbook per-sample ALE SGD in float64, drawing from the same random stream as `AleTrainer`. */
function referenceEpochs(
  x: Matrix,
  labels: Int32Array,
  A: Matrix,
  lr: number,
  margin: number,
  seed: number,
  epochs: number,
): { w: Float64Array; updates: number[] } {
  const [N, D, E, C] = [x.rows, x.cols, A.cols, A.rows];
  const rng = new Rng(seed);
  const beta = rankWeights(C - 1);
  const w = new Float64Array(D * E);
  for (let i = 0; i < w.length; i++) w[i] = rng.normal() * (1 / Math.sqrt(D));
  const updates: number[] = [];
  for (let ep = 0; ep < epochs; ep++) {
    updates.push(0);
    for (const n of rng.shuffle(Array.from({ length: N }, (_, i) => i))) {
      const xn = x.data.subarray(n * D, (n + 1) * D);
      const s = new Float64Array(E);
      for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) s[e] += xn[d] * w[d * E + e];
      const F = (c: number): number => s.reduce((acc, v, e) => acc + v * A.data[c * E + e], 0);
      const y = labels[n];
      for (let k = 1; k < C; k++) {
        let j = rng.int(C - 1);
        if (j >= y) j++;
        if (margin + F(j) > F(y)) {
          const coef = lr * beta[Math.floor((C - 1) / k)];
          for (let d = 0; d < D; d++)
            for (let e = 0; e < E; e++) w[d * E + e] += coef * xn[d] * (A.data[y * E + e] - A.data[j * E + e]);
          updates[ep]++;
          break;
        }
      }
    }
  }
  return { w, updates };
}

describe('ALE', () => {
  it('rank weights are the harmonic numbers β_k = Σ_{j≤k} 1/j', () => {
    const beta = rankWeights(6);
    expect(beta[0]).toBe(0);
    expect(beta[1]).toBe(1);
    expect(beta[2]).toBeCloseTo(1.5, 15);
    expect(beta[3]).toBeCloseTo(11 / 6, 15);
    expect(beta[4]).toBeCloseTo(25 / 12, 15);
    expect(beta[5]).toBeCloseTo(137 / 60, 15);
    expect(beta[6]).toBeCloseTo(49 / 20, 15);
  });

  it('the gradient of the weighted ranking loss matches finite differences', () => {
    const rng = new Rng(3);
    const [D, E, C] = [7, 5, 6];
    const A = matrix(
      C,
      E,
      Float32Array.from({ length: C * E }, () => rng.normal()),
    );
    const x = Float64Array.from({ length: D }, () => rng.normal());
    const w = Float64Array.from({ length: D * E }, () => 0.3 * rng.normal());
    const label = 2;
    const margin = 1;
    const { loss, grad } = aleSampleLoss(w, D, E, x, A, label, margin);
    expect(loss).toBeGreaterThan(0);
    // Several violators, so the rank weight β_r/r is not trivial, and none near its hinge's kink.
    const F = (c: number): number => {
      let v = 0;
      for (let d = 0; d < D; d++) for (let e = 0; e < E; e++) v += x[d] * w[d * E + e] * A.data[c * E + e];
      return v;
    };
    const hinges = Array.from({ length: C }, (_, c) => margin + F(c) - F(label)).filter((_, c) => c !== label);
    expect(hinges.filter((h) => h > 0).length).toBeGreaterThanOrEqual(2);
    expect(Math.min(...hinges.map(Math.abs))).toBeGreaterThan(1e-3);
    const h = 1e-6;
    let maxErr = 0;
    for (let i = 0; i < w.length; i++) {
      const wp = w.slice();
      const wm = w.slice();
      wp[i] += h;
      wm[i] -= h;
      const fd =
        (aleSampleLoss(wp, D, E, x, A, label, margin).loss - aleSampleLoss(wm, D, E, x, A, label, margin).loss) /
        (2 * h);
      maxErr = Math.max(maxErr, Math.abs(fd - grad[i]));
    }
    expect(maxErr).toBeLessThan(1e-6);
  });

  it('the SGD step is minus the gradient of the β-weighted hinge of the sampled violator', () => {
    // With every wrong class violating (r = C−1) and the violator found at the first draw (r̂ = C−1), the
    // step lr·β_r̂·x(φ_y − φ_ȳ)ᵀ is −lr·∂/∂W [β_r̂ · (Δ + F(ȳ) − F(y))].
    const rng = new Rng(5);
    const [D, E, C] = [4, 3, 5];
    const A = matrix(
      C,
      E,
      Float32Array.from({ length: C * E }, () => rng.normal()),
    );
    const x = Float64Array.from({ length: D }, () => rng.normal());
    const beta = rankWeights(C - 1);
    const y = 1;
    const yBar = 3;
    const hinge = (w: Float64Array): number => {
      let fy = 0;
      let fj = 0;
      for (let d = 0; d < D; d++)
        for (let e = 0; e < E; e++) {
          fy += x[d] * w[d * E + e] * A.data[y * E + e];
          fj += x[d] * w[d * E + e] * A.data[yBar * E + e];
        }
      return beta[C - 1] * (1 + fj - fy);
    };
    const w = new Float64Array(D * E);
    const lr = 0.1;
    for (let i = 0; i < w.length; i++) {
      const d = Math.floor(i / E);
      const e = i % E;
      const step = lr * beta[C - 1] * x[d] * (A.data[y * E + e] - A.data[yBar * E + e]);
      const wp = w.slice();
      const wm = w.slice();
      wp[i] += 1e-6;
      wm[i] -= 1e-6;
      expect(step).toBeCloseTo((-lr * (hinge(wp) - hinge(wm))) / 2e-6, 6);
    }
  });

  // Scores are taken in class space (V = W·Aᵀ) when C ≤ E and in embedding space otherwise; block Gram rows
  // come from on-demand dot products or one GEMM. Every combination must replay the per-sample SGD.
  for (const { space, E, C } of [
    { space: 'embedding', E: 4, C: 6 },
    { space: 'class', E: 8, C: 5 },
  ])
    it(`the blocked trainer makes exactly the updates of the per-sample SGD (${space} space, E=${E}, C=${C})`, () => {
      const rng = new Rng(9);
      const [N, D] = [50, 9];
      const x = matrix(
        N,
        D,
        Float32Array.from({ length: N * D }, () => rng.normal()),
      );
      const labels = Int32Array.from({ length: N }, () => rng.int(C));
      const A = matrix(
        C,
        E,
        Float32Array.from({ length: C * E }, () => rng.normal()),
      );
      const expected = referenceEpochs(x, labels, A, 0.05, 1, 17, 3);
      // Enough updates per block that the within-block corrections matter, and not all (a violator search
      // that stops early consumes a different share of the random stream).
      expect(expected.updates[0]).toBeGreaterThan(N / 4);
      expect(Math.min(...expected.updates)).toBeLessThan(N);
      const tensorsBefore = tf.memory().numTensors;
      for (const gram of ['dot', 'gemm', 'auto'] as const)
        for (const blockSize of [1, 7, 64]) {
          const trainer = new AleTrainer(
            { x, labels, classEmb: A },
            { lr: 0.05, margin: 1, blockSize, seed: 17, gram },
          );
          const updates = [trainer.epoch(), trainer.epoch(), trainer.epoch()].map((ep) => ep.updates);
          const w = trainer.weights();
          trainer.dispose();
          expect(updates, `${gram}, block ${blockSize}`).toEqual(expected.updates);
          let maxErr = 0;
          for (let i = 0; i < w.length; i++) maxErr = Math.max(maxErr, Math.abs(w[i] - expected.w[i]));
          expect(maxErr, `${gram}, block ${blockSize}`).toBeLessThan(1e-5);
        }
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    });

  it('reaches ZSL T1 ≥ 90 % on a linearly separable synthetic problem, with flat tensor memory', async () => {
    const p = syntheticProblem({ seed: 21 });
    const before = tf.memory().numTensors;
    const ale = new Ale(aleOptions.parse({ maxEpochs: 20 }));
    const summary = await ale.fit(p.ctx);
    const r = evaluate(ale, p);
    expect(tf.memory().numTensors).toBe(before);
    expect(r.zslT1).toBeGreaterThanOrEqual(0.9);
    expect(r.s).toBeGreaterThan(0.5);
    expect(summary.selected_epochs).toBeGreaterThanOrEqual(1);
    expect(p.metrics.get('train/update_rate')?.length).toBe(summary.selected_epochs);
  });

  it('is deterministic for a seed and works with per-image L2 features and a fixed schedule', async () => {
    const p = syntheticProblem({ seed: 22 });
    const run = async (): Promise<Float32Array> => {
      const ale = new Ale(aleOptions.parse({ featureNorm: 'l2', lrs: [0.1], epochs: 5 }));
      const s = await ale.fit(p.ctx);
      expect(s.val_acc).toBeUndefined();
      return ale.scores(p.testUnseen.features).data;
    };
    expect(Array.from(await run())).toEqual(Array.from(await run()));
  });

  it('has a strict option schema with the documented defaults', () => {
    expect(aleOptions.parse({})).toEqual({
      margin: 1,
      featureNorm: 'xian',
      lrs: [1e-3, 1e-2, 1e-1, 0.3, 1],
      maxEpochs: 50,
      patience: 10,
      valFraction: 0.25,
      blockSize: 64,
    });
    expect(() => aleOptions.parse({ lr: 0.1 })).toThrow();
  });
});
