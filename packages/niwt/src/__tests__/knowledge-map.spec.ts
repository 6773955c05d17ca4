import { describe, expect, it } from 'vitest';
import { Rng, matrix } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import {
  HeldOutScorer,
  type LinearMap,
  applyMap,
  classLevelLoss,
  linearSurrogate,
  perImageLoss,
  trainKnowledgeMap,
  spearman,
  ranks,
} from '../index.js';
import { row } from '@niwt/core';

await initBackend('cpu');

function problem(seed: number) {
  // 8 classes, knowledge E=4, importance K=6, a hidden linear map plus per-image noise
  const rng = new Rng(seed);
  const C = 8;
  const E = 4;
  const K = 6;
  const know = matrix(
    C,
    E,
    Float32Array.from({ length: C * E }, () => rng.next() * 2),
  );
  const Mtrue = Float32Array.from({ length: E * K }, () => rng.normal());
  const labels: number[] = [];
  const rows: number[] = [];
  for (let c = 0; c < C; c++) {
    const n = 5 + c; // unequal class sizes exercise the n_c weights
    for (let i = 0; i < n; i++) {
      labels.push(c);
      for (let k = 0; k < K; k++) {
        let v = 0;
        for (let e = 0; e < E; e++) v += know.data[c * E + e] * Mtrue[e * K + k];
        rows.push(v + 0.3 * rng.normal());
      }
    }
  }
  return {
    knowledge: know,
    importances: matrix(labels.length, K, Float32Array.from(rows)),
    labels: Int32Array.from(labels),
    E,
    K,
  };
}

describe('stage C', () => {
  it('class-level loss equals the per-image cosine loss (the identity in NIWT.md)', () => {
    const p = problem(1);
    const rng = new Rng(9);
    for (let t = 0; t < 3; t++) {
      const map = {
        M: matrix(
          p.E,
          p.K,
          Float32Array.from({ length: p.E * p.K }, () => rng.normal()),
        ),
        b: Float32Array.from({ length: p.K }, () => rng.normal()),
      };
      const classes = [0, 1, 2, 3, 4, 5, 6, 7];
      expect(Math.abs(classLevelLoss(map, p, classes) - perImageLoss(map, p, classes))).toBeLessThan(1e-5);
    }
  });

  it('learns a map that generalises to held-out classes', () => {
    const p = problem(2);
    const res = trainKnowledgeMap(
      { ...p, trainClasses: [0, 1, 2, 3, 4, 5], heldOutClasses: [6, 7] },
      { lr: 0.05, epochs: 300, select: 'spearman', seed: 3 },
    );
    expect(res.history[0].trainLoss).toBeGreaterThan(res.history[res.history.length - 1].trainLoss);
    expect(res.bestScore).toBeGreaterThan(0.7);
    expect(perImageLoss(res.map, p, [6, 7])).toBeLessThan(0.2);
  });

  it('scores held-out classes by the mean per-image Spearman ρ (fast path = direct computation)', () => {
    const p = problem(6);
    const rng = new Rng(8);
    const map = {
      M: matrix(
        p.E,
        p.K,
        Float32Array.from({ length: p.E * p.K }, () => rng.normal()),
      ),
      b: new Float32Array(p.K),
    };
    const held = [2, 5];
    const preds = applyMap(map, p.knowledge);
    let sum = 0;
    let n = 0;
    for (let i = 0; i < p.labels.length; i++) {
      if (!held.includes(p.labels[i])) continue;
      sum += spearman(row(preds, p.labels[i]), row(p.importances, i));
      n++;
    }
    const fast = new HeldOutScorer({ ...p, trainClasses: [0, 1, 3, 4], heldOutClasses: held }, 'spearman').score(map);
    expect(fast).toBeCloseTo(sum / n, 10);
    expect(n).toBe(7 + 10);
  });

  it('training on class rows reaches the same optimum as per-image training (loss within 1e-4 every epoch)', () => {
    const p = problem(7);
    const data = { ...p, trainClasses: [0, 1, 2, 3, 4, 5], heldOutClasses: [6, 7] };
    const run = (objective: 'class' | 'image') =>
      trainKnowledgeMap(data, { lr: 0.05, epochs: 150, select: 'cosine', seed: 3, objective });
    const cls = run('class');
    const img = run('image');
    let maxDiff = 0;
    for (let i = 0; i < cls.history.length; i++)
      maxDiff = Math.max(maxDiff, Math.abs(cls.history[i].trainLoss - img.history[i].trainLoss));
    expect(maxDiff).toBeLessThan(1e-4);
    expect(cls.history[149].trainLoss).toBeLessThan(cls.history[0].trainLoss - 0.1);
    expect(
      Math.abs(perImageLoss(cls.map, p, [0, 1, 2, 3, 4, 5]) - perImageLoss(img.map, p, [0, 1, 2, 3, 4, 5])),
    ).toBeLessThan(1e-4);
  });

  it('offers an MLP map that also generalises, explained through its linear surrogate', () => {
    const p = problem(8);
    const res = trainKnowledgeMap(
      { ...p, trainClasses: [0, 1, 2, 3, 4, 5], heldOutClasses: [6, 7] },
      { lr: 0.01, epochs: 300, select: 'spearman', seed: 3, kind: 'mlp', hidden: 32 },
    );
    expect('W1' in res.map).toBe(true);
    expect(res.bestScore).toBeGreaterThan(0.6);
    const sur = linearSurrogate(res.map, p.knowledge);
    // the surrogate reproduces the MLP's predictions on the classes up to its fit error
    const a = applyMap(res.map, p.knowledge);
    const b = applyMap(sur, p.knowledge);
    let num = 0;
    let den = 0;
    for (let i = 0; i < a.data.length; i++) {
      num += (a.data[i] - b.data[i]) ** 2;
      den += a.data[i] ** 2;
    }
    expect(num / den).toBeLessThan(0.2);
  });

  it('is deterministic for a seed', () => {
    const p = problem(4);
    const run = () =>
      trainKnowledgeMap(
        { ...p, trainClasses: [0, 1, 2, 3, 4], heldOutClasses: [5, 6] },
        { lr: 0.05, epochs: 20, select: 'cosine', seed: 5 },
      );
    expect(Array.from((run().map as LinearMap).M.data)).toEqual(Array.from((run().map as LinearMap).M.data));
  });
});

describe('spearman', () => {
  it('matches hand-computed ranks with ties', () => {
    expect(Array.from(ranks([10, 20, 20, 5]))).toEqual([2, 3.5, 3.5, 1]);
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
    // d = [0, 1, -1, 0] → ρ = 1 − 6·2/(4·15) = 0.8
    expect(spearman([1, 2, 3, 4], [1, 3, 2, 4])).toBeCloseTo(0.8, 12);
  });
});
