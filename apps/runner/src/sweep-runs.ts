/**
 * The MLflow side of a sweep: one parent run per sweep (found again by the sweep's hash, so a rerun or a
 * resumed sweep attaches to it), child runs named by their grid point, and runs of points whose process
 * died marked KILLED before the point runs again. The local file store and a tracking server alike (finderOf);
 * a server that cannot be searched leaves a new parent and nothing ended, as a first run would.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TrackedRun, Tracker } from '@niwt/core';
import { FileStoreRun, type StoredRun } from '@niwt/tracking';
import type { Experiment } from './compose.js';
import { finderOf } from './finished.js';
import { fmtSweepValue, type SweepValue } from './sweep-summary.js';

/** Tags a sweep writes. `niwt.sweep` is on the parent and on every child (the sweep's hash). */
export const SWEEP_TAGS = {
  sweep: 'niwt.sweep',
  params: 'niwt.sweep.params',
  point: 'niwt.sweep.point',
  queue: 'niwt.sweep.queue',
  /** The process that runs a point: `host:pid`, so a run whose process is gone can be told apart. */
  owner: 'niwt.sweep.owner',
} as const;

/** `lambda=1e-3,seed=7`: the last segment of each dotted key with its value, in grid order. */
export function pointName(keys: readonly string[], assignment: Readonly<Record<string, SweepValue>>): string {
  return keys.map((k) => `${k.split('.').pop() ?? k}=${fmtSweepValue(assignment[k])}`).join(',');
}

/** The local store `tracker` logs to (`Tracker.runStore`), or undefined for a tracking server or no store. */
export function localStoreOf(tracker: Tracker): string | undefined {
  const where = tracker.runStore?.();
  return where?.kind === 'mlflow-file' ? where.root : undefined;
}

type Reopening = Tracker & { resumeRun?: (runId: string) => Promise<TrackedRun> };

/** A handle on an existing run: the tracker's own `resumeRun` when it has one, else the file store's run. */
async function reopen(tracker: Tracker, run: StoredRun): Promise<TrackedRun> {
  const t = tracker as Reopening;
  if (typeof t.resumeRun === 'function') return t.resumeRun(run.runId);
  if (tracker.runStore?.().kind !== 'mlflow-file') throw new Error(`cannot reopen run ${run.runId}`);
  return new FileStoreRun(run.runId, run.experimentId, path.dirname(run.artifacts));
}

export interface SweepParent {
  readonly run: TrackedRun;
  /** The run was there already (a rerun or a resumed sweep). */
  readonly reattached: boolean;
}

/** The sweep's parent run: the newest top-level run tagged with this sweep hash, or a new one. */
export async function openSweepParent(
  exp: Experiment,
  tracker: Tracker,
  sweepHash: string,
  tags: Readonly<Record<string, string>>,
): Promise<SweepParent> {
  const finder = finderOf(tracker);
  const earlier = finder
    ? await finder.runs(exp.top.experiment, { tags: { [SWEEP_TAGS.sweep]: sweepHash } }).catch(() => [])
    : [];
  const found = earlier.find((r) => !r.tags['mlflow.parentRunId']);
  if (found) {
    try {
      const run = await reopen(tracker, found);
      await run.setTags(tags);
      return { run, reattached: true };
    } catch {
      // the server went away between the search and the reopening: a new parent, as when it cannot be searched
    }
  }
  const runName = `sweep-${sweepHash.slice(0, 8)}`;
  const run = await tracker.startRun({
    experiment: exp.top.experiment,
    runName,
    tags: { [SWEEP_TAGS.sweep]: sweepHash, ...tags },
  });
  return { run, reattached: false };
}

/** `host:pid` of this process, the value of the owner tag. */
export const ownerTag = (pid = process.pid): string => `${os.hostname()}:${pid}`;

/** The owner's pid when it is a process of this machine, else undefined. */
function localPid(owner: string | undefined): number | undefined {
  const m = owner ? /^(.*):(\d+)$/.exec(owner) : null;
  return m && m[1] === os.hostname() ? Number(m[2]) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A point process (point-child.js) left running by a worker that died: its job went to another attempt. */
async function stopOrphan(pid: number): Promise<boolean> {
  let cmd = '';
  try {
    cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return !alive(pid);
  }
  if (!cmd.includes('point-child')) return false; // the pid was reused by something else: leave it alone
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  return !alive(pid);
}

export interface StaleRunQuery {
  readonly parentRunId: string;
  readonly hash: string;
  /**
   * The earlier attempt is abandoned (a queue retry: the job's lock expired): also end runs whose owner is
   * on another machine or unknown, and stop an orphaned point process of this machine still running one.
   */
  readonly evenIfOwnerUnknown?: boolean;
  /** Also end runs of this process (it is stopping on a signal). */
  readonly ownedByThisProcess?: boolean;
}

/**
 * Marks KILLED every RUNNING run of this point (config hash) under the sweep parent whose process is gone,
 * with its nested method runs. Returns the ids ended. Called before a point runs again, and by the process
 * that saw a point's child die.
 */
export async function killStaleRuns(exp: Experiment, tracker: Tracker, q: StaleRunQuery): Promise<string[]> {
  const finder = finderOf(tracker);
  if (!finder) return [];
  const experiment = exp.top.experiment;
  const runningOf = (tags: Record<string, string>): Promise<StoredRun[]> =>
    finder.runs(experiment, { tags, status: 'RUNNING' }).catch(() => []);
  const stale: StoredRun[] = [];
  for (const r of await runningOf({ 'niwt.config_hash': q.hash, 'mlflow.parentRunId': q.parentRunId })) {
    if (r.tags['niwt.method']) continue;
    const pid = localPid(r.tags[SWEEP_TAGS.owner]);
    const gone = (p: number): boolean => (q.ownedByThisProcess && p === process.pid) || !alive(p);
    const ended =
      pid === undefined ? q.evenIfOwnerUnknown : gone(pid) || (q.evenIfOwnerUnknown && (await stopOrphan(pid)));
    if (ended) stale.push(r);
  }
  const ended: string[] = [];
  for (const r of stale) {
    try {
      for (const child of await runningOf({ 'mlflow.parentRunId': r.runId })) {
        await (await reopen(tracker, child)).end('KILLED');
      }
      const run = await reopen(tracker, r);
      const owner = r.tags[SWEEP_TAGS.owner] ?? 'unknown';
      await run.logText(
        'error.txt',
        `KILLED: the process running this point (${owner}) stopped before the run ended; the point was run again\n`,
      );
      await run.end('KILLED');
      ended.push(r.runId);
    } catch {
      // the server went away: the run stays RUNNING until a later attempt ends it; the point still runs
    }
  }
  return ended;
}
