/**
 * Finding runs of the same resolved config (tag `niwt.config_hash`): one that already finished, so sweeps skip
 * work that is done (local file store only), and ones that did not, so `niwt run --resume` continues them
 * (file store or tracking server).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { processAlive, type Tracker } from '@niwt/core';
import { DEFAULT_RETRY, listLocalRuns, makeClient, parseServerUri, type LocalRun, type RestRun } from '@niwt/tracking';
import type { Experiment } from './compose.js';
import { HOST, LIFECYCLE_TAGS } from './lifecycle.js';
import type { MethodResult, RunResult } from './results.js';

/** Artifact of each method run holding its `MethodResult`, read back when a resumed run reuses it. */
export const METHOD_RESULT = 'results/method.json';

/** The experiment's tracker plugin, constructed as a run constructs it (here: to ask where its runs live). */
export function trackerOf(exp: Experiment): Tracker {
  return exp.registry.create(exp.tracker.spec, exp.tracker.options) as Tracker;
}

/** The newest finished run of this config in `tracker`'s local store (`Tracker.runStore`), with its results. */
export async function findFinishedRun(exp: Experiment, tracker: Tracker): Promise<RunResult | undefined> {
  const where = tracker.runStore?.();
  if (where?.kind !== 'mlflow-file') return undefined;
  const root = where.root;
  let runs;
  try {
    runs = await listLocalRuns(root, { experiment: exp.top.experiment });
  } catch {
    return undefined; // no store yet
  }
  const done = runs
    .filter((r) => r.status === 'FINISHED' && r.tags['niwt.config_hash'] === exp.hash && !r.tags['niwt.method'])
    .sort((a, b) => b.startTime - a.startTime)[0];
  if (!done) return undefined;
  try {
    return JSON.parse(
      await fs.readFile(path.join(done.dir, 'artifacts', 'results', 'results.json'), 'utf8'),
    ) as RunResult;
  } catch {
    return undefined; // finished without results (an older layout): run again
  }
}

/** A stored run, as far as resuming needs it. */
export interface StoredRun {
  readonly runId: string;
  readonly runName: string;
  readonly status: string;
  readonly startTime: number;
  readonly tags: Readonly<Record<string, string>>;
  /** Last logged step of each metric (a resumed run logs only later steps). */
  readonly lastSteps: Readonly<Record<string, number>>;
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
 */
export async function findUnfinishedRuns(exp: Experiment, tracker: Tracker): Promise<UnfinishedRun[]> {
  const where = tracker.runStore?.();
  if (!where) return [];
  return where.kind === 'mlflow-server' ? unfinishedOnServer(exp, where.uri) : unfinishedLocal(exp, where.root);
}

async function unfinishedLocal(exp: Experiment, root: string): Promise<UnfinishedRun[]> {
  let runs;
  try {
    runs = await listLocalRuns(root, { experiment: exp.top.experiment });
  } catch {
    return []; // no store yet
  }
  const lastSteps = (r: LocalRun): Record<string, number> =>
    Object.fromEntries(
      Object.entries(r.metrics).map(([k, pts]) => [k, pts.reduce((m, p) => Math.max(m, p.step), -Infinity)]),
    );
  const stored = (r: LocalRun): StoredRun => ({
    runId: r.runId,
    runName: r.runName,
    status: r.status,
    startTime: r.startTime,
    tags: r.tags,
    lastSteps: lastSteps(r),
  });
  const out: UnfinishedRun[] = [];
  for (const p of runs.filter((r) => r.status !== 'FINISHED' && isParentOf(exp, r.tags))) {
    const children = [];
    for (const c of runs.filter((r) => r.tags['mlflow.parentRunId'] === p.runId)) {
      let result: MethodResult | undefined;
      if (c.status === 'FINISHED') {
        result = await fs
          .readFile(path.join(c.dir, 'artifacts', METHOD_RESULT), 'utf8')
          .then((t) => JSON.parse(t) as MethodResult)
          .catch(() => undefined);
      }
      children.push({ ...stored(c), result });
    }
    out.push({ ...stored(p), ownerAlive: ownerAlive(p.tags), children });
  }
  return out;
}

async function unfinishedOnServer(exp: Experiment, uri: string): Promise<UnfinishedRun[]> {
  const client = makeClient(parseServerUri(uri, process.env), 30_000, { ...DEFAULT_RETRY, budgetMs: 20_000 });
  const experiment = await client.getExperimentByName(exp.top.experiment);
  if (!experiment) return [];
  const stored = (r: RestRun): StoredRun => {
    const tags = Object.fromEntries((r.data.tags ?? []).map((t) => [t.key, t.value]));
    // runs/search returns each metric's latest point: the one with the largest step
    const lastSteps = Object.fromEntries((r.data.metrics ?? []).map((m) => [m.key, m.step]));
    return {
      runId: r.info.run_id,
      runName: r.info.run_name ?? tags['mlflow.runName'] ?? '',
      status: r.info.status,
      startTime: r.info.start_time ?? 0,
      tags,
      lastSteps,
    };
  };
  const parents = await client.searchRuns(
    [experiment.experiment_id],
    `tags.\`niwt.config_hash\` = '${exp.hash}' and attributes.status != 'FINISHED'`,
  );
  const out: UnfinishedRun[] = [];
  for (const p of parents.map((r) => ({ raw: r, run: stored(r) })).filter((x) => isParentOf(exp, x.run.tags))) {
    const children = [];
    for (const c of await client.searchRuns(
      [experiment.experiment_id],
      `tags.\`mlflow.parentRunId\` = '${p.run.runId}'`,
    )) {
      let result: MethodResult | undefined;
      if (c.info.status === 'FINISHED' && c.info.artifact_uri) {
        result = await client
          .downloadArtifact(c.info.artifact_uri, METHOD_RESULT)
          .then((b) => JSON.parse(b.toString('utf8')) as MethodResult)
          .catch(() => undefined);
      }
      children.push({ ...stored(c), result });
    }
    out.push({ ...p.run, ownerAlive: ownerAlive(p.run.tags), children });
  }
  return out.sort((a, b) => b.startTime - a.startTime);
}
