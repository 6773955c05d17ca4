/**
 * The kill matrix: `niwt run` (the built CLI as a real child process) is sent SIGINT, SIGTERM or SIGKILL
 * during seen-network training, activation extraction, NIWT stage B, stage D and a baseline fit, with both
 * cores saturated by a CPU burner. Then `--resume` (SIGKILL: a plain rerun too) must give exactly the metrics
 * of an uninterrupted run, the same number of points per metric (no duplicates), no run left RUNNING, and no
 * temporary cache folder. SIGINT/SIGTERM must exit 130/143 with one line naming the stage, the run and the
 * resume command, the run KILLED with the reason recorded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETRY, listLocalRuns, MlflowRestClient, MlflowTestServer, type LocalRun } from '@niwt/tracking';
import { REPO, tempDir } from './helpers.js';

const MAIN = path.join(REPO, 'apps/runner/dist/main.js');
const SHARED = tempDir('kill-shared');

const CONFIG = `experiment: kill-matrix
seed: 5
dataset: { name: shapes, imagesPerClass: 30, seenClasses: 8, unseenClasses: 4, root: ${path.join(SHARED, 'shapes')} }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 60 }, maxSteps: 400, patience: 2000 }, { name: ale }]
explain: { enabled: false }
`;

type Sig = 'SIGINT' | 'SIGTERM' | 'SIGKILL';

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When the signal was sent / the process ended (ms). */
  sentAt?: number;
  endedAt: number;
}

/** Runs the CLI; with `kill`, sends the signal once stderr shows the stage started (plus `delayMs`). */
function cli(args: string[], cwd: string, kill?: { stage: string; signal: Sig; delayMs: number }): Promise<Done> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      cwd,
      env: { ...process.env, CI: 'true', NIWT_LOG_STAGE_START: '1' },
    });
    let stdout = '';
    let stderr = '';
    let sentAt: number | undefined;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (kill && sentAt === undefined && stderr.includes(`… ${kill.stage}`)) {
        sentAt = -1;
        setTimeout(() => {
          sentAt = Date.now();
          child.kill(kill.signal);
        }, kill.delayMs);
      }
    });
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, sentAt, endedAt: Date.now() }));
  });
}

/** Two busy-looping processes: signals must be handled while both cores are saturated. */
function burn(): ChildProcess[] {
  return [0, 1].map(() => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
}

function temporaries(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.name.includes('.tmp-')) out.push(p);
    else if (e.isDirectory()) out.push(...temporaries(p));
  }
  return out;
}

type Metrics = number[][];
/** The artifacts folder of the run a (non-JSON) `niwt run` printed last: `run <id> in <folder> (…s)`. */
const resultsDir = (stdout: string): string => path.join(/run [0-9a-f]{32} in (\S+) \(/.exec(stdout)![1], 'artifacts');
const metricsOf = (out: string): Metrics =>
  (JSON.parse(out) as { methods: { s: number; u: number; H: number; zslT1: number }[] }).methods.map((m) => [
    m.s,
    m.u,
    m.H,
    m.zslT1,
  ]);

/** Points per metric of each run of a tree, keyed by run name (parent: 'parent'): duplicates show up here. */
function pointCounts(runs: readonly LocalRun[], parentId: string): Record<string, Record<string, number>> {
  const counts = (r: LocalRun): Record<string, number> =>
    Object.fromEntries(Object.entries(r.metrics).map(([k, p]) => [k, p.length]));
  const parent = runs.find((r) => r.runId === parentId)!;
  const out: Record<string, Record<string, number>> = { parent: counts(parent) };
  for (const c of runs.filter((r) => r.tags['mlflow.parentRunId'] === parentId)) out[c.runName] = counts(c);
  // wall-clock metrics differ between runs, their presence does not
  return out;
}

/** Cache stages computed before each killed stage: copied warm from the reference run. */
const STAGES: { name: string; stage: string; warm: string[]; delayMs: number; plainRerun?: boolean }[] = [
  // SIGKILL: a plain rerun where nothing is reused anyway, --resume of the abandoned run elsewhere
  { name: 'seen-network training', stage: 'seen network', warm: [], delayMs: 300, plainRerun: true },
  { name: 'activation extraction', stage: 'activations at', warm: ['seen-network'], delayMs: 100, plainRerun: true },
  { name: 'stage B', stage: 'niwt B', warm: ['seen-network', 'activations'], delayMs: 0 },
  { name: 'stage D', stage: 'niwt D', warm: ['seen-network', 'activations', 'importances'], delayMs: 200 },
  {
    name: 'a baseline fit (ALE)',
    stage: 'ale: select',
    warm: ['seen-network', 'activations', 'importances'],
    delayMs: 0,
  },
];

let reference: Metrics;
let refCounts: Record<string, Record<string, number>>;
let refCache: string;

beforeAll(async () => {
  mkdirSync(SHARED, { recursive: true });
  const dir = tempDir('kill-ref');
  writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
  const r = await cli(['run', 'k.yaml', '--json'], dir);
  expect(r.code, r.stderr).toBe(0);
  reference = metricsOf(r.stdout);
  const runId = (JSON.parse(r.stdout) as { runId: string }).runId;
  refCounts = pointCounts(await listLocalRuns(path.join(dir, 'mlruns')), runId);
  refCache = path.join(dir, '.niwt/cache');
}, 300_000);

/** Two cases at a time: a case is mostly one busy process, and CI has two cores. */
let free = 2;
const waiting: (() => void)[] = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (free > 0) free--;
  else await new Promise<void>((r) => waiting.push(r));
  try {
    return await f();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else free++;
  }
}

describe('kill matrix: SIGINT, SIGTERM and SIGKILL at every long stage, then resume', () => {
  const latencies: Record<string, number> = {};

  afterAll(() => {
    // the worst case, for the report (the assertion below is the generous bound)
    process.stdout.write(`kill matrix: signal → exit latency (ms) under a CPU burner: ${JSON.stringify(latencies)}\n`);
  });

  it(
    'a failed write (the activations cache path is a file) ends the run FAILED with the message ' + 'recorded',
    async () => {
      const dir = tempDir('kill-write');
      writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
      const cache = path.join(dir, '.niwt/cache');
      cpSync(path.join(refCache, 'seen-network'), path.join(cache, 'seen-network'), { recursive: true });
      writeFileSync(path.join(cache, 'activations'), 'not a folder');
      const r = await cli(['run', 'k.yaml'], dir);
      expect([1, 2]).toContain(r.code);
      const runs = await listLocalRuns(path.join(dir, 'mlruns'));
      expect(runs.map((x) => x.status)).toEqual(['FAILED']);
      expect(runs[0].tags['niwt.interrupted_at']).toMatch(/^activations at /);
      expect(runs[0].tags['niwt.error']).toBeTruthy();
      expect(r.stderr).toContain(runs[0].tags['niwt.error']);
      expect(runs[0].artifacts).toContain('error.txt');
      expect(temporaries(cache)).toEqual([]);
    },
    300_000,
  );

  for (const st of STAGES) {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGKILL'] as const) {
      it.concurrent(
        `${signal} during ${st.name}`,
        ({ expect }) =>
          slot(async () => {
            const dir = tempDir('kill');
            writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
            const cache = path.join(dir, '.niwt/cache');
            for (const s of st.warm) cpSync(path.join(refCache, s), path.join(cache, s), { recursive: true });

            const burner = burn();
            let r: Done;
            try {
              r = await cli(['run', 'k.yaml'], dir, { stage: st.stage, signal, delayMs: st.delayMs });
            } finally {
              burner.forEach((b) => b.kill('SIGKILL'));
            }
            expect(r.sentAt, `never reached ${st.stage}:\n${r.stderr}`).toBeGreaterThan(0);
            const killed = (await listLocalRuns(path.join(dir, 'mlruns'))).filter((x) => !x.tags['niwt.method']);
            expect(killed).toHaveLength(1);
            const runId = killed[0].runId;

            if (signal === 'SIGKILL') {
              expect(r.signal).toBe('SIGKILL');
              expect(killed[0].status).toBe('RUNNING');
            } else {
              latencies[`${signal}@${st.stage}`] = r.endedAt - r.sentAt!;
              expect(r.endedAt - r.sentAt!).toBeLessThan(15_000);
              expect(r.code).toBe(signal === 'SIGINT' ? 130 : 143);
              const line = r.stderr.split('\n').filter((l) => l.startsWith('niwt: interrupted'));
              expect(line).toHaveLength(1);
              expect(line[0]).toMatch(
                new RegExp(
                  `^niwt: interrupted during ${st.stage}.*; run ${runId} marked KILLED.*; resume with: niwt ` +
                    `run k\\.yaml --resume$`,
                ),
              );
              const all = await listLocalRuns(path.join(dir, 'mlruns'));
              // open runs were KILLED; a method that had finished before stays FINISHED
              expect(all.filter((x) => x.status !== 'FINISHED').map((x) => x.status)).toEqual(
                all.filter((x) => x.status !== 'FINISHED').map(() => 'KILLED'),
              );
              expect(killed[0].status).toBe('KILLED');
              expect(killed[0].tags['niwt.interrupted_at']).toMatch(new RegExp(`^${st.stage}`));
              expect(killed[0].tags['niwt.error']).toBe(`interrupted by ${signal}`);
              expect(killed[0].artifacts).toContain('error.txt');
              expect(killed[0].endTime).toBeGreaterThan(0);
              expect(temporaries(cache)).toEqual([]);
            }

            if (signal === 'SIGKILL' && st.plainRerun) {
              // a plain rerun marks the abandoned run KILLED and removes its temporaries
              const rerun = await cli(['run', 'k.yaml'], dir);
              expect(rerun.code, rerun.stderr).toBe(0);
              expect(rerun.stderr).toContain(`run ${runId} of this config was left RUNNING by process`);
              expect(
                metricsOf(readFileSync(path.join(resultsDir(rerun.stdout), 'results', 'results.json'), 'utf8')),
              ).toEqual(reference);
              const after = await listLocalRuns(path.join(dir, 'mlruns'));
              expect(after.find((x) => x.runId === runId)?.status).toBe('KILLED');
              expect(after.filter((x) => x.status === 'RUNNING')).toEqual([]);
              expect(temporaries(cache)).toEqual([]);
              return;
            }

            const resumed = await cli(['run', 'k.yaml', '--resume'], dir);
            expect(resumed.code, resumed.stderr).toBe(0);
            const text = readFileSync(path.join(resultsDir(resumed.stdout), 'results', 'results.json'), 'utf8');
            const json = JSON.parse(text) as { runId: string; resumedFrom: string; reusedMethods: string[] };
            // ALE runs after NIWT: killed during ALE, the finished NIWT run is reused, not fitted again
            expect(json.reusedMethods).toEqual(st.stage.startsWith('ale') ? ['niwt'] : []);
            expect(json.runId).toBe(runId); // the same run, reopened
            expect(json.resumedFrom).toBe(runId);
            expect(resumed.stderr).toContain(
              `resuming run ${runId} ` +
                `(${signal === 'SIGKILL' ? 'RUNNING, its process is gone' : `KILLED during ${st.stage}`}`,
            );
            expect(metricsOf(text)).toEqual(reference);
            const runs = await listLocalRuns(path.join(dir, 'mlruns'));
            expect(runs.filter((x) => x.status === 'RUNNING')).toEqual([]);
            expect(runs.find((x) => x.runId === json.runId)?.status).toBe('FINISHED');
            expect(pointCounts(runs, json.runId)).toEqual(refCounts);
            expect(temporaries(cache)).toEqual([]);
          }),
        900_000,
      );
    }
  }
});

describe('on a tracking server (a real mlflow server)', () => {
  let server: MlflowTestServer;
  beforeAll(async () => {
    server = await MlflowTestServer.start(path.join(tempDir('kill-server'), 'data'));
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('SIGTERM during stage D, then --resume: the server run goes KILLED, then FINISHED under the same id', async () => {
    const dir = tempDir('kill-remote');
    writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
    const cache = path.join(dir, '.niwt/cache');
    for (const s of ['seen-network', 'activations', 'importances'])
      cpSync(path.join(refCache, s), path.join(cache, s), { recursive: true });
    const set = ['--set', `tracking.uri=${server.uri}`];
    const burner = burn();
    let r: Done;
    try {
      r = await cli(['run', 'k.yaml', ...set], dir, { stage: 'niwt D', signal: 'SIGTERM', delayMs: 200 });
    } finally {
      burner.forEach((b) => b.kill('SIGKILL'));
    }
    expect(r.code, r.stderr).toBe(143);
    const runId = new RegExp(
      String.raw`; run ([0-9a-f]{32}) marked KILLED \(with 1 nested\); resume with: niwt run k\.yaml --set ` +
        String.raw`tracking\.uri=\S+ --resume$`,
      'm',
    ).exec(r.stderr)?.[1];
    expect(runId, r.stderr).toBeDefined();
    const client = new MlflowRestClient({
      baseUrl: server.uri,
      credentials: {},
      timeoutMs: 10_000,
      retry: DEFAULT_RETRY,
    });
    const experimentId = (await client.getExperimentByName('kill-matrix'))!.experiment_id;
    const statuses = async (): Promise<Record<string, string>> =>
      Object.fromEntries((await client.searchRuns([experimentId])).map((x) => [x.info.run_name ?? '', x.info.status]));
    const observed = await statuses();
    const configHash = (await client.getRun(runId!)).data.tags!.find((t) => t.key === 'niwt.config_hash')!.value;
    expect(observed).toEqual({
      [`kill-matrix-${configHash.slice(0, 8)}`]: 'KILLED',
      niwt: 'KILLED',
    });

    const resumed = await cli(['run', 'k.yaml', ...set, '--json', '--resume'], dir);
    expect(resumed.code, resumed.stderr).toBe(0);
    const json = JSON.parse(resumed.stdout) as { runId: string };
    expect(json.runId).toBe(runId);
    expect(metricsOf(resumed.stdout)).toEqual(reference);
    expect(Object.values(await statuses())).toEqual(['FINISHED', 'FINISHED', 'FINISHED']);
    const niwt = (
      await client.searchRuns(
        [experimentId],
        `tags.\`mlflow.parentRunId\` = '${runId}' and tags.\`niwt.method\` = 'niwt'`,
      )
    )[0];
    expect(await client.getMetricHistory(niwt.info.run_id, 'stageD/loss')).toHaveLength(refCounts.niwt['stageD/loss']);
    expect(temporaries(cache)).toEqual([]);
  }, 300_000);
});
