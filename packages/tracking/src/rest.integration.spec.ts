/**
 * The REST client, spool and push against a real `mlflow server` (SQLite, proxied artifacts) started
 * by scripts/mlflow-server.sh, behind a loopback FaultProxy that records requests and injects 503s.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrackingError } from '@niwt/core';
import { FileStoreTracker } from './file-store.js';
import { readLocalRun } from './read.js';
import { RedactingTracker, Redactor } from './redact.js';
import { secretValuesFromEnv } from './credentials.js';
import { MlflowRestClient } from './rest/client.js';
import { DEFAULT_RETRY } from './rest/http.js';
import { RestTracker } from './rest-tracker.js';
import { pushLocalRun } from './push.js';
import { syncSpool } from './sync-spool.js';
import { RUN_KEY_TAG } from './spool/spool.js';
import { FaultProxy } from './testing/proxy.js';
import { MlflowTestServer } from './testing/server.js';
import type { LogBatch } from './rest/types.js';

let tmp: string;
let server: MlflowTestServer;
let proxy: FaultProxy;
let direct: MlflowRestClient;

const fast = { ...DEFAULT_RETRY, baseDelayMs: 20, budgetMs: 10_000 };

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-rest-it-'));
  server = await MlflowTestServer.start(path.join(tmp, 'server'));
  proxy = await FaultProxy.start(server.uri);
  direct = new MlflowRestClient({ baseUrl: server.uri, credentials: {}, timeoutMs: 10_000, retry: fast });
});

afterAll(async () => {
  await proxy?.close();
  await server?.stop();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

const tracker = (name: string, extra: Partial<ConstructorParameters<typeof RestTracker>[0]> = {}): RestTracker =>
  new RestTracker({
    uri: proxy.uri,
    spoolDir: path.join(tmp, `spool-${name}`),
    retryBudgetMs: 10_000,
    flushIntervalMs: 50,
    env: {},
    ...extra,
  });

async function runByKey(experiment: string, key: string): Promise<string> {
  const exp = await direct.getExperimentByName(experiment);
  const runs = await direct.searchRuns([exp?.experiment_id ?? ''], `tags.\`${RUN_KEY_TAG}\` = '${key}'`);
  expect(runs).toHaveLength(1);
  return runs[0].info.run_id;
}

describe('MlflowRestClient', () => {
  it('get-or-create of one experiment from 6 concurrent callers yields one id', async () => {
    const ids = await Promise.all(Array.from({ length: 6 }, () => direct.getOrCreateExperiment('race')));
    expect(new Set(ids.map((e) => e.experiment_id)).size).toBe(1);
    const all = await direct.searchRuns([ids[0].experiment_id]);
    expect(all).toHaveLength(0);
  });

  it('logs a 2,000-metric, 150-param run in 4 batches within the limits', async () => {
    const t = tracker('big', { flushIntervalMs: 600_000 }); // only end() sends: the batch layout is deterministic
    const run = await t.startRun({ experiment: 'big' });
    await run.logParams(Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`p${i}`, i])));
    await run.logMetrics(Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`m${i}`, i / 7])), 3);
    const before = proxy.calls('runs/log-batch').length;
    await run.end('FINISHED');
    const bodies = proxy
      .calls('runs/log-batch')
      .slice(before)
      .map((r) => ({ bytes: r.body.length, b: JSON.parse(r.body.toString()) as LogBatch }));
    expect(bodies.map(({ b }) => [b.params.length, b.metrics.length, b.tags.length])).toEqual([
      [100, 0, 0],
      [50, 950, 0],
      [0, 1000, 0],
      [0, 50, 0],
    ]);
    for (const { bytes } of bodies) expect(bytes).toBeLessThan(1_000_000);
    const back = await direct.getRun(run.runId);
    expect(back.info.status).toBe('FINISHED');
    expect(back.data.params).toHaveLength(150);
    expect(back.data.metrics).toHaveLength(2000);
    expect(back.data.metrics?.find((m) => m.key === 'm1999')).toMatchObject({ value: 1999 / 7, step: 3 });
  });

  it('rejects an over-long key with a message naming it, before anything is sent', async () => {
    const t = tracker('long');
    const run = await t.startRun({ experiment: 'long' });
    const key = `k${'x'.repeat(250)}`;
    await expect(run.logMetrics({ [key]: 1 })).rejects.toThrow(TrackingError);
    await expect(run.logParams({ [key]: 1 })).rejects.toThrow(
      `invalid param key "${key}": it is 251 characters long, MLflow allows at most 250`,
    );
    await run.end('FINISHED');
    expect((await direct.getRun(run.runId)).data.metrics ?? []).toHaveLength(0);
  });

  it(
    'retries 503s and writes every point exactly once when responses are lost after the server applied ' + 'them',
    async () => {
      const t = tracker('lost');
      const run = await t.startRun({ experiment: 'lost', runName: 'lossy' });
      proxy.inject('unavailable', 3, (r) => r.url.includes('log-batch'));
      proxy.inject('lose-response', 2, (r) => r.url.includes('log-batch'));
      for (let s = 0; s < 30; s++) await run.logMetrics({ loss: 1 / (s + 1), acc: s / 30 }, s);
      await run.end('FINISHED');
      const h = await direct.getMetricHistory(run.runId, 'loss');
      expect(h.map((m) => m.step)).toEqual(Array.from({ length: 30 }, (_, s) => s));
      expect((await direct.getMetricHistory(run.runId, 'acc')).length).toBe(30);
      const statuses = proxy.calls('runs/log-batch').map((r) => r.status);
      // A resend after a lost answer may find every point on the server and need no call: faults can be left over.
      expect(statuses.filter((s) => s === 503).length).toBe(5 - proxy.clearFaults());
      expect(statuses.filter((s) => s === 503).length).toBeGreaterThanOrEqual(4);
      // The two lost answers were resent only after checking the server's history: points it had were skipped.
      expect(t.syncer.stats.uncertainBatches + t.liveSyncer.stats.uncertainBatches).toBeGreaterThanOrEqual(2);
      expect(t.syncer.stats.duplicatesSkipped + t.liveSyncer.stats.duplicatesSkipped).toBeGreaterThan(0);
      expect((await direct.getRun(run.runId)).info.status).toBe('FINISHED');
    },
  );

  it('creates one run when the answer to runs/create is lost after the server applied it', async () => {
    const t = tracker('lost-create');
    proxy.inject('lose-response', 1, (r) => r.url.includes('runs/create'));
    const run = await t.startRun({ experiment: 'lost-create', runName: 'once' });
    await run.logMetrics({ x: 1 }, 0);
    await run.end('FINISHED');
    const exp = await direct.getExperimentByName('lost-create');
    const runs = await direct.searchRuns([exp?.experiment_id ?? '']);
    expect(runs.map((r) => r.info.run_id)).toEqual([run.runId]);
    expect(t.liveSyncer.stats).toMatchObject({ runsCreated: 0, runsAdopted: 1 });
  });

  it('spools while the server is unreachable and syncs later without duplicate runs or points', async () => {
    const spoolDir = path.join(tmp, 'spool-offline');
    const dead = new RestTracker({ uri: 'http://127.0.0.1:9', spoolDir, retryBudgetMs: 300, env: {} });
    const parent = await dead.startRun({ experiment: 'offline', runName: 'p' });
    expect(parent.runId).toMatch(/^[0-9a-f]{32}$/);
    const child = await dead.startRun({ experiment: 'offline', runName: 'c', parentRunId: parent.runId });
    await parent.logParams({ lr: 0.1 });
    for (let s = 0; s < 5; s++) await child.logMetrics({ loss: s }, s);
    await child.logText('notes/a.txt', 'hello');
    await child.end('FINISHED');
    await parent.end('FINISHED');
    // Point the spooled runs at the live server: the spool records the URI, so rewrite it as a user would with --uri.
    for (const d of await fs.readdir(spoolDir)) {
      const f = path.join(spoolDir, d, 'run.json');
      await fs.writeFile(f, (await fs.readFile(f, 'utf8')).replace('http://127.0.0.1:9', server.uri));
    }
    const r1 = await syncSpool({ spoolDir, retryBudgetMs: 5_000, env: {} });
    expect(r1.failed).toEqual([]);
    expect(r1.done).toHaveLength(2);
    const r2 = await syncSpool({ spoolDir, retryBudgetMs: 5_000, env: {} });
    expect(r2.stats.batches).toBe(0);
    const pid = await runByKey('offline', parent.runId);
    const cid = await runByKey('offline', child.runId);
    const c = await direct.getRun(cid);
    expect(c.data.tags?.find((t) => t.key === 'mlflow.parentRunId')?.value).toBe(pid);
    expect((await direct.getMetricHistory(cid, 'loss')).map((m) => m.value)).toEqual([0, 1, 2, 3, 4]);
    expect((await direct.downloadArtifact(c.info.artifact_uri ?? '', 'notes/a.txt')).toString()).toBe('hello');
    expect((await direct.getRun(pid)).data.params).toEqual([{ key: 'lr', value: '0.1' }]);
  });
});

describe('push and redaction', () => {
  it('pushes a local run with its child; a second push finds them instead of duplicating', async () => {
    const store = new FileStoreTracker(path.join(tmp, 'mlruns'));
    const parent = await store.startRun({ experiment: 'pushed', runName: 'parent' });
    await parent.logParams({ seed: 7 });
    await parent.logMetrics({ acc: 0.5 }, 0);
    await parent.logMetrics({ acc: NaN }, 1);
    await parent.logText('config/config.yaml', 'seed: 7\n');
    const child = await store.startRun({ experiment: 'pushed', runName: 'child', parentRunId: parent.runId });
    for (let s = 0; s < 10; s++) await child.logMetrics({ loss: 10 - s }, s);
    await child.end('FINISHED');
    await parent.end('FINISHED');
    const opts = { to: server.uri, spoolDir: path.join(tmp, 'spool-push'), env: {}, retryBudgetMs: 5_000 };
    const first = await pushLocalRun(parent.location, opts);
    expect(first.runs.map((r) => r.runName)).toEqual(['parent', 'child']);
    await fs.rm(opts.spoolDir, { recursive: true });
    const second = await pushLocalRun(parent.location, opts);
    expect(second.runs.map((r) => r.serverRunId)).toEqual(first.runs.map((r) => r.serverRunId));
    expect(second.stats.runsCreated).toBe(0);
    expect(second.stats.duplicatesSkipped).toBe(12);
    const [p, c] = first.runs;
    expect((await direct.getMetricHistory(c.serverRunId, 'loss')).length).toBe(10);
    expect((await direct.getMetricHistory(p.serverRunId, 'acc')).map((m) => m.value)).toEqual([0.5, 'NaN']);
    const cr = await direct.getRun(c.serverRunId);
    expect(cr.data.tags?.find((t) => t.key === 'mlflow.parentRunId')?.value).toBe(p.serverRunId);
    const pr = await direct.getRun(p.serverRunId);
    expect(await direct.listArtifacts(pr.info.artifact_uri ?? '')).toEqual(['config/config.yaml']);
    expect(pr.info.start_time).toBe((await readLocalRun(parent.location)).startTime);
  });

  it(
    'keeps env credentials and secret config values out of params, tags and artifacts, and sends them as ' + 'auth',
    async () => {
      const env = { MLFLOW_TRACKING_TOKEN: 'tok-3f9a7c1e55', MY_API_KEY: 'ak-981273645' };
      const red = new Redactor(['dataset.auth'], secretValuesFromEnv(env));
      const t = new RedactingTracker(tracker('secret', { env }), red);
      const run = await t.startRun({ experiment: 'secret', tags: { note: 'token is tok-3f9a7c1e55' } });
      await run.logParams({
        'db.password': 'hunter22',
        'dataset.auth.user': 'bob',
        'dataset.root': '/data',
        url: 'https://x?k=ak-981273645',
      });
      await run.setTags({ 'ci.token': 'tok-3f9a7c1e55' });
      await run.logText('config/config.yaml', 'db:\n  password: hunter22\n  host: h\nurl: https://x?k=ak-981273645\n');
      const file = path.join(tmp, 'report.txt');
      await fs.writeFile(file, 'auth: Bearer tok-3f9a7c1e55\n');
      await run.logArtifact(file, 'reports');
      await run.end('FINISHED');
      const back = await direct.getRun(run.runId);
      const text = JSON.stringify(back);
      const arts = await direct.listArtifacts(back.info.artifact_uri ?? '');
      const contents = (await Promise.all(arts.map((a) => direct.downloadArtifact(back.info.artifact_uri ?? '', a))))
        .map(String)
        .join('\n');
      for (const secret of ['tok-3f9a7c1e55', 'ak-981273645', 'hunter22', 'bob']) {
        expect(text).not.toContain(secret);
        expect(contents).not.toContain(secret);
      }
      expect(Object.fromEntries((back.data.params ?? []).map((p) => [p.key, p.value]))).toEqual({
        'db.password': '***',
        'dataset.auth.user': '***',
        'dataset.root': '/data',
        url: 'https://x?k=***',
      });
      expect(contents).toContain('password: ***');
      const auth = proxy.requests
        .filter((r) => r.headers.authorization !== undefined)
        .map((r) => r.headers.authorization);
      expect(auth.length).toBeGreaterThan(0);
      expect(new Set(auth)).toEqual(new Set(['Bearer tok-3f9a7c1e55']));
    },
  );
});

describe('RestTracker.resumeRun', () => {
  it(
    'reopens a killed server run under the same id (RUNNING), continues its metrics, and ends it ' + 'FINISHED',
    async () => {
      const run = await tracker('resume-a').startRun({ experiment: 'resume' });
      await run.logMetrics({ loss: 2 }, 1);
      await run.end('KILLED');
      expect((await direct.getRun(run.runId)).info.status).toBe('KILLED');
      // another process (another tracker and spool) continues it
      const again = await tracker('resume-b').resumeRun(run.runId);
      expect(again.runId).toBe(run.runId);
      expect((await direct.getRun(run.runId)).info.status).toBe('RUNNING');
      await again.logMetrics({ loss: 1 }, 2);
      await again.end('FINISHED');
      const after = await direct.getRun(run.runId);
      expect(after.info.status).toBe('FINISHED');
      expect((await direct.getMetricHistory(run.runId, 'loss')).map((m) => [m.step, m.value])).toEqual([
        [1, 2],
        [2, 1],
      ]);
      await expect(tracker('resume-c').resumeRun('0'.repeat(32))).rejects.toThrow(
        /^resumeRun: cannot reopen run 0{32} on /,
      );
    },
  );
});
