/**
 * Sweep summaries: the `seed` axis as replicates (means and sample sds against hand computation), the table,
 * the best row and config, the plot's error bars; and a real sweep over λ × two seeds end to end.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { linePlotSvg } from '../plot.js';
import { runSweep } from '../sweep.js';
import { summarizeSweep, sweepTable, writeSweepArtifacts, type PointResult } from '../sweep-summary.js';
import { tempDir } from './helpers.js';

const m = (s: number, u: number, label = 'niwt') => ({ label, s, u, H: (2 * s * u) / (s + u), zslT1: u + 0.1 });

// λ × seed, as `sweep: { methods.0.lambda: [0, 0.001], seed: [1, 2, 3] }` expands it (first key slowest)
const POINTS: PointResult[] = [
  { assignment: { 'methods.0.lambda': 0, seed: 1 }, methods: [m(0.3, 0.5)] },
  { assignment: { 'methods.0.lambda': 0, seed: 2 }, methods: [m(0.2, 0.6)] },
  { assignment: { 'methods.0.lambda': 0, seed: 3 }, methods: [m(0.1, 0.7)] },
  { assignment: { 'methods.0.lambda': 0.001, seed: 1 }, methods: [m(0.4, 0.4)] },
  { assignment: { 'methods.0.lambda': 0.001, seed: 2 }, methods: [m(0.5, 0.3)] },
  { assignment: { 'methods.0.lambda': 0.001, seed: 3 }, methods: [m(0.6, 0.5)] },
];

describe('sweep summary', () => {
  it('averages over the seed axis: means and sample sds by hand, sorted by the mean metric, best = best mean', () => {
    const sum = summarizeSweep(['methods.0.lambda', 'seed'], POINTS, 'H');
    expect(sum.keys).toEqual(['methods.0.lambda']);
    expect(sum.seeds).toEqual([1, 2, 3]);
    expect(sum.rows).toHaveLength(2);
    expect(sum.perPoint).toHaveLength(6);
    const at = (l: number) => sum.rows.find((r) => r.assignment['methods.0.lambda'] === l)!;
    // λ = 0: s = 0.3, 0.2, 0.1 → mean 0.2, sd √((0.01 + 0 + 0.01)/2) = 0.1; u = 0.5, 0.6, 0.7 → 0.6, 0.1
    expect(at(0).n).toBe(3);
    expect(at(0).s).toBeCloseTo(0.2, 12);
    expect(at(0).sd!.s).toBeCloseTo(0.1, 12);
    expect(at(0).u).toBeCloseTo(0.6, 12);
    expect(at(0).sd!.u).toBeCloseTo(0.1, 12);
    // H is averaged per seed (not the H of the means): H = 0.375, 0.3, 0.175 → 0.283333…
    expect(at(0).H).toBeCloseTo((0.375 + 0.3 + 0.175) / 3, 12);
    // λ = 1e-3: s = 0.4, 0.5, 0.6 → 0.5, sd 0.1; u = 0.4, 0.3, 0.5 → 0.4, sd 0.1; H = 0.4, 0.375, 0.545454…
    expect(at(0.001).s).toBeCloseTo(0.5, 12);
    expect(at(0.001).u).toBeCloseTo(0.4, 12);
    const h = [0.4, 0.375, 0.6 / 1.1];
    const hMean = (h[0] + h[1] + h[2]) / 3;
    expect(at(0.001).H).toBeCloseTo(hMean, 12);
    expect(at(0.001).sd!.H).toBeCloseTo(Math.sqrt(h.reduce((a, x) => a + (x - hMean) ** 2, 0) / 2), 12);
    expect(sum.best.assignment).toEqual({ 'methods.0.lambda': 0.001 });
    expect(sum.bestIndex).toBe(3); // the best setting's first seed
    // by u instead, λ = 0 wins
    expect(summarizeSweep(['methods.0.lambda', 'seed'], POINTS, 'u').best.assignment).toEqual({
      'methods.0.lambda': 0,
    });
  });

  it('pairs each setting with the first one seed by seed: mean, sd, min and max of the differences by hand', () => {
    const sum = summarizeSweep(['methods.0.lambda', 'seed'], POINTS, 'H');
    expect(sum.paired).toHaveLength(1);
    const p = sum.paired[0];
    expect(p.assignment).toEqual({ 'methods.0.lambda': 0.001 });
    expect(p.pairs).toBe(3);
    // u: (0.4 − 0.5, 0.3 − 0.6, 0.5 − 0.7) = (−0.1, −0.3, −0.2): mean −0.2, sd 0.1, min −0.3, max −0.1
    expect(p.diff.u.mean).toBeCloseTo(-0.2, 12);
    expect(p.diff.u.sd).toBeCloseTo(0.1, 12);
    expect(p.diff.u.min).toBeCloseTo(-0.3, 12);
    expect(p.diff.u.max).toBeCloseTo(-0.1, 12);
    // s: (+0.1, +0.3, +0.5): mean +0.3, sd 0.2
    expect(p.diff.s.mean).toBeCloseTo(0.3, 12);
    expect(p.diff.s.sd).toBeCloseTo(0.2, 12);
    expect(sum.table).toContain(
      'Paired by seed, against methods.0.lambda=0 (difference in points: mean ± sd [min, max]):',
    );
    expect(sum.table).toMatch(
      /\|\s+1e-3 \|\s+niwt \|\s+3 \| \+30\.0 ± 20\.0 \[\+10\.0, \+50\.0\] \| −20\.0 ± 10\.0 \[−30\.0, −10\.0\] \|/,
    );
    // a seed missing from the baseline is left out of the pairs
    const partial = summarizeSweep(
      ['methods.0.lambda', 'seed'],
      POINTS.filter((_, i) => i !== 0),
      'H',
    );
    expect(partial.paired[0].pairs).toBe(2);
    expect(partial.paired[0].diff.u.mean).toBeCloseTo(-0.25, 12);
    // no seed axis, no pairs
    expect(
      summarizeSweep(
        ['methods.0.lambda'],
        [POINTS[0], { ...POINTS[3], assignment: { 'methods.0.lambda': 0.001 } }],
        'H',
      ).paired,
    ).toEqual([]);
  });

  it('prints mean ± sd with a seeds column, then the per-seed table; without a seed axis rows are the points', () => {
    const sum = summarizeSweep(['methods.0.lambda', 'seed'], POINTS, 'H');
    const lines = sum.table.split('\n');
    expect(lines[0]).toMatch(/\| methods\.0\.lambda \| method \| seeds \|\s+s \|\s+u \|\s+H \|\s+ZSL T1 \|/);
    expect(lines[2]).toMatch(/^\|\s+1e-3 \|\s+niwt \|\s+3 \| 50\.0 ± 10\.0 \| 40\.0 ± 10\.0 \|\s+44\.0 ± /);
    expect(lines[3]).toMatch(/^\|\s+0 \|\s+niwt \|\s+3 \| 20\.0 ± 10\.0 \| 60\.0 ± 10\.0 \|\s+28\.3 ± /);
    expect(sum.table).toContain('Per seed:');
    expect(sum.table).toMatch(/\| methods\.0\.lambda \| seed \| method \|/);

    const plain = summarizeSweep(
      ['methods.0.lambda'],
      [POINTS[0], { ...POINTS[3], assignment: { 'methods.0.lambda': 0.001 } }],
      'H',
    );
    expect(plain.rows).toEqual(plain.perPoint);
    expect(plain.rows.every((r) => r.n === 1 && r.sd === undefined)).toBe(true);
    expect(plain.table).not.toContain('±');
    expect(plain.table).not.toContain('seeds');
    expect(sweepTable(plain.rows, plain.keys).split('\n')).toHaveLength(4);
  });

  it('groups per method, and a seed missing for one setting gives that row a smaller n', () => {
    const pts: PointResult[] = [
      { assignment: { x: 'a', seed: 1 }, methods: [m(0.5, 0.5), m(0.2, 0.2, 'ale')] },
      { assignment: { x: 'a', seed: 2 }, methods: [m(0.7, 0.5), m(0.4, 0.2, 'ale')] },
      { assignment: { x: 'b', seed: 1 }, methods: [m(0.1, 0.1), m(0.3, 0.3, 'ale')] },
    ];
    const sum = summarizeSweep(['x', 'seed'], pts, 's');
    expect(sum.rows.map((r) => [r.assignment.x, r.method, r.n, Number(r.s.toFixed(6))])).toEqual([
      ['a', 'niwt', 2, 0.6],
      ['a', 'ale', 2, 0.3],
      ['b', 'ale', 1, 0.3],
      ['b', 'niwt', 1, 0.1],
    ]);
    expect(sum.rows.find((r) => r.n === 1)!.sd).toBeUndefined();
  });

  it('writes best.yaml (noting the seeds), table.md, results.json and a plot with ± sd error bars', async () => {
    const dir = tempDir('sweep-summary');
    const sum = summarizeSweep(['methods.0.lambda', 'seed'], POINTS, 'H');
    const plot = await writeSweepArtifacts(dir, {
      summary: sum,
      metric: 'H',
      points: POINTS.map((p) => p.assignment),
      resolved: POINTS.map((p, i) => ({ seed: p.assignment.seed, index: i })),
      results: POINTS,
    });
    expect(plot).toBe(path.join(dir, 'sweep.png'));
    expect((await fs.readFile(plot!)).subarray(1, 4).toString()).toBe('PNG');
    const best = await fs.readFile(path.join(dir, 'best.yaml'), 'utf8');
    expect(best.split('\n')[0]).toBe('# best by the mean H over seeds 1, 2, 3; this config is the run with seed 1');
    expect(best).toContain('index: 3');
    expect(await fs.readFile(path.join(dir, 'table.md'), 'utf8')).toBe(`${sum.table}\n`);
    expect(JSON.parse(await fs.readFile(path.join(dir, 'results.json'), 'utf8'))).toHaveLength(6);

    // error bars: one vertical segment with caps per series and x, of half-length sd
    const svg = linePlotSvg({
      title: 't vs x',
      xLabels: ['0', '1'],
      yLabel: '%',
      series: [{ name: 'u', colour: '#d62728', ys: [60, 40], errs: [10, 0] }],
    });
    const bars = [...svg.matchAll(/<path d="M([\d.]+),([\d.]+)V([\d.]+)/g)];
    expect(bars).toHaveLength(1); // sd 0 draws no bar
    const [lo, hi] = [Number(bars[0][2]), Number(bars[0][3])];
    // plot height 400 − 40 − 50 = 310 px for 100 %: ± 10 points = 31 px each way
    expect(lo - hi).toBeCloseTo(62, 6);
  });

  it(
    'a real sweep over λ × two seeds: one network per seed, rows are means over both, the per-point rows are ' +
      'the runs',
    async () => {
      const dir = tempDir('sweep-seeds');
      const r = await runSweep('seeds.yaml', {
        inlineText: `experiment: sweep-seeds
seed: 5
dataset: { name: shapes, imagesPerClass: 16, seenClasses: 8, unseenClasses: 4 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 60 }]
explain: { enabled: false }
sweep:
  methods.0.lambda: [0, 1.0e-2]
  seed: [5, 6]
`,
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
        logger: silentLogger,
      });
      expect(r.keys).toEqual(['methods.0.lambda']);
      expect(r.perPoint).toHaveLength(4);
      expect(r.rows).toHaveLength(2);
      // each seed trains its own network (the first point of each seed), the other λ reuses it
      expect(r.points.map((p) => [p.assignment.seed, p.seenNetworkCached])).toEqual([
        [5, false],
        [6, false],
        [5, true],
        [6, true],
      ]);
      for (const row of r.rows) {
        const runs = r.perPoint.filter((p) => p.assignment['methods.0.lambda'] === row.assignment['methods.0.lambda']);
        expect(runs).toHaveLength(2);
        expect(row.n).toBe(2);
        expect(row.u).toBeCloseTo((runs[0].u + runs[1].u) / 2, 12);
        expect(row.sd!.u).toBeCloseTo(Math.abs(runs[0].u - runs[1].u) / Math.SQRT2, 12);
      }
      expect(new Set(r.points.map((p) => p.runId)).size).toBe(4);
      expect(r.table).toContain('Per seed:');
      expect(r.plot).toBeDefined();
    },
    600_000,
  );
});
