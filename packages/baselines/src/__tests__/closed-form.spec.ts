/**
 * ESZSL and SAE against independent NumPy/SciPy implementations (scripts/closed-form-reference.py, run in the
 * venv of scripts/scipy-venv.sh) on the same features, class split and grid: the chosen hyperparameters and
 * every test score agree (1e-4).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Eszsl,
  Sae,
  dense,
  eszslOptions,
  mul,
  saeOptions,
  solveSylvesterSymmetric,
  symmetricEigen,
  transpose,
} from '../index.js';
import type { Matrix, ZeroShotMethod } from '@niwt/core';
import { evaluate, syntheticProblem } from './fixtures.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const python = (): string =>
  execFileSync(path.join(REPO, 'scripts/scipy-venv.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop()!;
const rows = (m: Matrix): number[][] =>
  Array.from({ length: m.rows }, (_, i) => Array.from(m.data.subarray(i * m.cols, (i + 1) * m.cols)));

function reference(query: object): { chosen: unknown; scores: number[][] } {
  const out = execFileSync(python(), [path.join(REPO, 'scripts/closed-form-reference.py')], {
    input: JSON.stringify(query),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  return JSON.parse(out) as { chosen: unknown; scores: number[][] };
}

async function compare(
  method: ZeroShotMethod,
  name: string,
  grid: unknown[],
  describe: (h: unknown) => string,
  extra: object = {},
): Promise<void> {
  const p = syntheticProblem({ seed: 4, seen: 12, unseen: 4, E: 6, D: 20, perClass: 12 });
  const summary = await method.fit(p.ctx);
  const val = String(summary.val_classes)
    .split(',')
    .map((n) => p.ctx.classNames.indexOf(n));
  const train = p.ctx.seen.filter((c) => !val.includes(c));
  const test = p.testUnseen.features;
  const ref = reference({
    method: name,
    features: rows(p.ctx.trainval.features),
    labels: Array.from(p.ctx.trainval.labels),
    knowledge: rows(p.ctx.knowledge.matrix),
    seen: p.ctx.seen,
    train,
    val,
    grid,
    test: rows(test),
    ...extra,
  });
  const ours = method.scores(test);
  let maxDiff = 0;
  ref.scores.forEach((r, i) =>
    r.forEach(
      (v, c) => (maxDiff = Math.max(maxDiff, Math.abs(v - ours.data[i * ours.cols + c]) / Math.max(1, Math.abs(v)))),
    ),
  );
  expect(maxDiff).toBeLessThan(1e-4);
  // the evaluation works on them and the method learns something (ZSL T1 above chance 1/4)
  expect(evaluate(method, p).zslT1).toBeGreaterThan(0.4);
  expect(summary.selected).toBe(describe(ref.chosen));
}

describe('closed-form baselines vs NumPy/SciPy', () => {
  it('symmetric eigendecomposition and Sylvester solve reproduce their equations', () => {
    const n = 7;
    const b = dense(
      n,
      n,
      Float64Array.from({ length: n * n }, (_, k) => Math.sin(k * 1.7) + Math.cos(k * 0.3)),
    );
    const a = mul(b, b, true); // symmetric PSD
    const { values, vectors } = symmetricEigen(a);
    const back = mul(
      mul(
        vectors,
        dense(
          n,
          n,
          Float64Array.from({ length: n * n }, (_, k) => (k % (n + 1) === 0 ? values[k / (n + 1)] : 0)),
        ),
      ),
      transpose(vectors),
    );
    back.data.forEach((v, k) => expect(v).toBeCloseTo(a.data[k], 9));
    const c = dense(
      n,
      3,
      Float64Array.from({ length: n * 3 }, (_, k) => k - 4),
    );
    const bb = dense(3, 3, Float64Array.from([2, 0.5, 0, 0.5, 3, 0.2, 0, 0.2, 1]));
    const x = solveSylvesterSymmetric(a, bb, c);
    const lhs = mul(a, x);
    const xb = mul(x, bb);
    lhs.data.forEach((v, k) => expect(v + xb.data[k]).toBeCloseTo(c.data[k], 8));
  });

  it('ESZSL: same (γ, λ) and test scores as NumPy on the same split and grid', async () => {
    const gammas = [0.01, 1, 100];
    const lambdas = [0.1, 10];
    const m = new Eszsl(eszslOptions.parse({ gammas, lambdas }));
    await compare(
      m,
      'eszsl',
      gammas.flatMap((gamma) => lambdas.map((lambda) => ({ gamma, lambda }))),
      (h) => {
        const { gamma, lambda } = h as { gamma: number; lambda: number };
        return `gamma_${gamma}_lambda_${lambda}`;
      },
    );
  }, 600_000);

  it('SAE (encoder and decoder): same λ and test scores as SciPy solve_sylvester', async () => {
    const lambdas = [0.1, 1, 10, 100];
    for (const mode of ['encoder', 'decoder'] as const)
      await compare(new Sae(saeOptions.parse({ lambdas, mode })), 'sae', lambdas, (h) => `lambda_${String(h)}`, {
        mode,
      });
  }, 600_000);
});
