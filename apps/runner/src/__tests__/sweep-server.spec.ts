/**
 * `niwt sweep` on a real MLflow tracking server (scripts/mlflow-server.sh): a rerun attaches to the sweep's one
 * parent run and skips the finished points (their results read back through the proxied artifacts); a point run
 * left RUNNING by a dead process is ended KILLED, with error.txt and its method runs, before the point runs again;
 * a server that does not answer leaves a sweep's lookups as a first run's (new parent, no skip, nothing ended).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { DEFAULT_RETRY, freePort, MlflowRestClient, MlflowTestServer, type RestRun } from '@niwt/tracking';
import { findFinishedRun, trackerOf } from '../finished.js';
import { prepareSweep, runSweep } from '../sweep.js';
import { killStaleRuns, openSweepParent, SWEEP_TAGS } from '../sweep-runs.js';
import { tempDir } from './helpers.js';

const GRID = `experiment: EXP
seed: 5
dataset: { name: shapes, imagesPerClass: 12, seenClasses: 6, unseenClasses: 3 }
backbone: { name: small-cnn, train: { epochs: 2 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 50 }]
explain: { enabled: false }
sweep:
  methods.0.lambda: [0, 1.0e-2]
`;
const POINTS = ['lambda=0', 'lambda=0.01'];

let root: string;
let server: MlflowTestServer;
let client: MlflowRestClient;

beforeAll(async () => {
  root = tempDir('sweep-server');
  server = await MlflowTestServer.start(path.join(root, 'server'), { timeoutMs: 540_000 });
  client = new MlflowRestClient({
    baseUrl: server.uri,
    credentials: {},
    timeoutMs: 10_000,
    retry: { ...DEFAULT_RETRY, budgetMs: 10_000 },
  });
});

afterAll(async () => {
  await server?.stop();
  if (root) await fs.rm(root, { recursive: true, force: true });
});

/** The sweep's config for `experiment`, logging to `uri`; one cache for all tests (the seen network once). */
function sweepOptions(experiment: string, uri: string) {
  return {
    inlineText: GRID.replace('EXP', experiment),
    cwd: root,
    overrides: [`cacheDir=${path.join(root, 'cache')}`, `tracking.uri=${uri}`, `tracking.spoolDir=${root}/spool`],
    logger: silentLogger,
  };
}

const tagsOf = (r: RestRun): Record<string, string> =>
  Object.fromEntries((r.data.tags ?? []).map((t) => [t.key, t.value]));

async function serverRuns(experiment: string): Promise<RestRun[]> {
  const exp = await client.getExperimentByName(experiment);
  return exp ? client.searchRuns([exp.experiment_id]) : [];
}

/** The pid of a process that has exited (the owner of an abandoned run). */
async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => p.once('exit', r));
  return p.pid!;
}

describe('niwt sweep on a tracking server', () => {
  it('a rerun attaches to the one parent run and skips the finished points, reusing their results', async () => {
    const opts = sweepOptions('sweep-rerun', server.uri);
    const first = await runSweep('grid.yaml', opts);
    expect([first.reattached, first.skipped, first.points.map((p) => p.name)]).toEqual([false, 0, POINTS]);
    const before = await serverRuns('sweep-rerun');
    const parents = before.filter((r) => !tagsOf(r)['mlflow.parentRunId']);
    expect(parents.map((r) => [r.info.run_id, r.info.status])).toEqual([[first.sweepRunId, 'FINISHED']]);
    const points = before.filter((r) => tagsOf(r)['mlflow.parentRunId'] === first.sweepRunId);
    expect(points.map((r) => [tagsOf(r)[SWEEP_TAGS.point], r.info.status]).sort()).toEqual(
      POINTS.map((p) => [p, 'FINISHED']),
    );

    const again = await runSweep('grid.yaml', opts);
    expect([again.sweepRunId, again.reattached, again.skipped]).toEqual([first.sweepRunId, true, 2]);
    // the skipped points' results are the first runs' (read from results/results.json on the server)
    expect(again.points.map((p) => [p.name, p.runId, p.skipped])).toEqual(
      first.points.map((p) => [p.name, p.runId, true]),
    );
    expect(again.perPoint).toEqual(first.perPoint);
    expect(again.table).toBe(first.table);
    const after = await serverRuns('sweep-rerun');
    // no run was added: the same parent (FINISHED again), the same point and method runs
    expect(after.map((r) => r.info.run_id).sort()).toEqual(before.map((r) => r.info.run_id).sort());
    expect(after.find((r) => r.info.run_id === first.sweepRunId)?.info.status).toBe('FINISHED');
    expect(after.filter((r) => r.info.status !== 'FINISHED')).toEqual([]);
    const parent = await client.getRun(first.sweepRunId);
    const metric = (k: string): number | undefined => parent.data.metrics?.find((m) => m.key === k)?.value as number;
    expect([metric('runs_skipped'), metric('runs_executed')]).toEqual([2, 0]);
  });

  it('ends a point run left RUNNING by a dead process KILLED, with error.txt, before the point reruns', async () => {
    const experiment = 'sweep-killed';
    const opts = sweepOptions(experiment, server.uri);
    const s = await prepareSweep('grid.yaml', opts);
    // what a sweep process killed while it ran lambda=0 leaves: the parent and the point's runs RUNNING
    const { experiment_id: experimentId } = await client.getOrCreateExperiment(experiment);
    const kv = (tags: Record<string, string>): { key: string; value: string }[] =>
      Object.entries(tags).map(([key, value]) => ({ key, value }));
    const start = async (runName: string, tags: Record<string, string>): Promise<string> =>
      (await client.createRun({ experimentId, runName, startTime: Date.now(), tags: kv(tags) })).run_id;
    const parentId = await start(`sweep-${s.sweepHash.slice(0, 8)}`, { [SWEEP_TAGS.sweep]: s.sweepHash });
    const owner = `${os.hostname()}:${await deadPid()}`;
    const staleId = await start(POINTS[0], {
      'mlflow.parentRunId': parentId,
      'niwt.config_hash': s.exps[0].hash,
      [SWEEP_TAGS.sweep]: s.sweepHash,
      [SWEEP_TAGS.point]: POINTS[0],
      [SWEEP_TAGS.owner]: owner,
    });
    const staleMethodId = await start('niwt', {
      'mlflow.parentRunId': staleId,
      'niwt.config_hash': s.exps[0].hash,
      'niwt.method': 'niwt',
    });

    const r = await runSweep('grid.yaml', opts);
    expect([r.sweepRunId, r.reattached, r.skipped]).toEqual([parentId, true, 0]);
    const runs = await serverRuns(experiment);
    const status = (id: string): string | undefined => runs.find((x) => x.info.run_id === id)?.info.status;
    expect([status(parentId), status(staleId), status(staleMethodId)]).toEqual(['FINISHED', 'KILLED', 'KILLED']);
    const stale = runs.find((x) => x.info.run_id === staleId)!;
    const errorText = (await client.downloadArtifact(stale.info.artifact_uri!, 'error.txt')).toString('utf8');
    expect(errorText).toContain(`KILLED: the process running this point (${owner})`);
    // one FINISHED run per point under the one parent, the killed one beside it, nothing RUNNING
    const underParent = runs.filter((x) => tagsOf(x)['mlflow.parentRunId'] === parentId);
    const count = (point: string, st: string): number =>
      underParent.filter((x) => tagsOf(x)[SWEEP_TAGS.point] === point && x.info.status === st).length;
    expect(POINTS.map((p) => [count(p, 'FINISHED'), count(p, 'KILLED')])).toEqual([
      [1, 1],
      [1, 0],
    ]);
    expect(r.points.map((p) => p.runId).sort()).toEqual(
      underParent
        .filter((x) => x.info.status === 'FINISHED')
        .map((x) => x.info.run_id)
        .sort(),
    );
    expect(runs.filter((x) => x.info.status === 'RUNNING')).toEqual([]);
    expect(runs.filter((x) => !tagsOf(x)['mlflow.parentRunId']).map((x) => x.info.run_id)).toEqual([parentId]);
  });

  it('a server that does not answer: a new parent (spooled), no point skipped, nothing ended, no error', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const s = await prepareSweep('grid.yaml', sweepOptions('sweep-rerun', down));
    const exp = s.exps[0];
    expect(await findFinishedRun(exp, trackerOf(exp))).toBeUndefined();
    const opened = await openSweepParent(exp, s.tracker, s.sweepHash, {});
    expect(opened.reattached).toBe(false);
    expect(await killStaleRuns(exp, s.tracker, { parentRunId: opened.run.runId, hash: exp.hash })).toEqual([]);
    await opened.run.end('KILLED');
    // the same lookups against the live server find the first test's finished sweep
    const live = await prepareSweep('grid.yaml', sweepOptions('sweep-rerun', server.uri));
    expect((await findFinishedRun(live.exps[0], trackerOf(live.exps[0])))?.methods).toHaveLength(1);
  });
});
