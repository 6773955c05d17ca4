/**
 * The λ ablation on the synthetic data: λ is the seen/unseen calibration knob. Asserted shape: H peaks at an
 * interior λ (better than λ = 0), and the largest λ stops unseen learning.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { runSweep } from '../sweep.js';
import { tempDir } from './helpers.js';

const CONFIG = `experiment: lambda-test
seed: 11
dataset: { name: shapes, imagesPerClass: 40, seenClasses: 16, unseenClasses: 8 }
backbone: { name: small-cnn, train: { epochs: 14 } }
methods: [{ name: niwt, lr: 1.0e-2 }]
explain: { enabled: false }
sweep:
  methods.0.lambda: [0, 1.0e-5, 1.0e-4, 1.0e-3, 1.0e-2]
`;

describe('λ ablation (niwt sweep)', () => {
  it('H is best at an interior λ and the largest λ hurts unseen learning; one plot, one best config', async () => {
    const dir = tempDir('lambda');
    const r = await runSweep('lambda.yaml', {
      inlineText: CONFIG,
      cwd: dir,
      overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
      logger: silentLogger,
    });
    const at = (l: number) => r.rows.find((row) => row.assignment['methods.0.lambda'] === l)!;
    expect(r.rows).toHaveLength(5);
    const best = r.best;
    expect(best.assignment['methods.0.lambda']).not.toBe(0);
    expect(best.H).toBeGreaterThan(at(0).H);
    expect(at(1e-2).u).toBeLessThan(at(0).u / 4);
    expect(r.plot).toBeDefined();
  }, 900_000);
});
