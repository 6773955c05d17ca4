import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, matrix } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { KnowledgeExplainer, gradCam } from '../index.js';

await initBackend('cpu');

describe('textual explanations', () => {
  it('recovers the knowledge that produced an importance vector through the map', () => {
    const rng = new Rng(1);
    const E = 6;
    const K = 20;
    const M = matrix(
      E,
      K,
      Float32Array.from({ length: E * K }, () => rng.normal()),
    );
    const b = Float32Array.from({ length: K }, () => 0.1 * rng.normal());
    const names = ['red', 'green', 'blue', 'round', 'square', 'striped'];
    const d = [0, 90, 5, 70, 0, 30];
    const a = new Float32Array(K);
    for (let k = 0; k < K; k++) a[k] = b[k] + d.reduce((s, v, e) => s + v * M.data[e * K + k], 0);
    const norm = Math.hypot(...a);
    const ex = new KnowledgeExplainer({ M, b }, names, norm, 1e-9);
    const top = ex.explain(
      Array.from(a, (v) => v * 3),
      3,
    ); // scale-free: a rescaled importance explains the same
    expect(top.map((t) => t.name)).toEqual(['green', 'round', 'striped']);
    expect(top[0].score).toBeCloseTo(90, 2);
    expect(top[1].score).toBeCloseTo(70, 2);
    expect(top[2].score).toBeCloseTo(30, 2);
  });
});

describe('Grad-CAM', () => {
  it('is ReLU(Σ_k α_k A_k) normalised by its maximum (hand computed on a linear head)', () => {
    // head: h = GAP(A) · P with P = identity (K = D = 2), so α_c = w_c (summed gradient of mean = w/HW·HW)
    const head = {
      tap: { name: 't', shape: [2, 2, 2] as const },
      outDim: 2,
      apply: (a: tf.Tensor4D) => tf.mean(a, [1, 2]) as tf.Tensor2D,
    };
    const A = [1, 0, 2, 1, 0, 3, 1, 1]; // positions (0,0):[1,0] (0,1):[2,1] (1,0):[0,3] (1,1):[1,1]
    const w = tf.tensor2d([1, -1, 0, 0], [2, 2]); // class 0 weights [1, 0]; class 1 weights [-1, 0]... columns
    const { maps, alpha } = tf.tidy(() => gradCam(head, tf.tensor4d(A, [1, 2, 2, 2]), w, tf.tensor1d([0], 'int32')));
    // α = column 0 of w = [1, 0]; cam_ij = (α/HW)·A_ij = A_ij[0]/4 → [1, 2, 0, 1]/4 → normalised by max 0.5
    expect(Array.from(alpha)).toEqual([1, 0]);
    expect(Array.from(maps)).toEqual([0.5, 1, 0, 0.5]);
    w.dispose();
  });
});
