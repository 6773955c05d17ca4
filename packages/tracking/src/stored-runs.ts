/**
 * Finding runs again in the store a tracker logs to (`Tracker.runStore`), the same way for the local file store
 * (read from disk) and a tracking server (`runs/search`, artifacts through the proxied `mlflow-artifacts` API, as
 * the tracker uploads them). The runner uses it to reattach a sweep to its parent run, end runs whose process
 * died, skip finished points and resume unfinished runs.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import type { RunStoreLocation } from '@niwt/core';
import { parseServerUri } from './credentials.js';
import { listLocalRuns } from './read.js';
import type { MlflowRestClient } from './rest/client.js';
import { DEFAULT_RETRY, MlflowHttpError } from './rest/http.js';
import type { RestRun } from './rest/types.js';
import { makeClient } from './rest-tracker.js';

/** A stored run, as far as finding it again needs it. */
export interface StoredRun {
  readonly runId: string;
  readonly experimentId: string;
  readonly runName: string;
  /** RUNNING, FINISHED, FAILED, KILLED or SCHEDULED. */
  readonly status: string;
  readonly startTime: number;
  readonly tags: Readonly<Record<string, string>>;
  /** Last logged step of each metric (a resumed run logs only later steps). */
  readonly lastSteps: Readonly<Record<string, number>>;
  /** The run's artifact folder (file store) or artifact URI (server): where `readText` looks. */
  readonly artifacts: string;
}

/** Runs to find: every condition must hold. */
export interface RunQuery {
  /** Tags with these exact values. */
  readonly tags?: Readonly<Record<string, string>>;
  readonly status?: string;
  readonly notStatus?: string;
}

export interface RunFinder {
  /**
   * Runs of the experiment matching `query`, newest first; none when the experiment or store does not exist yet.
   * Throws when the server cannot be asked (down, refused): callers decide what a failed lookup means.
   */
  runs(experiment: string, query?: RunQuery): Promise<StoredRun[]>;
  /** An artifact of a run found by `runs`, as text; undefined when it is missing or unreadable. */
  readText(run: StoredRun, artifactPath: string): Promise<string | undefined>;
}

const matchesQuery = (r: Pick<StoredRun, 'status' | 'tags'>, q: RunQuery): boolean =>
  (q.status === undefined || r.status === q.status) &&
  (q.notStatus === undefined || r.status !== q.notStatus) &&
  Object.entries(q.tags ?? {}).every(([k, v]) => r.tags[k] === v);

const byNewest = (a: StoredRun, b: StoredRun): number => b.startTime - a.startTime || a.runId.localeCompare(b.runId);

class FileStoreFinder implements RunFinder {
  constructor(private readonly root: string) {}

  async runs(experiment: string, query: RunQuery = {}): Promise<StoredRun[]> {
    let all;
    try {
      all = await listLocalRuns(this.root, { experiment });
    } catch {
      return []; // no store yet
    }
    return all
      .map((r) => ({
        runId: r.runId,
        experimentId: r.experimentId,
        runName: r.runName,
        status: r.status,
        startTime: r.startTime,
        tags: r.tags,
        lastSteps: Object.fromEntries(
          Object.entries(r.metrics).map(([k, pts]) => [k, pts.reduce((m, p) => Math.max(m, p.step), -Infinity)]),
        ),
        artifacts: path.join(r.dir, 'artifacts'),
      }))
      .filter((r) => matchesQuery(r, query))
      .sort(byNewest);
  }

  readText(run: StoredRun, artifactPath: string): Promise<string | undefined> {
    return fs.readFile(path.join(run.artifacts, ...artifactPath.split('/')), 'utf8').catch(() => undefined);
  }
}

/** Values put into a search filter verbatim (hashes, run ids, states); others are matched here only. */
const PLAIN = /^[\w.:@-]*$/;

/** MLflow's filter syntax for what the server can match; the rest (and all of it again) is matched locally. */
function searchFilter(q: RunQuery): string | undefined {
  const parts = Object.entries(q.tags ?? {})
    .filter(([k, v]) => PLAIN.test(k) && PLAIN.test(v))
    .map(([k, v]) => `tags.\`${k}\` = '${v}'`);
  if (q.status !== undefined && PLAIN.test(q.status)) parts.push(`attributes.status = '${q.status}'`);
  if (q.notStatus !== undefined && PLAIN.test(q.notStatus)) parts.push(`attributes.status != '${q.notStatus}'`);
  return parts.length > 0 ? parts.join(' and ') : undefined;
}

/** A server that failed a lookup is not asked again for this long, so a sweep over a down server stays quick. */
const DOWN_MS = 60_000;
const downUntil = new Map<string, number>();

class ServerFinder implements RunFinder {
  readonly client: MlflowRestClient;

  constructor(uri: string, env: NodeJS.ProcessEnv, timeoutMs: number, budgetMs: number) {
    this.client = makeClient(parseServerUri(uri, env), timeoutMs, { ...DEFAULT_RETRY, budgetMs });
  }

  private async ask<T>(call: () => Promise<T>): Promise<T> {
    const base = this.client.baseUrl;
    if ((downUntil.get(base) ?? 0) > Date.now()) throw new Error(`${base} did not answer a moment ago`);
    try {
      const out = await call();
      downUntil.delete(base);
      return out;
    } catch (e) {
      // only an unreachable server: a missing artifact or a refused filter says nothing about the next call
      if (!(e instanceof MlflowHttpError) || e.transient) downUntil.set(base, Date.now() + DOWN_MS);
      throw e;
    }
  }

  async runs(experiment: string, query: RunQuery = {}): Promise<StoredRun[]> {
    return this.ask(async () => {
      const exp = await this.client.getExperimentByName(experiment);
      if (!exp) return [];
      const found = await this.client.searchRuns([exp.experiment_id], searchFilter(query));
      return found
        .map(storedFromServer)
        .filter((r) => matchesQuery(r, query))
        .sort(byNewest);
    });
  }

  async readText(run: StoredRun, artifactPath: string): Promise<string | undefined> {
    if (!run.artifacts) return undefined;
    return this.ask(() => this.client.downloadArtifact(run.artifacts, artifactPath))
      .then((b) => b.toString('utf8'))
      .catch(() => undefined);
  }
}

function storedFromServer(r: RestRun): StoredRun {
  const tags = Object.fromEntries((r.data.tags ?? []).map((t) => [t.key, t.value]));
  return {
    runId: r.info.run_id,
    experimentId: r.info.experiment_id,
    runName: r.info.run_name ?? tags['mlflow.runName'] ?? '',
    status: r.info.status,
    startTime: r.info.start_time ?? 0,
    tags,
    // runs/search returns each metric's latest point: the one with the largest step
    lastSteps: Object.fromEntries((r.data.metrics ?? []).map((m) => [m.key, m.step])),
    artifacts: r.info.artifact_uri ?? '',
  };
}

export interface RunFinderOptions {
  /** Credentials of a server (MLFLOW_TRACKING_USERNAME, …); default process.env. */
  readonly env?: NodeJS.ProcessEnv;
  /** Per HTTP attempt (default 15 s). */
  readonly timeoutMs?: number;
  /**
   * Retries of one lookup (default 5 s): short, because a failed lookup only costs what a first run does (a new
   * parent, no skip) while a long one would stall every point of a sweep over a down server.
   */
  readonly retryBudgetMs?: number;
}

/** The finder for a tracker's store (`Tracker.runStore()`). */
export function runFinder(where: RunStoreLocation, options: RunFinderOptions = {}): RunFinder {
  if (where.kind === 'mlflow-file') return new FileStoreFinder(where.root);
  const env = options.env ?? process.env;
  return new ServerFinder(where.uri, env, options.timeoutMs ?? 15_000, options.retryBudgetMs ?? 5_000);
}
