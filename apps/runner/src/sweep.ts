/**
 * `niwt sweep`: expands the `sweep:` grid of a config (dotted path → values, Cartesian product) into runs that
 * share the stage cache (the seen network and activations are computed once), nests them under one sweep
 * run, and writes a summary table sorted by a metric, the best config as YAML, and — for a single swept
 * parameter — a plot of s, u and H against it. A `seed` key in the grid is a replicate axis: the summary
 * reports means ± sd over seeds (see sweep-summary.ts).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, hashOf, readConfigSource, validateTopConfig, withoutSecrets, type Logger, type Tracker } from '@niwt/core';
import { composeExperiment } from './compose.js';
import { preflightExperiment } from './preflight.js';
import { runExperiment, type RunResult } from './pipeline.js';
import { fmtSweepValue, summarizeSweep, writeSweepArtifacts, type SweepMetric, type SweepRow } from './sweep-summary.js';
import { findFinishedRun } from './finished.js';
import { lifecycle, ownerTags } from './lifecycle.js';

export interface SweepPoint {
  readonly assignment: Readonly<Record<string, string | number | boolean>>;
  readonly result: RunResult;
}

export interface SweepResult {
  readonly sweepRunId: string;
  readonly location: string;
  readonly metric: SweepMetric;
  /** The grid keys rows are indexed by (without `seed`, which is averaged over). */
  readonly keys: readonly string[];
  /** Sorted by the metric, best first; means ± sd over seeds when the grid has a `seed` axis. */
  readonly rows: readonly SweepRow[];
  /** One row per grid point and method: in grid order with a `seed` axis, else equal to `rows`. */
  readonly perPoint: readonly SweepRow[];
  readonly best: SweepRow;
  /** The Markdown table printed and written to sweep/table.md. */
  readonly table: string;
  /** Where the best config, the table and the plot were written (also logged as artifacts). */
  readonly outDir: string;
  readonly plot?: string;
  /** Points that had already finished (same config hash) and were not run again. */
  readonly skipped: number;
  /** Each point's run, with whether its stages came from the cache. */
  readonly points: readonly { readonly assignment: SweepPoint['assignment']; readonly runId: string; readonly skipped: boolean; readonly activationsCached: boolean; readonly seenNetworkCached: boolean }[];
}

export interface SweepOptions {
  readonly overrides?: readonly string[];
  readonly metric?: 'H' | 's' | 'u' | 'zslT1';
  readonly cwd?: string;
  readonly logger: Logger;
  readonly inlineText?: string;
  /** Run points again even when a run with the same config hash already finished. */
  readonly force?: boolean;
}

/** The Cartesian product of the grid, in a stable order (first key varies slowest). */
export function expandGrid(grid: Readonly<Record<string, readonly (string | number | boolean)[]>>): Record<string, string | number | boolean>[] {
  let points: Record<string, string | number | boolean>[] = [{}];
  for (const [key, values] of Object.entries(grid)) points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  return points;
}

export async function runSweep(file: string, opts: SweepOptions): Promise<SweepResult> {
  const log = opts.logger;
  const metric = opts.metric ?? 'H';
  const source = readConfigSource(file, opts.overrides ?? [], opts.inlineText);
  const top = validateTopConfig(source);
  if (!top.sweep || Object.keys(top.sweep).length === 0) {
    throw new ConfigError(`${source.locate([])} sweep: missing; a sweep config lists values per dotted path, e.g. sweep: { methods.0.lambda: [0, 1e-4, 1e-3] }`);
  }
  const grid = top.sweep;
  const keys = Object.keys(grid);
  const points = expandGrid(grid);
  const toOverride = (k: string, v: string | number | boolean): string => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`;
  // compose every point first: a bad value anywhere fails before any work
  const exps = [];
  for (const p of points) {
    exps.push(await composeExperiment(file, { overrides: [...(opts.overrides ?? []), ...keys.map((k) => toOverride(k, p[k]))], cwd: opts.cwd, logger: log, inlineText: opts.inlineText }));
  }
  const first = exps[0];
  const tracker = first.registry.create(first.tracker.spec, first.tracker.options) as Tracker;
  for (const e of exps) await preflightExperiment(e); // before the sweep's run opens
  // the points' experiment hashes, never the resolved config: it may hold a password
  const sweepHash = hashOf({ grid: withoutSecrets(grid), base: first.hash });
  const parent = lifecycle.opened(
    await tracker.startRun({ experiment: top.experiment, runName: `sweep-${sweepHash.slice(0, 8)}`, tags: { 'niwt.sweep': sweepHash, 'niwt.sweep.params': keys.join(','), ...ownerTags() } }),
  );
  try {
    await parent.logParams(Object.fromEntries(keys.map((k) => [`sweep.${k}`, grid[k].map(String).join(',')])));
    const done: SweepPoint[] = [];
    const pointInfo: SweepResult['points'][number][] = [];
    let skipped = 0;
    for (const [i, exp] of exps.entries()) {
      const what = keys.map((k) => `${k}=${fmtSweepValue(points[i][k])}`).join(' ');
      const previous = opts.force ? undefined : await findFinishedRun(exp);
      if (previous) {
        log.info(`— sweep ${i + 1}/${exps.length}: ${what} — already finished as run ${previous.runId} (config ${exp.hash}); skipped (--force reruns)`);
        done.push({ assignment: points[i], result: previous });
        pointInfo.push({ assignment: points[i], runId: previous.runId, skipped: true, activationsCached: true, seenNetworkCached: true });
        skipped++;
        continue;
      }
      log.info(`— sweep ${i + 1}/${exps.length}: ${what}`);
      const result = await runExperiment(exp, log, { parentRunId: parent.runId });
      done.push({ assignment: points[i], result });
      pointInfo.push({ assignment: points[i], runId: result.runId, skipped: false, activationsCached: result.activationsCached, seenNetworkCached: result.seenNetwork.cached });
    }
    await parent.logMetrics({ runs_skipped: skipped, runs_executed: exps.length - skipped });
    const summary = summarizeSweep(keys, done.map((p) => ({ assignment: p.assignment, methods: p.result.methods })), metric);
    const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-sweep-'));
    const plot = await writeSweepArtifacts(outDir, {
      summary,
      metric,
      points,
      resolved: exps.map((e) => e.resolved),
      results: done.map((p) => ({ assignment: p.assignment, runId: p.result.runId, methods: p.result.methods.map((m) => ({ label: m.label, s: m.s, u: m.u, H: m.H, zslT1: m.zslT1 })) })),
    });
    await parent.logArtifact(outDir, 'sweep');
    await parent.logMetrics({ [`best_${metric}`]: summary.best[metric] });
    await parent.end('FINISHED');
    return { sweepRunId: parent.runId, location: parent.location, metric, keys: summary.keys, rows: summary.rows, perPoint: summary.perPoint, best: summary.best, table: summary.table, outDir, plot, skipped, points: pointInfo };
  } catch (e) {
    await parent.end('FAILED').catch(() => undefined);
    throw e;
  }
}
