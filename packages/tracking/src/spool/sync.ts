/**
 * Replays spooled runs to their server, exactly once.
 *
 * - Creation: `createAttempts` is saved before runs/create; when it is > 0 the run is first looked up
 *   by its `niwt.run_key` tag, so a create whose answer was lost never makes a second run.
 * - Entities: batches are rebuilt from the cursor (deterministically, so a resent batch covers what
 *   was in flight). Before a call the range is saved as `inflight`, after it the cursor moves. A batch
 *   that may have reached the server (timeout, reset, 5xx) is resent only after dropping the metric
 *   points the server already has (`metrics/get-history`): MLflow appends metrics, so a blind resend
 *   would duplicate them on a file-store-backed server. Params (same value) and tags are idempotent.
 * - Artifacts are PUTs (overwrites); the end is runs/update: both idempotent.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { TrackingError } from '@niwt/core';
import type { MlflowRestClient } from '../rest/client.js';
import { splitBatches, type BatchEntity } from '../rest/batch.js';
import { MlflowHttpError } from '../rest/http.js';
import { fromWireDouble, type LogBatch, type WireMetric } from '../rest/types.js';
import { withRunLock } from './lock.js';
import {
  listSpoolRuns,
  opItems,
  RUN_KEY_TAG,
  SpoolRun,
  type Cursor,
  type SpoolMeta,
  type SpoolState,
} from './spool.js';

export interface SyncStats {
  runsCreated: number;
  runsAdopted: number;
  batches: number;
  metrics: number;
  params: number;
  tags: number;
  artifacts: number;
  /** Metric points found on the server already and not sent again. */
  duplicatesSkipped: number;
  /** log-batch calls whose answer was lost (the server may have applied them). */
  uncertainBatches: number;
}

export const emptyStats = (): SyncStats => ({
  runsCreated: 0,
  runsAdopted: 0,
  batches: 0,
  metrics: 0,
  params: 0,
  tags: 0,
  artifacts: 0,
  duplicatesSkipped: 0,
  uncertainBatches: 0,
});

export interface SyncReport {
  readonly synced: string[];
  readonly done: string[];
  readonly failed: { readonly key: string; readonly error: string }[];
  readonly stats: SyncStats;
}

const MAX_DOUBLE = 1.7976931348623157e308;

/** Identity of a metric point; SQL stores turn ±inf into ±max double, so both compare equal. */
function pointId(m: WireMetric): string {
  const v = fromWireDouble(m.value);
  const s = Number.isNaN(v) ? 'nan' : v >= MAX_DOUBLE ? 'inf' : v <= -MAX_DOUBLE ? '-inf' : String(v);
  return `${m.step}|${m.timestamp}|${s}`;
}

const before = (a: Cursor, b: Cursor): boolean => a.offset < b.offset || (a.offset === b.offset && a.item < b.item);

export class Syncer {
  readonly stats = emptyStats();

  constructor(
    private readonly clientFor: (uri: string) => MlflowRestClient,
    readonly spoolRoot: string,
  ) {}

  /** The run's server id, creating the run (and its parent) when needed. */
  ensureCreated(run: SpoolRun): Promise<SpoolState> {
    return withRunLock(run.dir, () => this.createLocked(run));
  }

  private async createLocked(run: SpoolRun): Promise<SpoolState> {
    let state = await run.state();
    if (state.runId !== undefined) return state;
    const meta = await run.meta();
    const client = this.clientFor(meta.uri);
    let parentId = meta.parentRunId;
    if (meta.parentKey !== undefined) {
      const parent = new SpoolRun(path.join(this.spoolRoot, meta.parentKey));
      parentId = (await this.ensureCreated(parent)).runId;
    }
    const exp = await client.getOrCreateExperiment(meta.experiment);
    let info = undefined as Awaited<ReturnType<MlflowRestClient['createRun']>> | undefined;
    let adopted = false;
    const { budgetMs, baseDelayMs, maxDelayMs } = client.http.options.retry;
    const t0 = Date.now();
    for (let attempt = 0; !info; attempt++) {
      if (state.createAttempts > 0) {
        const found = await client.searchRuns([exp.experiment_id], `tags.\`${RUN_KEY_TAG}\` = '${meta.key}'`, 'ALL');
        if (found.length > 0) {
          info = found[0].info;
          adopted = true;
          this.stats.runsAdopted++;
          break;
        }
      }
      state = { ...state, createAttempts: state.createAttempts + 1 };
      await run.saveState(state);
      const tags = {
        ...meta.tags,
        [RUN_KEY_TAG]: meta.key,
        ...(parentId !== undefined ? { 'mlflow.parentRunId': parentId } : {}),
      };
      try {
        info = await client.createRun({
          experimentId: exp.experiment_id,
          runName: meta.runName,
          startTime: meta.startTime,
          userId: meta.user,
          tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
        });
        this.stats.runsCreated++;
      } catch (e) {
        const wait = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * Math.random();
        if (!(e instanceof MlflowHttpError && e.transient) || Date.now() - t0 + wait > budgetMs) throw e;
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    if (!info) throw new TrackingError(`run ${meta.key}: not created`);
    state = {
      ...state,
      runId: info.run_id,
      experimentId: info.experiment_id,
      artifactUri: info.artifact_uri,
      adopted: adopted || state.adopted,
    };
    await run.saveState(state);
    return state;
  }

  /** Replays one run from its cursor; resolves to whether the run is complete on the server. */
  syncRun(run: SpoolRun): Promise<boolean> {
    return withRunLock(run.dir, () => this.syncLocked(run));
  }

  private async syncLocked(run: SpoolRun): Promise<boolean> {
    let state = await this.createLocked(run);
    const runId = state.runId as string;
    const client = this.clientFor((await run.meta()).uri);
    const ops = await run.opsFrom(state.cursor.offset);
    const dedupeUntil = state.inflight?.to;
    const history = new Map<string, Set<string>>();
    const save = async (s: SpoolState): Promise<void> => {
      state = s;
      await run.saveState(s);
    };
    let ended = false;
    let i = 0;
    while (i < ops.length) {
      const o = ops[i];
      if (o.op.t === 'entities') {
        const flat: { e: BatchEntity; after: Cursor }[] = [];
        let last: Cursor = state.cursor;
        for (; i < ops.length; i++) {
          const cur = ops[i];
          if (cur.op.t !== 'entities') break;
          const items = opItems(cur.op);
          const first = cur.offset === state.cursor.offset ? state.cursor.item : 0;
          for (let k = first; k < items.length; k++) {
            flat.push({
              e: items[k],
              after: k + 1 === items.length ? { offset: cur.next, item: 0 } : { offset: cur.offset, item: k + 1 },
            });
          }
          last = { offset: cur.next, item: 0 };
        }
        for (const b of splitBatches(flat.map((f) => f.e))) {
          const to = flat[b.to - 1].after;
          let check = state.adopted === true || (dedupeUntil !== undefined && before(state.cursor, dedupeUntil));
          const { budgetMs, baseDelayMs, maxDelayMs } = client.http.options.retry;
          const t0 = Date.now();
          for (let attempt = 0; ; attempt++) {
            const batch = check ? await this.dedupe(client, runId, b.batch, history) : b.batch;
            await save({ ...state, inflight: { from: state.cursor, to } });
            try {
              if (batch.metrics.length + batch.params.length + batch.tags.length > 0)
                await client.logBatch(runId, batch);
              this.count(batch);
              if (check) for (const m of batch.metrics) history.get(m.key)?.add(pointId(m));
              break;
            } catch (e) {
              if (!(e instanceof MlflowHttpError)) throw e;
              if (!e.maybeApplied) await save({ ...state, inflight: undefined });
              const wait = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * Math.random();
              if (!e.transient || !e.maybeApplied || Date.now() - t0 + wait > budgetMs) throw e;
              // The server may hold this batch: re-read its history and resend only what is missing.
              this.stats.uncertainBatches++;
              check = true;
              for (const m of b.batch.metrics) history.delete(m.key);
              await new Promise((r) => setTimeout(r, wait));
            }
          }
          await save({ ...state, cursor: to, inflight: undefined });
        }
        if (before(state.cursor, last)) await save({ ...state, cursor: last });
        continue;
      }
      if (o.op.t === 'artifact') {
        const file = run.file(o.op);
        const body = await fs.readFile(file).catch((e: unknown) => {
          throw new TrackingError(
            `spooled artifact ${file} is missing (${(e as Error).message}); the spool at ${run.dir} is damaged`,
            { cause: e },
          );
        });
        await client.uploadArtifact(state.artifactUri ?? '', o.op.path, body);
        this.stats.artifacts++;
      } else {
        await client.updateRun(runId, o.op.status, o.op.endTime);
        ended = true;
      }
      await save({ ...state, cursor: { offset: o.next, item: 0 } });
      i++;
    }
    if (ended || state.done) {
      await save({ ...state, done: true, adopted: false, lastError: undefined });
      return true;
    }
    return false;
  }

  private count(b: LogBatch): void {
    this.stats.batches++;
    this.stats.metrics += b.metrics.length;
    this.stats.params += b.params.length;
    this.stats.tags += b.tags.length;
  }

  private async dedupe(
    client: MlflowRestClient,
    runId: string,
    batch: LogBatch,
    history: Map<string, Set<string>>,
  ): Promise<LogBatch> {
    for (const key of new Set(batch.metrics.map((m) => m.key))) {
      if (!history.has(key)) history.set(key, new Set((await client.getMetricHistory(runId, key)).map(pointId)));
    }
    const metrics = batch.metrics.filter((m) => {
      const known = history.get(m.key)?.has(pointId(m)) === true;
      if (known) this.stats.duplicatesSkipped++;
      return !known;
    });
    return { ...batch, metrics };
  }

  /** Replays every spooled run (parents first); a failing run does not stop the others. */
  async syncAll(filter?: (meta: SpoolMeta) => boolean): Promise<SyncReport> {
    const synced: string[] = [];
    const done: string[] = [];
    const failed: { key: string; error: string }[] = [];
    // A server found unreachable is not tried again for the next runs: each would wait out the retry budget.
    const down = new Map<string, string>();
    for (const run of await listSpoolRuns(this.spoolRoot)) {
      const meta = await run.meta();
      if (filter && !filter(meta)) continue;
      const known = down.get(meta.uri);
      if (known !== undefined) {
        failed.push({ key: run.key, error: known });
        continue;
      }
      try {
        if (await this.syncRun(run)) done.push(run.key);
        synced.push(run.key);
      } catch (e) {
        const error = e instanceof Error ? e.message : String(e);
        failed.push({ key: run.key, error });
        if (e instanceof MlflowHttpError && e.transient && e.status === undefined) down.set(meta.uri, error);
        await run
          .state()
          .then((s) => run.saveState({ ...s, lastError: error }))
          .catch(() => undefined);
      }
    }
    return { synced, done, failed, stats: this.stats };
  }
}
