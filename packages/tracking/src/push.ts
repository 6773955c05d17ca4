/**
 * `niwt runs push`: copies runs of a local file store (with their nested children) to a tracking
 * server. Each run becomes a spooled run keyed by its local run id (sent as `niwt.run_key`), and the
 * syncer replays it, so a push that is interrupted resumes, and pushing the same run twice finds the
 * first copy instead of making a second one (metric points are checked against the server).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { TrackingError } from '@niwt/core';
import { parseServerUri, secretValuesFromEnv } from './credentials.js';
import { toExperimentMeta } from './meta.js';
import { META_FILE, readYamlFile } from './store.js';
import { MLFLOW_TAGS } from './file-store.js';
import { listLocalRuns, readLocalRun, type LocalRun } from './read.js';
import { Redactor } from './redact.js';
import { makeClient } from './rest-tracker.js';
import { DEFAULT_RETRY } from './rest/http.js';
import { toWireDouble } from './rest/types.js';
import { SpoolRun, RUN_KEY_TAG } from './spool/spool.js';
import { Syncer, type SyncStats } from './spool/sync.js';

export interface PushOptions {
  /** `http(s)://host:port`. */
  readonly to: string;
  /** Spool root; pushes live in `<spoolDir>/push/<server hash>/`. */
  readonly spoolDir: string;
  readonly timeoutMs?: number;
  readonly retryBudgetMs?: number;
  readonly secretKeys?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

export interface PushResult {
  readonly runs: {
    readonly localRunId: string;
    readonly serverRunId: string;
    readonly runName: string;
    readonly parent?: string;
  }[];
  readonly stats: SyncStats;
  readonly seconds: number;
}

/** Runs of `run`'s store whose `mlflow.parentRunId` chain leads to `run`, parents before children. */
async function withDescendants(run: LocalRun): Promise<LocalRun[]> {
  const storeRoot = path.dirname(path.dirname(run.dir));
  const all = await listLocalRuns(storeRoot);
  const out = [run];
  for (let i = 0; i < out.length; i++) out.push(...all.filter((r) => r.tags[MLFLOW_TAGS.parentRunId] === out[i].runId));
  return out;
}

async function spoolLocalRun(
  root: string,
  run: LocalRun,
  uri: string,
  parentKey: string | undefined,
  redactor: Redactor,
): Promise<SpoolRun> {
  const existing = new SpoolRun(path.join(root, run.runId));
  if (
    await fs.stat(path.join(existing.dir, 'run.json')).then(
      () => true,
      () => false,
    )
  )
    return existing;
  const tags = redactor.entries(
    Object.fromEntries(Object.entries(run.tags).filter(([k]) => k !== MLFLOW_TAGS.parentRunId && k !== RUN_KEY_TAG)),
  ) as Record<string, string>;
  const spool = await SpoolRun.create(root, {
    version: 1,
    key: run.runId,
    uri,
    experiment: await experimentName(run),
    runName: run.runName,
    startTime: run.startTime,
    user: run.userId,
    tags,
    ...(parentKey !== undefined ? { parentKey } : {}),
  });
  // The server may hold this run from a push whose spool was deleted: look it up by key first.
  await spool.saveState({ ...(await spool.state()), createAttempts: 1 });
  const params = redactor.entries(run.params) as Record<string, string>;
  await spool.append({ t: 'entities', params: Object.entries(params).map(([key, value]) => ({ key, value })) });
  const metrics = Object.entries(run.metrics).flatMap(([key, points]) =>
    points.map((p) => ({ key, value: toWireDouble(p.value), timestamp: p.timestamp, step: p.step })),
  );
  await spool.append({ t: 'entities', metrics });
  let n = 0;
  for (const rel of run.artifacts) {
    const src = path.join(run.dir, 'artifacts', rel);
    const red = redactor.fileText(await fs.readFile(src));
    let file = src;
    if (red !== undefined) {
      file = `files/${n++}/${path.posix.basename(rel)}`;
      await fs.mkdir(path.dirname(path.join(spool.dir, file)), { recursive: true });
      await fs.writeFile(path.join(spool.dir, file), red);
    }
    await spool.append({ t: 'artifact', file, path: rel });
  }
  if (run.status !== 'RUNNING')
    await spool.append({ t: 'end', status: run.status, endTime: run.endTime ?? run.startTime });
  return spool;
}

async function experimentName(run: LocalRun): Promise<string> {
  const dir = path.dirname(run.dir);
  const meta = toExperimentMeta(await readYamlFile(path.join(dir, META_FILE)));
  if (!meta)
    throw new TrackingError(
      `${dir}/${META_FILE} is missing or unreadable; is ${run.dir} a run of an MLflow file store?`,
    );
  return meta.name;
}

/** Pushes one local run (a run folder) and its nested runs to `options.to`. */
export async function pushLocalRun(runDir: string, options: PushOptions): Promise<PushResult> {
  const t0 = performance.now();
  const env = options.env ?? process.env;
  const server = parseServerUri(options.to, env, '--to');
  const root = path.join(
    options.spoolDir,
    'push',
    createHash('sha256').update(server.baseUrl).digest('hex').slice(0, 12),
  );
  const redactor = new Redactor(options.secretKeys ?? [], secretValuesFromEnv(env, options.to));
  const runs = await withDescendants(await readLocalRun(runDir));
  const spools: SpoolRun[] = [];
  for (const r of runs) {
    const parent = r === runs[0] ? undefined : r.tags[MLFLOW_TAGS.parentRunId];
    spools.push(await spoolLocalRun(root, r, server.baseUrl, parent, redactor));
  }
  const client = makeClient(server, options.timeoutMs ?? 30_000, {
    ...DEFAULT_RETRY,
    budgetMs: options.retryBudgetMs ?? DEFAULT_RETRY.budgetMs,
  });
  const syncer = new Syncer(() => client, root);
  const out: PushResult['runs'][number][] = [];
  for (const [i, s] of spools.entries()) {
    await syncer.syncRun(s);
    const st = await s.state();
    out.push({
      localRunId: runs[i].runId,
      serverRunId: st.runId ?? '',
      runName: runs[i].runName,
      ...(i > 0 ? { parent: runs[i].tags[MLFLOW_TAGS.parentRunId] } : {}),
    });
  }
  return { runs: out, stats: syncer.stats, seconds: (performance.now() - t0) / 1000 };
}
