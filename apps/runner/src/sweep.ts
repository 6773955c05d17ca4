/**
 * `niwt sweep`: expands the `sweep:` grid of a config (dotted path → values, Cartesian product) into runs that
 * share the stage cache (the seen network and activations are computed once), nests them under the sweep's
 * one parent run (found again by the sweep's hash, so a rerun or a resumed sweep attaches to it), and logs a
 * summary table sorted by a metric, the best config as YAML, and — for a single swept parameter — a plot of
 * s, u and H against it, as artifacts of that parent. A `seed` key in the grid is a replicate axis: the
 * summary reports means ± sd over seeds (see sweep-summary.ts). With `parallel` > 1 (`-j N`) up to N points
 * run at once, each in its own process (point-process.ts); the summary is the same as a sequential sweep's.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, hashOf, readConfigSource, validateTopConfig, withoutSecrets } from '@niwt/core';
import type { Logger, TopConfig, TrackedRun, Tracker } from '@niwt/core';
import { composeExperiment, type Experiment } from './compose.js';
import { preflightExperiment } from './preflight.js';
import { runExperiment, type RunResult } from './pipeline.js';
import { summarizeSweep, writeSweepArtifacts } from './sweep-summary.js';
import type { SweepMetric, SweepRow, SweepValue } from './sweep-summary.js';
import { findFinishedRun, trackerOf } from './finished.js';
import { lifecycle, ownerTags } from './lifecycle.js';
import { runPointInChild, type PointProcess } from './point-process.js';
import { SweepProgress } from './sweep-progress.js';
import { killStaleRuns, localStoreOf, openSweepParent, ownerTag, pointName, SWEEP_TAGS } from './sweep-runs.js';

type PointMethods = readonly Pick<RunResult['methods'][number], 'label' | 's' | 'u' | 'H' | 'zslT1'>[];

export interface SweepPoint {
  readonly assignment: Readonly<Record<string, SweepValue>>;
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
  /** The parent run's `sweep` artifact folder (best.yaml, table.md, results.json, sweep.png). */
  readonly outDir: string;
  readonly plot?: string;
  /** Points that had already finished (same config hash) and were not run again. */
  readonly skipped: number;
  /** The parent run was there already (an earlier or interrupted run of the same sweep). */
  readonly reattached: boolean;
  /** Each point's run, with whether its stages came from the cache. */
  readonly points: readonly {
    readonly assignment: SweepPoint['assignment'];
    readonly name: string;
    readonly runId: string;
    readonly skipped: boolean;
    readonly activationsCached: boolean;
    readonly seenNetworkCached: boolean;
  }[];
}

export interface SweepOptions {
  readonly overrides?: readonly string[];
  readonly metric?: SweepMetric;
  readonly cwd?: string;
  readonly logger: Logger;
  readonly inlineText?: string;
  /** Run points again even when a run with the same config hash already finished. */
  readonly force?: boolean;
  /** Points run at once, each in a child process (default 1: in this process, one after the other). */
  readonly parallel?: number;
  /** Where progress lines go (default: the logger's info). */
  readonly progress?: (line: string) => void;
}

/** A sweep config composed point by point: everything a local or queued sweep needs before any run opens. */
export interface PreparedSweep {
  readonly file: string;
  /** The config text (what queued and child processes compose again). */
  readonly text: string;
  readonly top: TopConfig;
  readonly grid: Readonly<Record<string, readonly SweepValue[]>>;
  readonly keys: readonly string[];
  readonly points: readonly Record<string, SweepValue>[];
  readonly exps: readonly Experiment[];
  /** Identifies the sweep (grid and the points' config hashes): its parent run carries it as the tag `niwt.sweep`. */
  readonly sweepHash: string;
  readonly tracker: Tracker;
}

/** The Cartesian product of the grid, in a stable order (first key varies slowest). */
export function expandGrid(grid: Readonly<Record<string, readonly SweepValue[]>>): Record<string, SweepValue>[] {
  let points: Record<string, SweepValue>[] = [{}];
  for (const [key, values] of Object.entries(grid)) {
    points = points.flatMap((p) => values.map((v) => ({ ...p, [key]: v })));
  }
  return points;
}

const toOverride = (k: string, v: SweepValue): string => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`;

/** Composes every grid point (a bad value anywhere fails here, before any run or job exists). */
export async function prepareSweep(
  file: string,
  opts: Pick<SweepOptions, 'overrides' | 'cwd' | 'logger' | 'inlineText'>,
): Promise<PreparedSweep> {
  // a missing file is reported by readConfigSource, with its usual message
  const fromDisk = (): Promise<string | undefined> =>
    fs.readFile(path.resolve(opts.cwd ?? process.cwd(), file), 'utf8').catch(() => undefined);
  const text = opts.inlineText ?? (await fromDisk());
  const source = readConfigSource(file, opts.overrides ?? [], text);
  const top = validateTopConfig(source);
  if (!top.sweep || Object.keys(top.sweep).length === 0) {
    const example = 'sweep: { methods.0.lambda: [0, 1e-4, 1e-3] }';
    const where = source.locate([]);
    throw new ConfigError(`${where} sweep: missing; a sweep config lists values per dotted path, e.g. ${example}`);
  }
  const grid = top.sweep;
  const keys = Object.keys(grid);
  const points = expandGrid(grid);
  const exps: Experiment[] = [];
  for (const p of points) {
    const overrides = [...(opts.overrides ?? []), ...keys.map((k) => toOverride(k, p[k]))];
    exps.push(await composeExperiment(file, { overrides, cwd: opts.cwd, logger: opts.logger, inlineText: text }));
  }
  const tracker = exps[0].registry.create(exps[0].tracker.spec, exps[0].tracker.options) as Tracker;
  // the points' experiment hashes, never the resolved config: it may hold a password
  const sweepHash = hashOf({ grid: withoutSecrets(grid), points: exps.map((e) => e.hash) });
  return { file, text: text ?? '', top, grid, keys, points, exps, sweepHash, tracker };
}

/** Tags of a point's run: the sweep it belongs to and its grid point. */
export const pointTags = (s: PreparedSweep, i: number): Record<string, string> => ({
  [SWEEP_TAGS.sweep]: s.sweepHash,
  [SWEEP_TAGS.point]: pointName(s.keys, s.points[i]),
});

/** Logs the summary artifacts to the parent (through a folder removed afterwards) and ends it FINISHED. */
export async function finishSweep(
  s: PreparedSweep,
  parent: TrackedRun,
  metric: SweepMetric,
  results: readonly { readonly runId: string; readonly worker?: string; readonly methods: PointMethods }[],
): Promise<{ summary: ReturnType<typeof summarizeSweep>; outDir: string; plot?: string }> {
  const perPoint = results.map((r, i) => ({ assignment: s.points[i], methods: r.methods }));
  const summary = summarizeSweep(s.keys, perPoint, metric);
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-sweep-'));
  let plot: string | undefined;
  try {
    plot = await writeSweepArtifacts(tmp, {
      summary,
      metric,
      points: s.points,
      resolved: s.exps.map((e) => e.resolved),
      results: results.map((r, i) => ({
        assignment: s.points[i],
        point: pointName(s.keys, s.points[i]),
        runId: r.runId,
        ...(r.worker ? { worker: r.worker } : {}),
        methods: r.methods.map((m) => ({ label: m.label, s: m.s, u: m.u, H: m.H, zslT1: m.zslT1 })),
      })),
    });
    await parent.logArtifact(tmp, 'sweep');
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  await parent.logMetrics({ [`best_${metric}`]: summary.best[metric] });
  await parent.end('FINISHED');
  // the artifacts' home: the run folder of a file store, the server's artifact path otherwise
  const local = localStoreOf(s.tracker) !== undefined;
  const outDir = local ? path.join(parent.location, 'artifacts', 'sweep') : `${parent.location}#artifacts/sweep`;
  return { summary, outDir, plot: plot ? path.join(outDir, path.basename(plot)) : undefined };
}

export async function runSweep(file: string, opts: SweepOptions): Promise<SweepResult> {
  const log = opts.logger;
  const metric = opts.metric ?? 'H';
  const parallel = opts.parallel ?? 1;
  const s = await prepareSweep(file, opts);
  const { keys, grid, points, exps, tracker } = s;
  for (const e of exps) await preflightExperiment(e); // a wrong path fails before the sweep's run opens
  const parentTags = { [SWEEP_TAGS.params]: keys.join(','), ...ownerTags() };
  const opened = await openSweepParent(exps[0], tracker, s.sweepHash, parentTags);
  const parent = lifecycle.opened(opened.run);
  const reattached = opened.reattached;
  if (reattached) log.info(`sweep ${s.sweepHash.slice(0, 8)}: attached to its run ${parent.runId}`);
  const progress = new SweepProgress(points.length, parallel, opts.progress ?? ((l) => log.info(l)));
  const children = new Set<PointProcess>();
  const running = new Set<number>();
  // Interrupted: the point processes stop and their runs end KILLED; then the lifecycle ends the parent KILLED
  // (a rerun attaches to it). Points run in this process are open runs of the lifecycle already.
  const onStopping = async (): Promise<void> => {
    if (parallel <= 1) return;
    await Promise.all([...children].map((c) => c.stop(1000)));
    for (const i of running) {
      const q = { parentRunId: parent.runId, hash: exps[i].hash, ownedByThisProcess: true };
      await killStaleRuns(exps[i], tracker, q).catch(() => undefined);
    }
  };
  const unhook = lifecycle.onStopping(onStopping);
  try {
    await parent.logParams(Object.fromEntries(keys.map((k) => [`sweep.${k}`, grid[k].map(String).join(',')])));
    const results: (RunResult | undefined)[] = Array(points.length).fill(undefined);
    const info: (SweepResult['points'][number] | undefined)[] = Array(points.length).fill(undefined);
    let skipped = 0;
    const runPoint = async (i: number): Promise<void> => {
      const exp = exps[i];
      const name = pointName(keys, points[i]);
      const previous = opts.force ? undefined : await findFinishedRun(exp, trackerOf(exp));
      if (previous) {
        progress.skipped(name, previous.runId);
        results[i] = previous;
        const runId = previous.runId;
        const cached = { activationsCached: true, seenNetworkCached: true };
        info[i] = { assignment: points[i], name, runId, skipped: true, ...cached };
        skipped++;
        return;
      }
      await killStaleRuns(exp, tracker, { parentRunId: parent.runId, hash: exp.hash });
      progress.started(name);
      running.add(i);
      let result: RunResult;
      try {
        if (parallel <= 1) {
          const tags = { ...pointTags(s, i), [SWEEP_TAGS.owner]: ownerTag() };
          result = await runExperiment(exp, log, { parentRunId: parent.runId, runName: name, tags });
        } else {
          const child = runPointInChild({
            file,
            text: s.text,
            overrides: exp.overrides,
            hash: exp.hash,
            cwd: opts.cwd ?? process.cwd(),
            parentRunId: parent.runId,
            runName: name,
            tags: pointTags(s, i),
          });
          children.add(child);
          try {
            result = await child.result;
          } finally {
            children.delete(child);
            await killStaleRuns(exp, tracker, { parentRunId: parent.runId, hash: exp.hash });
          }
        }
      } catch (e) {
        progress.failed(name, e instanceof Error ? e.message : String(e));
        throw e;
      } finally {
        running.delete(i);
      }
      progress.finished(name, result.seconds);
      results[i] = result;
      const cached = { activationsCached: result.activationsCached, seenNetworkCached: result.seenNetwork.cached };
      info[i] = { assignment: points[i], name, runId: result.runId, skipped: false, ...cached };
    };
    await pool(points.length, Math.max(1, parallel), runPoint);
    await parent.logMetrics({ runs_skipped: skipped, runs_executed: points.length - skipped });
    const done = results.map((r) => r!);
    const { summary, outDir, plot } = await finishSweep(s, parent, metric, done);
    const { rows, best, table } = summary;
    return {
      ...{ sweepRunId: parent.runId, location: parent.location, metric, keys: summary.keys, rows },
      ...{ perPoint: summary.perPoint, best, table },
      ...{ outDir, plot, skipped, reattached, points: info.map((p) => p!) },
    };
  } catch (e) {
    await Promise.all([...children].map((c) => c.stop()));
    await parent.end('FAILED').catch(() => undefined);
    throw e;
  } finally {
    unhook();
  }
}

/**
 * Runs `task(0..n-1)` with at most `width` at once, starting them in index order; the first failure
 * stops new starts and is rethrown once the running ones settle.
 */
export async function pool(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < n && !failure) {
      const i = next++;
      try {
        await task(i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, n) }, lane));
  if (failure) throw failure.e;
}

/** The grid as `--dry-run` prints it: each point, its config hash, and whether it already finished. */
export async function describeSweep(
  file: string,
  opts: Pick<SweepOptions, 'overrides' | 'cwd' | 'logger' | 'inlineText' | 'force'>,
): Promise<{ sweepHash: string; points: { name: string; hash: string; finishedRunId?: string }[] }> {
  const s = await prepareSweep(file, opts);
  const points = [];
  for (const [i, exp] of s.exps.entries()) {
    const previous = opts.force ? undefined : await findFinishedRun(exp, trackerOf(exp));
    const finished = previous ? { finishedRunId: previous.runId } : {};
    points.push({ name: pointName(s.keys, s.points[i]), hash: exp.hash, ...finished });
  }
  return { sweepHash: s.sweepHash, points };
}
