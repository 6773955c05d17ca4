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
  it('H is best at an interior λ and the largest λ hurts unseen learning; activations extracted once; a rerun does nothing new', async () => {
    const dir = tempDir('lambda');
    const sweep = () =>
      runSweep('lambda.yaml', {
        inlineText: CONFIG,
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
        logger: silentLogger,
      });
    const r = await sweep();
    // the seen network is trained and the activations extracted once, for the first point only
    expect(r.points.map((p) => p.activationsCached)).toEqual([false, true, true, true, true]);
    expect(r.points.map((p) => p.seenNetworkCached)).toEqual([false, true, true, true, true]);
    const at = (l: number) => r.rows.find((row) => row.assignment['methods.0.lambda'] === l)!;
    expect(r.rows).toHaveLength(5);
    const best = r.best;
    expect(best.assignment['methods.0.lambda']).not.toBe(0);
    expect(best.H).toBeGreaterThan(at(0).H);
    expect(at(1e-2).u).toBeLessThan(at(0).u / 4);
    expect(r.plot).toBeDefined();
    // rerunning the sweep runs nothing new: every point already finished with the same config hash
    const again = await sweep();
    expect(again.skipped).toBe(5);
    expect(again.rows.map((row) => row.H)).toEqual(r.rows.map((row) => row.H));
  }, 900_000);
});
