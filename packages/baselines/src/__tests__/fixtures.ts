/** A linearly separable synthetic zero-shot problem and a `ZeroShotContext` over it. */
import {
  Rng,
  evaluateGzsl,
  matrix,
  silentLogger,
  type GzslResult,
  type Matrix,
  type SeenClassifier,
  type TapHead,
  type ZeroShotContext,
  type ZeroShotMethod,
} from '@niwt/core';

export interface Synthetic {
  readonly ctx: ZeroShotContext;
  readonly testSeen: { features: Matrix; labels: Int32Array };
  readonly testUnseen: { features: Matrix; labels: Int32Array };
  readonly metrics: Map<string, number[]>;
}

/**
 * Classes have Gaussian attributes a_c; an image of class c is x = max(0, b + M a_c + noise) with a positive
 * offset b, so features are non-negative (as pooled CNN features are) and, in practice, linear in the attributes.
 */
export function syntheticProblem(opts: {
  seed: number;
  seen?: number;
  unseen?: number;
  E?: number;
  D?: number;
  perClass?: number;
  noise?: number;
  offset?: number;
}): Synthetic {
  const { seed, seen = 30, unseen = 10, E = 8, D = 32, perClass = 20, noise = 0.15, offset = 3 } = opts;
  const rng = new Rng(seed);
  const C = seen + unseen;
  const att = matrix(
    C,
    E,
    Float32Array.from({ length: C * E }, () => rng.normal()),
  );
  const M = Float32Array.from({ length: D * E }, () => rng.normal() / Math.sqrt(E));
  const sample = (classes: number[], n: number): { features: Matrix; labels: Int32Array } => {
    const labels = new Int32Array(classes.length * n);
    const data = new Float32Array(labels.length * D);
    let i = 0;
    for (const c of classes)
      for (let k = 0; k < n; k++, i++) {
        labels[i] = c;
        for (let d = 0; d < D; d++) {
          let v = 0;
          for (let e = 0; e < E; e++) v += M[d * E + e] * att.data[c * E + e];
          data[i * D + d] = Math.max(0, offset + v + noise * rng.normal());
        }
      }
    return { features: matrix(labels.length, D, data), labels };
  };
  const seenClasses = Array.from({ length: seen }, (_, i) => i);
  const unseenClasses = Array.from({ length: unseen }, (_, i) => seen + i);
  const trainval = sample(seenClasses, perClass);
  const metrics = new Map<string, number[]>();
  const ctx: ZeroShotContext = {
    classNames: Array.from({ length: C }, (_, c) => `class${c}`),
    seen: seenClasses,
    unseen: unseenClasses,
    knowledge: { matrix: att, dimNames: Array.from({ length: E }, (_, e) => `a${e}`), description: 'synthetic' },
    trainval: {
      indices: Array.from({ length: trainval.labels.length }, (_, i) => i),
      labels: trainval.labels,
      features: trainval.features,
    },
    // Not used by the baselines (they consume penultimate features and knowledge only).
    head: undefined as unknown as TapHead,
    seenClassifier: undefined as unknown as SeenClassifier,
    seed,
    log: silentLogger,
    metric: (key, value) => void metrics.set(key, [...(metrics.get(key) ?? []), value]),
  };
  return { ctx, testSeen: sample(seenClasses, 10), testUnseen: sample(unseenClasses, 20), metrics };
}

export function evaluate(method: ZeroShotMethod, p: Synthetic): GzslResult {
  return evaluateGzsl(
    method.scores(p.testSeen.features),
    p.testSeen.labels,
    method.scores(p.testUnseen.features),
    p.testUnseen.labels,
    p.ctx.seen,
    p.ctx.unseen,
  );
}
