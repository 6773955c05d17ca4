/** FusedAdam (JS-memory Adam, WebAssembly SIMD kernel) against the core tensor Adam. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '@niwt/core';
import { Adam, FusedAdam, initBackend, variableFrom } from '../index.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let err = 0;
  for (let i = 0; i < b.length; i++) err = Math.max(err, Math.abs(a[i] - b[i]));
  return err;
}

describe('FusedAdam', () => {
  const sizes = [37, 3, 64, 1];
  const problem = (): { init: Float32Array[]; grads: Float32Array[][] } => {
    const rng = new Rng(5);
    const init = sizes.map((n) => Float32Array.from({ length: n }, () => rng.normal()));
    // Gradients over five orders of magnitude: where |g| is near ε, where ε sits (inside or outside the root) shows.
    const grads = Array.from({ length: 6 }, () =>
      sizes.map((n) => Float32Array.from({ length: n }, (_, i) => rng.normal() * 10 ** -(i % 6))),
    );
    return { init, grads };
  };

  it('equals the core Adam (with the λ·½‖θ‖² gradient) over several steps, odd sizes included', () => {
    const lambda = 0.1;
    const { init, grads } = problem();
    const fused = new FusedAdam(init, { lr: 0.01, l2: lambda });
    const vars = init.map((p) => variableFrom(p, [p.length]));
    const core = new Adam(vars, { lr: 0.01 });
    for (const g of grads) {
      // The loss Σ gᵀθ + λ·½‖θ‖² has gradient g + λθ.
      core.step(() =>
        tf.tidy(
          () =>
            tf.addN(
              vars.map((v, k) =>
                tf.add(tf.sum(tf.mul(v, tf.tensor1d(g[k]))), tf.mul(lambda / 2, tf.sum(tf.square(v)))),
              ),
            ) as tf.Scalar,
        ),
      );
      const sq = fused.step(g);
      expect(sq).toBeCloseTo(fused.sumSquares(), 4);
    }
    let moved = 0;
    for (let k = 0; k < sizes.length; k++) {
      const expected = vars[k].dataSync();
      expect(maxAbsDiff(fused.params[k], expected)).toBeLessThan(1e-6);
      moved = Math.max(moved, maxAbsDiff(expected, init[k]));
    }
    expect(moved).toBeGreaterThan(0.03);
    core.dispose();
    tf.dispose(vars);
  });

  it('streamed per parameter (beginStep + update, any order) is bit-identical to core Adam.applyGradients', () => {
    const { init, grads } = problem();
    const fused = new FusedAdam(init, { lr: 0.01 });
    const vars = init.map((p) => variableFrom(p, [p.length]));
    const core = new Adam(vars, { lr: 0.01 });
    for (const g of grads) {
      const gt = g.map((x) => tf.tensor1d(x));
      core.applyGradients(gt);
      tf.dispose(gt);
      fused.beginStep();
      for (const k of [2, 0, 3, 1]) fused.update(k, g[k]);
    }
    for (let k = 0; k < sizes.length; k++) expect(Array.from(fused.params[k])).toEqual(Array.from(vars[k].dataSync()));
    expect(maxAbsDiff(fused.params[0], init[0])).toBeGreaterThan(0.03);
    core.dispose();
    tf.dispose(vars);
  });

  it('rejects gradients of the wrong shape and an update outside a step', () => {
    const fused = new FusedAdam([new Float32Array(5)], { lr: 0.1 });
    expect(() => fused.update(0, new Float32Array(5))).toThrow(/update\(\) before beginStep\(\)/);
    expect(() => fused.step([new Float32Array(4)])).toThrow(/gradient 0 has 4 values, parameter 0 has 5/);
    expect(() => fused.step([])).toThrow(/0 gradients for 1 parameters/);
  });
});
