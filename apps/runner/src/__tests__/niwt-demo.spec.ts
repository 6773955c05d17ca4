/**
 * NIWT end to end on a smaller synthetic configuration: it must beat chance clearly, the knowledge-
 * permutation control must fall to chance, and the same seed must give identical metrics.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { runExperiment, type RunResult } from '../pipeline.js';
import { tempDir } from './helpers.js';

const CONFIG = `experiment: niwt-demo-test
seed: 11
dataset: { name: shapes, imagesPerClass: 40, seenClasses: 16, unseenClasses: 8 }
backbone: { name: small-cnn, train: { epochs: 14 } }
methods:
  - { name: niwt }
  - { name: niwt, label: control, control: permute-unseen-knowledge }
`;

async function run(dir: string): Promise<RunResult> {
  const exp = await composeExperiment('test.yaml', {
    inlineText: CONFIG,
    cwd: dir,
    overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
    logger: silentLogger,
  });
  return runExperiment(exp, silentLogger);
}

describe('NIWT on synthetic shapes', () => {
  let first: RunResult;

  it('classifies unseen classes at ≥ 2× chance with H clearly above zero', async () => {
    first = await run(tempDir('demo-a'));
    const niwt = first.methods.find((m) => m.label === 'niwt')!;
    expect(first.chanceZsl).toBeCloseTo(1 / 8, 10);
    expect(niwt.zslT1).toBeGreaterThanOrEqual(2 * first.chanceZsl);
    expect(niwt.H).toBeGreaterThan(0.1);
    expect(niwt.u).toBeGreaterThan(0.05);
    expect(niwt.s).toBeGreaterThan(0.3);
  }, 600_000);

  it(
    'explains every unseen class (textual) and a correct and a wrong decision per class (Grad-CAM PNGs as ' +
      'artifacts)',
    () => {
      const niwt = first.methods.find((m) => m.label === 'niwt')!;
      const ex = niwt.explanations!;
      expect(ex.perClass).toHaveLength(8);
      for (const c of ex.perClass) {
        expect(c.top).toHaveLength(5);
        expect(c.images).toBeGreaterThan(0);
      }
      expect(ex.decisions.length).toBeGreaterThanOrEqual(8);
      const dir = path.join(path.dirname(first.location), niwt.runId, 'artifacts', 'explanations');
      for (const d of ex.decisions) {
        const png = readFileSync(path.join(dir, d.png));
        expect(png.subarray(1, 4).toString()).toBe('PNG');
      }
      expect(JSON.parse(readFileSync(path.join(dir, 'textual.json'), 'utf8')).perClass).toHaveLength(8);
      // the control runs are not explained
      expect(first.methods.find((m) => m.label === 'control')!.explanations).toBeUndefined();
    },
  );

  it('falls to chance (± 10 points) when the unseen knowledge rows are permuted', () => {
    const control = first.methods.find((m) => m.label === 'control')!;
    expect(control.permutations).toBe(8);
    expect(Math.abs(control.zslT1 - first.chanceZsl)).toBeLessThanOrEqual(0.1);
    const niwt = first.methods.find((m) => m.label === 'niwt')!;
    expect(niwt.zslT1 - control.zslT1).toBeGreaterThan(0.2);
  });

  it('gives identical metrics for the same seed (fresh caches)', async () => {
    const second = await run(tempDir('demo-b'));
    expect(second.seenNetwork.cached).toBe(false);
    const pick = (r: RunResult) => r.methods.map((m) => [m.label, m.s, m.u, m.H, m.zslT1]);
    expect(pick(second)).toEqual(pick(first));
    expect(second.seenNetwork.testSeenAccuracy).toBe(first.seenNetwork.testSeenAccuracy);
  }, 600_000);
});
