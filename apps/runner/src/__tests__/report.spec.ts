/**
 * `niwt report` end to end: a real tiny run and a tiny sweep, their HTML reports rendered in headless
 * Chromium (Debian's chromium, installed by scripts/chromium.sh) over the DevTools Protocol: charts and
 * images present and decoded, no console errors, nothing external; screenshots saved under .reports/.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { TrackingError, UsageError, silentLogger } from '@niwt/core';
import { listLocalRuns, readLocalRun } from '@niwt/tracking';
import { report } from '../cli.js';
import { registerReportCommands } from '../commands/report.js';
import { composeExperiment } from '../compose.js';
import { runExperiment, type RunResult } from '../pipeline.js';
import { runSweep, type SweepResult } from '../sweep.js';
import { signedPoints } from '../sweep-summary.js';
import { checkPageInChromium } from '../report/chromium.js';
import { placeTags } from '../report/svg.js';
import { REPO, commandCli, tempDir } from './helpers.js';

const BASE = `experiment: report-test
seed: 5
dataset: { name: shapes, imagesPerClass: 16, seenClasses: 8, unseenClasses: 4 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 60 }]
`;
const SWEEP = `${BASE}sweep:\n  methods.0.lambda: [0, 1.0e-3]\n`;

/** Runs `niwt report …` through its registration (as cli.ts will), capturing stdout. */
async function reportCli(args: string[]): Promise<string> {
  const r = await commandCli(registerReportCommands, args);
  if (r.error) throw r.error;
  return r.stdout;
}

interface ReportJson {
  runId: string;
  kind: string;
  artifact: string;
  out: string | null;
  rows: number;
  perClassCharts: number;
  images: number;
  missing: string[];
}

const pct = (v: number): string => (100 * v).toFixed(1);

describe('niwt report', () => {
  let dir: string;
  let mlruns: string;
  let chromium: string;
  let run: RunResult;
  let sweep: SweepResult;

  beforeAll(async () => {
    chromium =
      execFileSync('bash', [path.join(REPO, 'scripts/chromium.sh')], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop() ?? '';
    dir = tempDir('report');
    mlruns = path.join(dir, 'mlruns');
    const overrides = [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${mlruns}`];
    const exp = await composeExperiment('tiny.yaml', { inlineText: BASE, cwd: dir, overrides, logger: silentLogger });
    run = await runExperiment(exp, silentLogger);
    sweep = await runSweep('tiny-sweep.yaml', { inlineText: SWEEP, cwd: dir, overrides, logger: silentLogger });
  }, 900_000);

  it(
    'reports a run: config, results, per-class bars, trade-off, Grad-CAM and textual explanations, rendered ' +
      'without errors',
    async () => {
      const json = JSON.parse(await reportCli(['report', run.runId, '--mlruns', mlruns, '--json'])) as ReportJson;
      const child = await readLocalRun(path.join(path.dirname(run.location), run.methods[0].runId));
      const pngs = child.artifacts.filter((a) => a.startsWith('explanations/gradcam/') && a.endsWith('.png'));
      expect(pngs.length).toBeGreaterThan(0);
      expect(json).toMatchObject({
        runId: run.runId,
        kind: 'run',
        rows: 1,
        perClassCharts: 1,
        images: pngs.length,
        missing: [],
      });
      expect(json.artifact).toBe(path.join(run.location, 'artifacts', 'report', 'report.html'));
      expect((await readLocalRun(run.location)).artifacts).toContain('report/report.html');

      const html = await fs.readFile(json.artifact, 'utf8');
      const m = run.methods[0];
      expect(html).toContain('imagesPerClass: 16');
      expect(html).toContain(
        `<td class="l">niwt</td><td>${pct(m.s)}</td><td>${pct(m.u)}</td><td>${pct(m.H)}</td><td>${pct(m.zslT1)}</td>`,
      );
      const textual = JSON.parse(
        await fs.readFile(path.join(child.dir, 'artifacts', 'explanations', 'textual.json'), 'utf8'),
      ) as { perClass: { class: string }[] };
      for (const c of textual.perClass) expect(html).toContain(`<td class="l">${c.class}</td>`);
      // calibrated stacking: one seen-unseen curve per method in one chart, AUSUC in the legend, the chosen γ marked
      expect(m.calibration?.chosen).toBeDefined();
      expect(html.match(/<polyline class="line su"/g)).toHaveLength(1);
      expect(html).toContain(`niwt (AUSUC ${pct(m.calibration!.ausuc)})`);
      expect(html.match(/<circle class="chosen"/g)).toHaveLength(1);

      const screenshot = path.join(REPO, '.reports', 'report-run.png');
      const page = await checkPageInChromium(json.artifact, { chromium, screenshot });
      expect(page.consoleErrors).toEqual([]);
      expect(page.externalRefs).toEqual([]);
      expect(page.sections).toEqual(
        expect.arrayContaining(['summary', 'config', 'table', 'curves', 'per-class', 'gradcam', 'textual']),
      );
      expect(page.bars).toBe(12); // 8 seen + 4 unseen classes
      expect(page.points).toBe(1); // one method in the trade-off scatter
      expect(page.charts).toBeGreaterThanOrEqual(2);
      expect(page.svgs).toBe(page.charts);
      expect(page.images).toBe(pngs.length);
      expect(page.imagesLoaded).toBe(pngs.length);
      const png = await fs.readFile(screenshot);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(1280); // IHDR width
    },
    180_000,
  );

  it(
    'reports a sweep: sorted table of every point, λ curve, trade-off scatter and the best point’s ' + 'explanations',
    async () => {
      const out = path.join(dir, 'sweep-report.html');
      const json = JSON.parse(
        await reportCli(['report', sweep.sweepRunId, '--mlruns', `file:${mlruns}`, '--out', out, '--json']),
      ) as ReportJson;
      expect(json).toMatchObject({ kind: 'sweep', rows: 2, perClassCharts: 1, out, missing: [] });
      expect(json.images).toBeGreaterThan(0);
      const html = await fs.readFile(out, 'utf8');
      expect(html).toBe(await fs.readFile(json.artifact, 'utf8'));
      const rows = [
        ...html.matchAll(
          new RegExp(
            String.raw`<tr(?: class="best")?><td class="l">([^<]*)<\/td><td ` +
              String.raw`class="l">niwt<\/td><td>([\d.]+)<\/td><td>([\d.]+)<\/td><td>([\d.]+)<\/td>`,
            'g',
          ),
        ),
      ].map((r) => ({ lambda: r[1], H: r[4] }));
      expect(rows).toEqual(
        sweep.rows.map((r) => ({ lambda: r.assignment['methods.0.lambda'] === 0 ? '0' : '1e-3', H: pct(r.H) })),
      );

      const page = await checkPageInChromium(out, {
        chromium,
        screenshot: path.join(REPO, '.reports', 'report-sweep.png'),
      });
      expect(page.consoleErrors).toEqual([]);
      expect(page.externalRefs).toEqual([]);
      expect(page.points).toBe(2);
      // each point labelled with its setting, the best marked, no two labels on top of each other
      const bestH = Math.max(...sweep.rows.map((r) => r.H));
      const labels = sweep.rows.map(
        (r) => `lambda=${r.assignment['methods.0.lambda'] === 0 ? '0' : '1e-3'}${r.H === bestH ? ' (best)' : ''}`,
      );
      const sameSpot =
        Math.abs(sweep.rows[0].s - sweep.rows[1].s) < 1e-9 && Math.abs(sweep.rows[0].u - sweep.rows[1].u) < 1e-9;
      expect([...page.pointLabels].sort()).toEqual(sameSpot ? [labels.join('; ')] : [...labels].sort());
      expect(page.labelOverlaps).toBe(0);
      expect(page.bestMarks).toBe(sweep.rows.filter((r) => r.H === bestH).length);
      expect(page.lines).toBe(3); // s, u and H against λ
      expect(page.bars).toBe(12);
      expect(page.imagesLoaded).toBe(json.images);
      expect(page.sections).toEqual(
        expect.arrayContaining(['config', 'table', 'curves', 'per-class', 'gradcam', 'textual']),
      );
    },
    180_000,
  );

  it(
    'reports a rerun sweep whose points were all skipped (run by the first sweep) with the best point’s ' +
      'explanations',
    async () => {
      const overrides = [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${mlruns}`];
      const again = await runSweep('tiny-sweep.yaml', { inlineText: SWEEP, cwd: dir, overrides, logger: silentLogger });
      expect(again.skipped).toBe(2);
      expect(again.sweepRunId).toBe(sweep.sweepRunId); // one sweep, one parent: the rerun attaches to it
      expect(again.reattached).toBe(true);
      const json = JSON.parse(
        await reportCli(['report', again.sweepRunId, '--mlruns', mlruns, '--json']),
      ) as ReportJson;
      const first = JSON.parse(
        await reportCli(['report', sweep.sweepRunId, '--mlruns', mlruns, '--json']),
      ) as ReportJson;
      expect(json).toMatchObject({ kind: 'sweep', rows: 2, perClassCharts: 1, missing: [], images: first.images });
      expect(json.images).toBeGreaterThan(0);
    },
    180_000,
  );

  it(
    'reports a sweep with a seed axis: rows are means ± sd over the seeds, a per-seed table, error bars on the ' +
      'λ curve',
    async () => {
      const overrides = [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${mlruns}`];
      const seeds = await runSweep('tiny-seeds.yaml', {
        inlineText: `${BASE}sweep:\n  methods.0.lambda: [0, 1.0e-3]\n  seed: [6, 8]\n`,
        cwd: dir,
        overrides,
        logger: silentLogger,
      });
      const json = JSON.parse(
        await reportCli(['report', seeds.sweepRunId, '--mlruns', mlruns, '--json']),
      ) as ReportJson;
      expect(json).toMatchObject({ kind: 'sweep', rows: 2, perClassCharts: 1, missing: [] });
      const html = await fs.readFile(json.artifact, 'utf8');
      for (const r of seeds.rows) {
        const l = r.assignment['methods.0.lambda'] === 0 ? '0' : '1e-3';
        const cells = (['s', 'u', 'H', 'zslT1'] as const)
          .map((f) => `<td>${pct(r[f])} ± ${pct(r.sd![f])}</td>`)
          .join('');
        expect(html).toContain(`<td class="l">${l}</td><td class="l">niwt</td><td>2</td>${cells}`);
      }
      const perSeed = html.slice(html.indexOf('id="per-seed-results"')).split('</table>')[0];
      expect([...perSeed.matchAll(/<tr(?: class="best")?><td class="l">/g)]).toHaveLength(4);
      // one error bar per (λ, curve) whose sd over the two seeds is not zero
      const bars = seeds.rows.flatMap((r) => (['s', 'u', 'H'] as const).filter((f) => r.sd![f] > 0)).length;
      expect(bars).toBeGreaterThan(0);
      expect([...html.matchAll(/class="err"/g)]).toHaveLength(bars);

      const page = await checkPageInChromium(json.artifact, { chromium });
      expect(page.consoleErrors).toEqual([]);
      expect(page.externalRefs).toEqual([]);
      expect(page.sections).toEqual(expect.arrayContaining(['table', 'paired', 'per-seed', 'curves']));
      // the paired table: λ = 1e-3 minus λ = 0 on each seed
      const at = (l: number, seed: number) =>
        seeds.perPoint.find((p) => p.assignment['methods.0.lambda'] === l && p.assignment.seed === seed)!;
      const du = [6, 8].map((sd) => at(0.001, sd).u - at(0, sd).u);
      const paired = html.slice(html.indexOf('id="paired-results"')).split('</table>')[0];
      expect(paired).toContain(`<td class="l">1e-3</td><td class="l">niwt</td><td>2</td>`);
      expect(paired).toContain(`[${signedPoints(Math.min(...du))}, ${signedPoints(Math.max(...du))}]`);
      expect(page.lines).toBe(3); // s, u and H against λ, not against the seed
      expect(page.points).toBe(2); // the trade-off scatter shows the two means
    },
    180_000,
  );

  it('refuses unknown runs with a one-line user error (exit 2), without touching the store', async () => {
    const before = (await listLocalRuns(mlruns)).length;
    const missing = reportCli(['report', 'f'.repeat(32), '--mlruns', mlruns]);
    await expect(missing).rejects.toBeInstanceOf(TrackingError);
    await expect(missing).rejects.toThrow(/not found in/);
    await expect(reportCli(['report', path.join(dir, 'nope')])).rejects.toThrow(/neither a run id/);
    await expect(reportCli(['report', run.runId, '--mlruns', mlruns, '--no-artifact'])).rejects.toBeInstanceOf(
      UsageError,
    );
    const e = await missing.catch((x: unknown) => x);
    const err = process.stderr.write.bind(process.stderr);
    process.stderr.write = (() => true) as typeof process.stderr.write;
    try {
      expect(report(e, false)).toBe(2);
    } finally {
      process.stderr.write = err;
    }
    expect((await listLocalRuns(mlruns)).length).toBe(before);
  });
});

describe('sweep scatter labels', () => {
  it('places labels of crowded points without overlap, and merges labels of points at the same spot', () => {
    const pts = [0, 1, 2, 3, 4, 5].map((i) => ({ x: 200 + i * 2, y: 200 + (i % 2) * 3, tag: `lambda=${i}` }));
    const placed = placeTags([...pts, { x: 200, y: 200, tag: 'lambda=dup' }]);
    expect(placed.map((p) => p.text)).toEqual([
      'lambda=0; lambda=dup',
      'lambda=1',
      'lambda=2',
      'lambda=3',
      'lambda=4',
      'lambda=5',
    ]);
    for (let i = 0; i < placed.length; i++)
      for (let j = i + 1; j < placed.length; j++) {
        const [a, b] = [placed[i].box, placed[j].box];
        expect(
          a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h,
          `${placed[i].text} / ${placed[j].text}`,
        ).toBe(false);
      }
  });
});
