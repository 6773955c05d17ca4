/**
 * `niwt runs …`: the local side of tracking. `sync` replays the spool of runs logged to a tracking
 * server (what `end()` could not send), `push` copies local file-store runs to a server, `ls`/`show`
 * read the local store without Python. User mistakes are NiwtErrors (one line, exit 2).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { TrackingError, UsageError } from '@niwt/core';
import {
  DEFAULT_SPOOL_DIR,
  DEFAULT_TRACKING_URI,
  displayUri,
  findLocalRun,
  isServerUri,
  listLocalRuns,
  listSpoolRuns,
  pushLocalRun,
  readLocalRun,
  resolveStoreRoot,
  syncSpool,
  type LocalRun,
} from '@niwt/tracking';
import { ownerAlive } from '../finished.js';

interface CommonFlags {
  json?: boolean;
}

const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
const ms = (v: string | undefined, name: string): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`${name} must be a whole number of milliseconds, got ${JSON.stringify(v)}`);
  return n;
};

/** A run folder, or a run id looked up in the store. */
async function resolveRun(ref: string, store: string): Promise<LocalRun> {
  if (/^[0-9a-f]{32}$/i.test(ref) && !ref.includes(path.sep)) {
    const run = await findLocalRun(store, ref);
    if (!run)
      throw new TrackingError(
        `run ${ref} not found in ${resolveStoreRoot(store, process.cwd(), '--store')}; pass the run folder ` +
          `or the right --store`,
      );
    return run;
  }
  return readLocalRun(path.resolve(ref));
}

export function registerRunsCommands(program: Command): void {
  const runs = program
    .command('runs')
    .description('local MLflow runs: replay the spool to a server, push runs, list them');

  runs
    .command('sync')
    .description(
      'replay spooled runs (logged to a tracking server that was unreachable) to their server; safe to repeat',
    )
    .option('--spool <dir>', 'spool folder', DEFAULT_SPOOL_DIR)
    .option('--uri <uri>', 'only runs logged for this server')
    .option('--retry-budget <ms>', 'time one call may spend retrying')
    .option('--json', 'print the report as JSON')
    .action(async (flags: CommonFlags & { spool: string; uri?: string; retryBudget?: string }, cmd: Command) => {
      if (flags.uri !== undefined && !isServerUri(flags.uri))
        throw new UsageError(`--uri ${JSON.stringify(flags.uri)}: expected http(s)://host:port`);
      if (!statSync(path.resolve(flags.spool), { throwIfNoEntry: false })?.isDirectory()) {
        // The default spool appears with the first run logged to a server: nothing to do yet.
        if (cmd.getOptionValueSource('spool') === 'default') {
          return out(
            flags.json
              ? JSON.stringify({ synced: [], done: [], failed: [] })
              : `nothing spooled (${flags.spool} does not exist)`,
          );
        }
        throw new UsageError(
          `--spool ${flags.spool}: no such folder; runs logged to a server are spooled in tracking.spoolDir ` +
            `(default ${DEFAULT_SPOOL_DIR})`,
        );
      }
      const report = await syncSpool({
        spoolDir: path.resolve(flags.spool),
        uri: flags.uri,
        retryBudgetMs: ms(flags.retryBudget, '--retry-budget'),
      });
      if (flags.json) out(JSON.stringify(report, null, 2));
      else {
        const s = report.stats;
        out(
          `synced ${report.synced.length} spooled run(s) in ${report.seconds.toFixed(1)}s: ${s.runsCreated} ` +
            `created, ${s.batches} batch(es), ` +
            (`${s.metrics} metric point(s), ${s.params} param(s), ${s.tags} tag(s), ${s.artifacts} ` +
              `artifact(s), ${s.duplicatesSkipped} duplicate point(s) skipped`),
        );
      }
      if (report.failed.length > 0) {
        const first = report.failed[0];
        throw new TrackingError(
          `${report.failed.length} spooled run(s) not synced (kept in ${flags.spool}; rerun niwt runs sync): ` +
            `${first.key}: ${first.error}`,
        );
      }
    });

  runs
    .command('push')
    .description('copy a local run (folder or id) and its nested runs to a tracking server; safe to repeat')
    .argument('<run>', 'run folder (mlruns/<experiment>/<run>) or run id')
    .requiredOption('--to <uri>', 'tracking server, http(s)://host:port (credentials from MLFLOW_TRACKING_*)')
    .option('--store <uri>', 'local store to find a run id in', DEFAULT_TRACKING_URI)
    .option('--spool <dir>', 'spool folder (resumable pushes)', DEFAULT_SPOOL_DIR)
    .option(
      '--secret-key <key>',
      'extra dotted param key to redact (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--json', 'print the result as JSON')
    .action(
      async (ref: string, flags: CommonFlags & { to: string; store: string; spool: string; secretKey: string[] }) => {
        if (!isServerUri(flags.to))
          throw new UsageError(
            `--to ${JSON.stringify(displayUri(flags.to))}: expected a tracking server, http(s)://host:port`,
          );
        const run = await resolveRun(ref, flags.store);
        const res = await pushLocalRun(run.dir, {
          to: flags.to,
          spoolDir: path.resolve(flags.spool),
          secretKeys: flags.secretKey,
        });
        if (flags.json) out(JSON.stringify(res, null, 2));
        else {
          for (const r of res.runs)
            out(
              `${r.localRunId} → ${displayUri(flags.to)} run ${r.serverRunId} ` +
                `(${r.runName}${r.parent ? ', nested' : ''})`,
            );
          out(
            `pushed ${res.runs.length} run(s) in ${res.seconds.toFixed(1)}s: ${res.stats.batches} batch(es), ` +
              `${res.stats.artifacts} artifact(s), ${res.stats.duplicatesSkipped} point(s) already there`,
          );
        }
      },
    );

  runs
    .command('ls')
    .description(
      'runs of the local store, newest first, with their s/u/H metrics, and spooled runs not yet on their server',
    )
    .option('--store <uri>', 'local store', DEFAULT_TRACKING_URI)
    .option('--spool <dir>', 'spool folder', DEFAULT_SPOOL_DIR)
    .option('--experiment <name>', 'only this experiment')
    .option('--sweep <id>', "a sweep's point runs, one per grid point (its parent run id, or its hash or a prefix)")
    .option('--json', 'as JSON')
    .action(async (flags: CommonFlags & { store: string; spool: string; experiment?: string; sweep?: string }) => {
      const all = await listLocalRuns(flags.store, { experiment: flags.experiment });
      if (flags.sweep !== undefined) return out(sweepListing(all, flags.sweep, Boolean(flags.json)));
      const local = all;
      const pending = [];
      for (const s of await listSpoolRuns(path.resolve(flags.spool))) {
        const [meta, state] = [await s.meta(), await s.state()];
        if (!state.done && (flags.experiment === undefined || meta.experiment === flags.experiment)) {
          pending.push({
            key: meta.key,
            experiment: meta.experiment,
            runName: meta.runName,
            uri: meta.uri,
            serverRunId: state.runId ?? null,
            lastError: state.lastError ?? null,
          });
        }
      }
      const rows = local.map((r) => ({
        runId: r.runId,
        experimentId: r.experimentId,
        runName: r.runName,
        status: r.status,
        // a run whose process died without closing it (SIGKILL, power loss): the next `niwt run` marks it KILLED
        ownerGone: r.status === 'RUNNING' && ownerAlive(r.tags) === false,
        startTime: r.startTime,
        parentRunId: r.tags['mlflow.parentRunId'] ?? null,
        metrics: headlineMetrics(r),
      }));
      if (flags.json) return out(JSON.stringify({ local: rows, spooled: pending }, null, 2));
      for (const r of rows) {
        const status = r.ownerGone ? 'RUNNING (owner gone)' : r.status;
        const m = Object.entries(r.metrics)
          .map(([k, v]) => `${k}=${fmtMetric(v)}`)
          .join(' ');
        const when = new Date(r.startTime).toISOString();
        out(`${r.runId}  ${status.padEnd(8)} ${when}  ${r.parentRunId ? '  ' : ''}${r.runName}${m ? `  ${m}` : ''}`);
      }
      for (const p of pending)
        out(`${p.key}  SPOOLED  → ${p.uri}  ${p.runName}${p.lastError ? ` (last error: ${p.lastError})` : ''}`);
      if (rows.length + pending.length === 0) out('no runs');
    });

  runs
    .command('compare')
    .description('runs side by side: the params that differ and every metric (latest value)')
    .argument('<runs...>', 'two or more run folders or run ids')
    .option('--store <uri>', 'local store', DEFAULT_TRACKING_URI)
    .option('--all-params', 'show every param, not only those that differ')
    .option('--json', 'as JSON')
    .action(async (refs: string[], flags: CommonFlags & { store: string; allParams?: boolean }) => {
      if (refs.length < 2) throw new UsageError(`runs compare: give two or more runs, got ${refs.length}`);
      const list = [];
      for (const ref of refs) list.push(await resolveRun(ref, flags.store));
      const view = compareRuns(list, Boolean(flags.allParams));
      if (flags.json) return out(JSON.stringify(view, null, 2));
      const head = ['', ...list.map((r) => `${r.runName} (${r.runId.slice(0, 8)}, ${r.status})`)];
      const body = [
        ...Object.entries(view.params).map(([k, vs]) => [`param  ${k}`, ...vs.map((v) => v ?? '—')]),
        ...Object.entries(view.metrics).map(([k, vs]) => [
          `metric ${k}`,
          ...vs.map((v) => (v === null ? '—' : fmtMetric(v))),
        ]),
      ];
      if (Object.keys(view.params).length === 0) out(`no params differ (${view.sameParams} param(s) equal)`);
      out(textTable(head, body));
    });

  runs
    .command('show')
    .description('params, tags, latest metrics and artifacts of a local run (folder or id)')
    .argument('<run>', 'run folder or run id')
    .option('--store <uri>', 'local store', DEFAULT_TRACKING_URI)
    .option('--json', 'as JSON')
    .action(async (ref: string, flags: CommonFlags & { store: string }) => {
      const r = await resolveRun(ref, flags.store);
      const latest = Object.fromEntries(Object.entries(r.metrics).map(([k, pts]) => [k, pts[pts.length - 1]?.value]));
      const view = {
        runId: r.runId,
        runName: r.runName,
        status: r.status,
        experimentId: r.experimentId,
        params: r.params,
        tags: r.tags,
        metrics: latest,
        points: Object.fromEntries(Object.entries(r.metrics).map(([k, p]) => [k, p.length])),
        artifacts: r.artifacts,
      };
      if (flags.json) return out(JSON.stringify(view, null, 2));
      out(`${r.runName} (${r.runId}) ${r.status} in ${r.dir}`);
      for (const [k, v] of Object.entries(r.params)) out(`  param  ${k} = ${v}`);
      for (const [k, v] of Object.entries(latest)) out(`  metric ${k} = ${v} (${view.points[k]} point(s))`);
      for (const a of r.artifacts) out(`  file   ${a}`);
    });
}

const SWEEP_TAG = 'niwt.sweep';
/** Metrics worth a column: accuracies of a run (`H`) or of its methods (`niwt/H`). */
const HEADLINE = /(^|\/)(s|u|H|zsl_t1)$/;

const latest = (r: LocalRun, key: string): number | undefined => r.metrics[key]?.[r.metrics[key].length - 1]?.value;

function headlineMetrics(r: LocalRun): Record<string, number> {
  const keys = Object.keys(r.metrics)
    .filter((k) => HEADLINE.test(k) && !k.startsWith('seen_network/'))
    .sort();
  return Object.fromEntries(keys.map((k) => [k, latest(r, k)!]));
}

const fmtMetric = (v: number): string =>
  Number.isInteger(v) ? String(v) : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4 ? v.toFixed(4) : v.toExponential(3);

/** Left-aligned columns separated by two spaces. */
function textTable(head: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = head.map((h, j) => Math.max(h.length, ...body.map((row) => row[j]?.length ?? 0)));
  const line = (row: readonly string[]): string =>
    row
      .map((c, j) => c.padEnd(widths[j]))
      .join('  ')
      .trimEnd();
  return [line(head), ...body.map(line)].join('\n');
}

/** The point runs of a sweep (given by its parent run id or hash prefix), with a column per headline metric. */
function sweepListing(all: readonly LocalRun[], id: string, json: boolean): string {
  const parent =
    all.find((r) => r.runId === id) ??
    all.find((r) => !r.tags['mlflow.parentRunId'] && (r.tags[SWEEP_TAG] ?? '').startsWith(id));
  const hash = parent?.tags[SWEEP_TAG];
  if (!parent || !hash)
    throw new UsageError(
      `--sweep ${id}: no sweep run with this id or sweep hash in the store; niwt runs ls lists the runs ` +
        `(sweep runs are named sweep-<hash>)`,
    );
  const every = all
    .filter(
      (r) => r.tags[SWEEP_TAG] === hash && r.tags['mlflow.parentRunId'] === parent.runId && !r.tags['niwt.method'],
    )
    .sort((a, b) => a.startTime - b.startTime);
  // a point run again (--force, or after a KILLED attempt) keeps its newest FINISHED run, else its newest
  const byPoint = new Map<string, LocalRun>();
  for (const r of every) {
    const key = r.tags['niwt.sweep.point'] ?? r.runId;
    const had = byPoint.get(key);
    if (!had || r.status === 'FINISHED' || had.status !== 'FINISHED') byPoint.set(key, r);
  }
  const points = [...byPoint.values()];
  const earlier = every.length - points.length;
  const keys = [...new Set(points.flatMap((r) => Object.keys(headlineMetrics(r))))].sort();
  const rows = points.map((r) => ({
    runId: r.runId,
    point: r.tags['niwt.sweep.point'] ?? r.runName,
    status: r.status,
    metrics: headlineMetrics(r),
  }));
  if (json)
    return JSON.stringify(
      { sweepRunId: parent.runId, sweepHash: hash, status: parent.status, runs: rows, earlierRuns: earlier },
      null,
      2,
    );
  const head = ['run', 'point', 'status', ...keys];
  const body = rows.map((r) => [
    r.runId,
    r.point,
    r.status,
    ...keys.map((k) => (r.metrics[k] === undefined ? '—' : fmtMetric(r.metrics[k]))),
  ]);
  const note = earlier > 0 ? ` (and ${earlier} earlier run(s) of the same points)` : '';
  return (
    `${parent.runName} (${parent.runId}) ${parent.status}: ${rows.length} point ` +
    `run(s)${note}\n${textTable(head, body)}`
  );
}

export interface RunComparison {
  readonly runs: readonly { readonly runId: string; readonly runName: string; readonly status: string }[];
  /** Param → value per run (null where a run lacks it); only those that differ unless all were asked for. */
  readonly params: Readonly<Record<string, readonly (string | null)[]>>;
  /** How many params are equal across all runs (left out of `params`). */
  readonly sameParams: number;
  /** Metric → latest value per run (null where a run lacks it). */
  readonly metrics: Readonly<Record<string, readonly (number | null)[]>>;
}

export function compareRuns(list: readonly LocalRun[], allParams: boolean): RunComparison {
  const paramKeys = [...new Set(list.flatMap((r) => Object.keys(r.params)))].sort();
  const params: Record<string, (string | null)[]> = {};
  let sameParams = 0;
  for (const k of paramKeys) {
    const vs = list.map((r) => r.params[k] ?? null);
    if (!allParams && vs.every((v) => v === vs[0])) sameParams++;
    else params[k] = vs;
  }
  const metricKeys = [...new Set(list.flatMap((r) => Object.keys(r.metrics)))].sort();
  const metrics = Object.fromEntries(metricKeys.map((k) => [k, list.map((r) => latest(r, k) ?? null)]));
  return {
    runs: list.map((r) => ({ runId: r.runId, runName: r.runName, status: r.status })),
    params,
    sameParams,
    metrics,
  };
}
