/**
 * Finding runs of the same resolved config (tag `niwt.config_hash`): one that already finished, so sweeps skip
 * work that is done, and ones that did not, so `niwt run --resume` continues them. Both read the local file store
 * or a tracking server alike (`runFinder` of @niwt/tracking).
 */
import { processAlive, type Tracker } from '@niwt/core';
import { runFinder, type RunFinder, type RunFinderOptions, type StoredRun } from '@niwt/tracking';
import type { Experiment } from './compose.js';
import { HOST, LIFECYCLE_TAGS } from './lifecycle.js';
import type { MethodResult, RunResult } from './results.js';

export type { StoredRun };

/** Artifact of each method run holding its `MethodResult`, read back when a resumed run reuses it. */
export const METHOD_RESULT = 'results/method.json';
/** Artifact of each top-level run holding its `RunResult`, read back when a sweep skips a finished point. */
export const RUN_RESULT = 'results/results.json';

/** The experiment's tracker plugin, constructed as a run constructs it (here: to ask where its runs live). */
export function trackerOf(exp: Experiment): Tracker {
  return exp.registry.create(exp.tracker.spec, exp.tracker.options) as Tracker;
}

/** Where `tracker` keeps its runs, to search them (`Tracker.runStore`); undefined for a tracker without a store. */
export function finderOf(tracker: Tracker, options?: RunFinderOptions): RunFinder | undefined {
  const where = tracker.runStore?.();
  return where ? runFinder(where, options) : undefined;
}

/**
 * The newest finished run of this config in `tracker`'s store (file store or server), with its results. A store
 * that cannot be searched (the server is down) finds none: the point runs again.
 */
export async function findFinishedRun(exp: Experiment, tracker: Tracker): Promise<RunResult | undefined> {
  const finder = finderOf(tracker);
  if (!finder) return undefined;
  const query = { tags: { 'niwt.config_hash': exp.hash }, status: 'FINISHED' };
  const done = (await finder.runs(exp.top.experiment, query).catch(() => [])).find((r) => !r.tags['niwt.method']);
  if (!done) return undefined;
  const text = await finder.readText(done, RUN_RESULT);
  try {
    return text === undefined ? undefined : (JSON.parse(text) as RunResult);
  } catch {
    return undefined; // finished without readable results (an older layout): run again
  }
}

/** A run of the same config that did not finish, with its method runs. */
export interface UnfinishedRun extends StoredRun {
  /**
   * Whether the process that owns it (tags `niwt.pid`, `niwt.host`) still runs: false when it ended, or when
   * the run carries no owner (older runs); undefined when it ran on another host (cannot tell).
   */
  readonly ownerAlive: boolean | undefined;
  readonly children: readonly (StoredRun & { readonly result?: MethodResult })[];
}

/** Whether the owner of a run still runs (see `UnfinishedRun.ownerAlive`). */
export function ownerAlive(tags: Readonly<Record<string, string>>): boolean | undefined {
  const pid = Number(tags[LIFECYCLE_TAGS.pid]);
  const host = tags[LIFECYCLE_TAGS.host];
  if (!Number.isInteger(pid) || pid <= 0 || host === undefined) return false;
  if (host !== HOST) return undefined;
  return pid !== process.pid && processAlive(pid);
}

const isParentOf = (exp: Experiment, tags: Readonly<Record<string, string>>): boolean =>
  tags['niwt.config_hash'] === exp.hash && !tags['niwt.method'];

/**
 * Runs of the same config (tag `niwt.config_hash`) that did not finish — interrupted, killed, failed, or still
 * RUNNING because their process was SIGKILLed — newest first, from the local file store or a tracking server.
 * Throws when the server cannot be searched (the caller says so before starting over).
 */
export async function findUnfinishedRuns(exp: Experiment, tracker: Tracker): Promise<UnfinishedRun[]> {
  // patient: a resume that cannot look starts over, which costs more than a sweep's new parent
  const finder = finderOf(tracker, { timeoutMs: 30_000, retryBudgetMs: 20_000 });
  if (!finder) return [];
  const query = { tags: { 'niwt.config_hash': exp.hash }, notStatus: 'FINISHED' };
  const out: UnfinishedRun[] = [];
  for (const p of (await finder.runs(exp.top.experiment, query)).filter((r) => isParentOf(exp, r.tags))) {
    const children = [];
    for (const c of await finder.runs(exp.top.experiment, { tags: { 'mlflow.parentRunId': p.runId } })) {
      const text = c.status === 'FINISHED' ? await finder.readText(c, METHOD_RESULT) : undefined;
      let result: MethodResult | undefined;
      try {
        result = text === undefined ? undefined : (JSON.parse(text) as MethodResult);
      } catch {
        result = undefined; // unreadable: the method is fitted again
      }
      children.push({ ...c, result });
    }
    out.push({ ...p, ownerAlive: ownerAlive(p.tags), children });
  }
  return out;
}
