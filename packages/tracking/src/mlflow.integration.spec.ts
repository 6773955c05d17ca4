/**
 * Checks a store written by FileStoreTracker against real MLflow (pinned by scripts/mlflow-venv.sh):
 * MlflowClient reads back every value, `mlflow migrate-filestore` converts it to SQLite, and
 * `mlflow ui` serves it over REST.
 * The first run creates the venv (a few minutes); later runs reuse it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStoreTracker } from './file-store.js';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MLFLOW_VERSION = '3.17.2';
/** Machines without Python or PyPI access can opt out; CI should not. */
const skip = process.env.NIWT_SKIP_MLFLOW === '1';

/** Reads the store with MlflowClient and prints JSON (floats as repr strings: JSON has no NaN). */
const READER = String.raw`
import json, sys
import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

uri, name = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
client = MlflowClient()
exp = client.get_experiment_by_name(name)

def artifacts(run_id, path=None):
    out = []
    for f in client.list_artifacts(run_id, path):
        out.extend(artifacts(run_id, f.path) if f.is_dir else [f.path])
    return out

runs = []
for r in client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL):
    full = client.get_run(r.info.run_id)
    runs.append({
        "run_id": full.info.run_id, "run_name": full.info.run_name, "status": full.info.status,
        "start_time": full.info.start_time, "end_time": full.info.end_time, "user_id": full.info.user_id,
        "lifecycle_stage": full.info.lifecycle_stage, "artifact_uri": full.info.artifact_uri,
        "params": full.data.params, "tags": full.data.tags,
        "latest": {k: repr(v) for k, v in full.data.metrics.items()},
        "history": {k: [[m.timestamp, repr(m.value), m.step] for m in client.get_metric_history(full.info.run_id, k)]
                    for k in full.data.metrics},
        "artifacts": sorted(artifacts(full.info.run_id)),
    })
df = mlflow.search_runs(experiment_names=[name])
print(json.dumps({
    "mlflow": mlflow.__version__,
    "experiment": {"id": exp.experiment_id, "name": exp.name, "stage": exp.lifecycle_stage,
                   "artifact_location": exp.artifact_location},
    "default": client.get_experiment("0").name,
    "experiments": sorted(e.name for e in client.search_experiments(view_type=ViewType.ALL)),
    "runs": runs,
    "search_runs_rows": len(df),
    "search_runs_json": df.to_json(),
}))
`;

interface ReadRun {
  run_id: string;
  run_name: string;
  status: string;
  start_time: number;
  end_time: number | null;
  user_id: string;
  lifecycle_stage: string;
  artifact_uri: string;
  params: Record<string, string>;
  tags: Record<string, string>;
  latest: Record<string, string>;
  history: Record<string, [number, string, number][]>;
  artifacts: string[];
}
interface ReadResult {
  mlflow: string;
  experiment: { id: string; name: string; stage: string; artifact_location: string };
  default: string;
  experiments: string[];
  runs: ReadRun[];
  search_runs_rows: number;
  search_runs_json: string;
}

let python: string;
let tmp: string;
let root: string;
let parentId: string;
let childId: string;
let experimentId: string;
let result: ReadResult;
let server: ChildProcess | undefined;
let serverLog = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const env = (): NodeJS.ProcessEnv => ({
  ...process.env,
  MLFLOW_ALLOW_FILE_STORE: 'true',
  HOME: path.join(tmp, 'home'),
  PYTHONWARNINGS: 'ignore',
});

beforeAll(async () => {
  if (skip) return;
  const { stdout } = await run(path.join(repo, 'scripts/mlflow-venv.sh'), [], {
    maxBuffer: 16 << 20,
    timeout: 600_000,
  });
  python = stdout.trim().split('\n').pop() ?? '';
  expect(python).toMatch(/bin\/python$/);

  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-mlflow-it-'));
  await fs.mkdir(path.join(tmp, 'home'));
  root = path.join(tmp, 'my mlruns'); // a space, to check URI escaping
  let clock = 1_765_034_524_000;
  const tracker = new FileStoreTracker(root, { now: () => clock, user: 'alice' });

  const parent = await tracker.startRun({
    experiment: 'awa2-niwt',
    runName: 'niwt-sweep',
    tags: { 'mlflow.source.git.commit': 'abc123', 'niwt.config_hash': 'h1' },
  });
  await parent.logParams({ lr: 0.01, seed: 1, normalize: true, 'optimizer/name': 'adam', 'backbone tap': 'conv4' });
  for (let step = 0; step < 5; step++) {
    clock += 10;
    await parent.logMetrics({ 'train/loss': 1 / (step + 1), H: step === 2 ? NaN : step * 0.1 }, step);
  }
  await parent.logMetrics({ inf: Infinity, ninf: -Infinity, big: 1e21, tiny: 5e-7 }, 0);
  const src = path.join(tmp, 'report.json');
  await fs.writeFile(src, '{"H": 0.4}');
  await parent.logArtifact(src, 'reports');
  await parent.logText('explanations/zebra.txt', 'striped, four legs');
  await parent.setTags({ 'niwt.stage': 'done' });

  const child = await tracker.startRun({ experiment: 'awa2-niwt', runName: 'fold-1', parentRunId: parent.runId });
  await child.logParams({ fold: 1 });
  await child.logMetrics({ acc: 0.5 }, 7);
  clock += 1000;
  await child.end('FAILED');
  clock += 1000;
  await parent.end('FINISHED');

  // Leftovers of interrupted starts, which MLflow must skip without failing.
  const expDir = path.join(root, parent.experimentId);
  await fs.mkdir(path.join(expDir, 'f'.repeat(32), 'tags'), { recursive: true });
  await fs.writeFile(path.join(expDir, 'f'.repeat(32), 'tags', 'mlflow.runName'), 'crashed');
  await fs.mkdir(path.join(expDir, `.niwt-tmp-${'e'.repeat(32)}`, 'params'), { recursive: true });
  await fs.writeFile(path.join(expDir, 'f'.repeat(32), '.niwt-tmp-abc'), 'artifact_uri: half');

  parentId = parent.runId;
  childId = child.runId;
  experimentId = parent.experimentId;
  const reader = path.join(tmp, 'read_store.py');
  await fs.writeFile(reader, READER);
  const out = await run(python, [reader, pathToFileURL(root).href, 'awa2-niwt'], {
    env: env(),
    cwd: tmp,
    maxBuffer: 64 << 20,
    timeout: 300_000,
  });
  result = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as ReadResult;
}, 900_000);

afterAll(async () => {
  if (server?.pid !== undefined && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    process.kill(-server.pid, 'SIGTERM'); // the process group we started (uvicorn + workers)
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    if (server.exitCode === null && server.signalCode === null) process.kill(-server.pid, 'SIGKILL');
  }
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
}, 60_000);

describe.skipIf(skip)(`MLflow ${MLFLOW_VERSION} reads the store`, () => {
  it('is the pinned version and sees the experiments', () => {
    expect(result.mlflow).toBe(MLFLOW_VERSION);
    expect(result.default).toBe('Default');
    expect(result.experiments).toEqual(['Default', 'awa2-niwt']);
    expect(result.experiment).toEqual({
      id: experimentId,
      name: 'awa2-niwt',
      stage: 'active',
      artifact_location: pathToFileURL(path.join(root, experimentId)).href,
    });
    // Exactly our two runs: the crash leftovers are skipped.
    expect(result.runs.map((r) => r.run_id).sort()).toEqual([parentId, childId].sort());
    expect(result.search_runs_rows).toBe(2);
    expect(result.search_runs_json).toContain('"params.lr"');
  });

  it('reads run info, params, tags, metric history with every step, and artifacts', () => {
    const parent = result.runs.find((r) => r.run_id === parentId);
    expect(parent).toBeDefined();
    if (!parent) return;
    expect(parent).toMatchObject({
      run_name: 'niwt-sweep',
      status: 'FINISHED',
      start_time: 1_765_034_524_000,
      end_time: 1_765_034_526_050,
      user_id: 'alice',
      lifecycle_stage: 'active',
      artifact_uri: `${pathToFileURL(path.join(root, experimentId, parentId)).href}/artifacts`,
    });
    expect(parent.params).toEqual({
      lr: '0.01',
      seed: '1',
      normalize: 'true',
      'optimizer/name': 'adam',
      'backbone tap': 'conv4',
    });
    expect(parent.tags).toMatchObject({
      'mlflow.runName': 'niwt-sweep',
      'mlflow.user': 'alice',
      'mlflow.source.type': 'LOCAL',
      'mlflow.source.git.commit': 'abc123',
      'niwt.config_hash': 'h1',
      'niwt.stage': 'done',
    });
    expect(parent.tags['mlflow.parentRunId']).toBeUndefined();
    expect(parent.history['train/loss']).toEqual([
      [1_765_034_524_010, '1.0', 0],
      [1_765_034_524_020, '0.5', 1],
      [1_765_034_524_030, '0.3333333333333333', 2],
      [1_765_034_524_040, '0.25', 3],
      [1_765_034_524_050, '0.2', 4],
    ]);
    expect(parent.history.H.map((p) => [p[1], p[2]])).toEqual([
      ['0.0', 0],
      ['0.1', 1],
      ['nan', 2],
      ['0.30000000000000004', 3],
      ['0.4', 4],
    ]);
    expect(parent.latest).toMatchObject({
      'train/loss': '0.2',
      H: '0.4',
      inf: 'inf',
      ninf: '-inf',
      big: '1e+21',
      tiny: '5e-07',
    });
    expect(parent.artifacts).toEqual(['explanations/zebra.txt', 'reports/report.json']);
  });

  it('sees the nested child run through mlflow.parentRunId', () => {
    const child = result.runs.find((r) => r.run_id === childId);
    expect(child).toMatchObject({
      run_name: 'fold-1',
      status: 'FAILED',
      params: { fold: '1' },
      history: { acc: [[1_765_034_524_050, '0.5', 7]] },
    });
    expect(child?.tags['mlflow.parentRunId']).toBe(parentId);
  });
});

describe.skipIf(skip)('mlflow migrate-filestore', () => {
  it(
    "migrates the store to SQLite (the README's way off the deprecated FileStore); ±inf become ±max " + 'double',
    async () => {
      const db = `sqlite:///${path.join(tmp, 'migrated.db')}`;
      await run(path.join(path.dirname(python), 'mlflow'), ['migrate-filestore', '--source', root, '--target', db], {
        env: env(),
        cwd: tmp,
        timeout: 300_000,
      });
      const reader = path.join(tmp, 'read_store.py');
      const out = await run(python, [reader, db, 'awa2-niwt'], {
        env: env(),
        cwd: tmp,
        maxBuffer: 64 << 20,
        timeout: 300_000,
      });
      const migrated = JSON.parse(out.stdout.trim().split('\n').pop() ?? '{}') as ReadResult;
      const strip = (r: ReadResult): unknown =>
        r.runs
          .map(({ run_id, run_name, status, start_time, end_time, params, tags, history }) => ({
            run_id,
            run_name,
            status,
            start_time,
            end_time,
            params,
            tags,
            history,
          }))
          .sort((a, b) => a.run_id.localeCompare(b.run_id));
      expect(migrated.experiment.name).toBe('awa2-niwt');
      // MLflow's SQL store keeps NaN but clamps ±inf to ±max double (SqlAlchemyStore behaviour).
      const clamp = (v: string): string =>
        v === 'inf' ? '1.7976931348623157e+308' : v === '-inf' ? '-1.7976931348623157e+308' : v;
      const clamped: ReadResult = {
        ...result,
        runs: result.runs.map((r) => ({
          ...r,
          history: Object.fromEntries(
            Object.entries(r.history).map(([k, pts]) => [
              k,
              pts.map(([ts, v, step]): [number, string, number] => [ts, clamp(v), step]),
            ]),
          ),
        })),
      };
      expect(strip(migrated)).toEqual(strip(clamped));
    },
    300_000,
  );
});

describe.skipIf(skip)('mlflow ui over the store', () => {
  it('starts on a loopback port and serves experiments and runs', async () => {
    const port = await freePort();
    const bin = path.join(path.dirname(python), 'mlflow');
    // The README's command, with a relative --backend-store-uri resolved against the cwd.
    server = spawn(
      bin,
      [
        'ui',
        '--backend-store-uri',
        `./${path.basename(root)}`,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        '1',
      ],
      {
        env: env(),
        cwd: tmp,
        detached: true, // own process group, so afterAll stops uvicorn's workers too
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    server.stdout?.on('data', (d: Buffer) => (serverLog += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 120_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`mlflow ui exited with ${server.exitCode}:\n${serverLog}`);
      const ok = await fetch(`${base}/health`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`mlflow ui did not answer /health within 120 s:\n${serverLog}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const post = async (p: string, body: unknown): Promise<unknown> => {
      const r = await fetch(`${base}/api/2.0/mlflow/${p}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      expect(r.status, await r.clone().text()).toBe(200);
      return r.json();
    };
    const exps = (await post('experiments/search', { max_results: 100 })) as {
      experiments: { experiment_id: string; name: string }[];
    };
    expect(exps.experiments.map((e) => e.name).sort()).toEqual(['Default', 'awa2-niwt']);
    const runs = (await post('runs/search', { experiment_ids: [experimentId] })) as {
      runs: { info: { run_id: string; status: string }; data: { tags?: { key: string; value: string }[] } }[];
    };
    expect(runs.runs.map((r) => r.info.run_id).sort()).toEqual([parentId, childId].sort());
    const child = runs.runs.find((r) => r.info.run_id === childId);
    expect(child?.data.tags?.find((t) => t.key === 'mlflow.parentRunId')?.value).toBe(parentId);
    const hist = (await (
      await fetch(`${base}/api/2.0/mlflow/metrics/get-history?run_id=${parentId}&metric_key=train/loss`)
    ).json()) as {
      metrics: { step: number }[];
    };
    expect(hist.metrics.map((m) => m.step)).toEqual([0, 1, 2, 3, 4]);
    // The server used our store, not a fresh ~/mlflow.db or ./mlflow.db (seen in 3.13rc0).
    const stray = await Promise.all(
      [path.join(tmp, 'home', 'mlflow.db'), path.join(tmp, 'mlflow.db')].map((f) =>
        fs.stat(f).then(
          () => f,
          () => undefined,
        ),
      ),
    );
    expect(stray.filter(Boolean)).toEqual([]);
  }, 180_000);
});
