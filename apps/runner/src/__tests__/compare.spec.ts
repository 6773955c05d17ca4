/**
 * NIWT, ALE and DEM compared end to end on a small synthetic configuration: one seen network and one set of
 * activations, every method above chance, one parent MLflow run with a nested child run per method.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { resultsTable, runExperiment, type RunResult } from '../pipeline.js';
import { tempDir } from './helpers.js';

const CONFIG = `experiment: compare-test
seed: 11
dataset: { name: shapes, imagesPerClass: 40, seenClasses: 16, unseenClasses: 8 }
backbone: { name: small-cnn, train: { epochs: 12 } }
methods:
  - { name: niwt }
  - { name: ale, maxEpochs: 30 }
  - { name: dem, epochs: 60 }
  - { name: eszsl }
  - { name: sae }
`;

/** Above chance by this much (absolute ZSL T1): 1/8 = 12.5 % chance, so each method needs ≥ 22.5 %. */
const MARGIN = 0.1;

describe('NIWT vs ALE vs DEM vs ESZSL vs SAE on synthetic shapes', () => {
  let result: RunResult;
  let dir: string;

  it(
    'runs all five methods on the same activations, each above chance by ≥ 10 points, with calibrated H and ' + 'AUSUC',
    async () => {
      dir = tempDir('compare');
      const exp = await composeExperiment('test.yaml', {
        inlineText: CONFIG,
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
        logger: silentLogger,
      });
      result = await runExperiment(exp, silentLogger);
      expect(result.methods.map((m) => m.method)).toEqual(['niwt', 'ale', 'dem', 'eszsl', 'sae']);
      for (const m of result.methods) {
        expect(m.zslT1, `${m.label} ZSL T1`).toBeGreaterThanOrEqual(result.chanceZsl + MARGIN);
        expect(m.s, `${m.label} s`).toBeGreaterThan(0);
        expect(m.fitSeconds).toBeGreaterThan(0);
        // AUSUC bounds: at most s(γ→−∞)·T1, and the uncalibrated point lies on the curve
        const c = m.calibration!;
        expect(c.ausuc).toBeGreaterThan(0);
        expect(c.ausuc).toBeLessThanOrEqual(c.curve[0].s * m.zslT1 + 1e-9);
        expect(c.chosen!.H).toBeGreaterThanOrEqual(0);
      }
      const table = resultsTable(result);
      expect(table.split('\n')[0]).toMatch(
        /^\| method +\| +s \| +u \| +H \| cal\. s \| cal\. u \| cal\. H \| AUSUC \| ZSL T1 \| +fit \|$/,
      );
      for (const m of result.methods) {
        const c = m.calibration!;
        const row = [m.label, m.s, m.u, m.H, c.chosen!.s, c.chosen!.u, c.chosen!.H, c.ausuc, m.zslT1].map((v) =>
          typeof v === 'string' ? v : (100 * v).toFixed(1),
        );
        expect(table).toMatch(new RegExp(`^\\| ${row.map((v) => `${v} +`).join('\\| +')}\\|`, 'm'));
      }
    },
    900_000,
  );

  it('logs one parent MLflow run with one nested child run per method', () => {
    const root = path.join(dir, 'mlruns');
    const experiments = readdirSync(root).filter((e) => existsSync(path.join(root, e, 'meta.yaml')) && e !== '0');
    const runs = experiments.flatMap((e) =>
      readdirSync(path.join(root, e))
        .filter((r) => existsSync(path.join(root, e, r, 'meta.yaml')))
        .map((r) => path.join(root, e, r)),
    );
    const parentOf = (run: string): string | undefined => {
      const f = path.join(run, 'tags', 'mlflow.parentRunId');
      return existsSync(f) ? readFileSync(f, 'utf8').trim() : undefined;
    };
    const parents = runs.filter((r) => parentOf(r) === undefined);
    expect(parents.map((r) => path.basename(r))).toEqual([result.runId]);
    const children = runs.filter((r) => parentOf(r) === result.runId);
    const methodOf = (r: string): string => readFileSync(path.join(r, 'tags', 'niwt.method'), 'utf8').trim();
    expect(children.map(methodOf).sort()).toEqual(['ale', 'dem', 'eszsl', 'niwt', 'sae']);
    expect(children.map((r) => path.basename(r)).sort()).toEqual(result.methods.map((m) => m.runId).sort());
    for (const child of children)
      for (const metric of ['s', 'u', 'H', 'zsl_t1', 'fit_seconds', 'ausuc', 'cal_gamma', 'cal_s', 'cal_u', 'cal_H'])
        expect(existsSync(path.join(child, 'metrics', metric))).toBe(true);
  });
});
