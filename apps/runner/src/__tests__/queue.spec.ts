/**
 * Sweeps across machines on loopback Redis (Debian's redis-server via scripts/redis.sh): one enqueuer and
 * two worker processes complete a 6-run grid with every run executed once; then a worker is SIGKILLed in
 * the middle of a run and the grid still completes (BullMQ's stalled-job check hands the run to the
 * other worker, which resumes from the shared stage cache). Needs bullmq and ioredis installed: until
 * then beforeAll fails with the message naming the packages to add.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { listLocalRuns } from '@niwt/tracking';
import { composeExperiment } from '../compose.js';
import { runExperiment } from '../pipeline.js';
import { loadQueueLibs } from '../queue/adapter.js';
import { enqueueSweep } from '../queue/enqueue.js';
import { REPO, tempDir } from './helpers.js';

const BASE = `experiment: queue-test
seed: 3
dataset: { name: shapes, imagesPerClass: 16, seenClasses: 8, unseenClasses: 4 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 60 }]
explain: { enabled: false }
`;
const GRID = `${BASE}sweep:\n  methods.0.lambda: [0, 1.0e-4, 1.0e-3]\n  methods.0.lr: [1.0e-3, 1.0e-2]\n`;

interface Worker {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

describe('distributed sweep (BullMQ on loopback Redis)', () => {
  let dir: string;
  let redisDir: string | undefined;
  let url: string;
  let overrides: string[];
  const workers: Worker[] = [];
  /** Set when bullmq/ioredis (or Redis) are unavailable: every test fails with it rather than being skipped. */
  let setupError: unknown;

  const startWorker = (name: string, queueName: string): Worker => {
    const proc = spawn(process.execPath, [path.join(REPO, 'apps/runner/dist/queue/worker-main.js'), 'worker', '--queue', url, '--queue-name', queueName, '--lock-duration', '8000', '--stalled-interval', '2000', '-q'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const lines: string[] = [];
    let rest = '';
    proc.stderr?.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
    const w = { name, proc, lines, exited: new Promise<number | null>((r) => proc.once('exit', (code) => r(code))) };
    workers.push(w);
    return w;
  };
  const until = async (what: string, ok: () => boolean | Promise<boolean>, worker?: Worker): Promise<void> => {
    for (let i = 0; i < 3000; i++) {
      if (await ok()) return;
      if (worker && worker.proc.exitCode !== null) throw new Error(`${worker.name} exited (${worker.proc.exitCode}) while waiting for ${what}:\n${worker.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gave up waiting for ${what}`);
  };
  const stop = async (w: Worker): Promise<void> => {
    if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
    await w.exited;
  };
  const starts = (w: Worker): string[] => w.lines.flatMap((l) => /: start (\S+) attempt/.exec(l)?.[1] ?? []);

  beforeAll(async () => {
    try {
      await loadQueueLibs(); // fails, naming the bullmq/ioredis versions to add, until they are dependencies
    } catch (e) {
      setupError = e;
      return;
    }
    execFileSync('npx', ['tsc', '-b', 'apps/runner/tsconfig.lib.json'], { cwd: REPO, stdio: 'inherit' });
    dir = tempDir('queue');
    const started = execFileSync('bash', [path.join(REPO, 'scripts/redis.sh'), 'start', path.join(dir, 'redis')], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
    [url, redisDir] = started.split(' ');
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    overrides = [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`];
    // warm the shared stage cache (seen network, activations) the way a first run on any machine would
    const exp = await composeExperiment('base.yaml', { inlineText: BASE, cwd: dir, overrides, logger: silentLogger });
    await runExperiment(exp, silentLogger);
  }, 600_000);

  const ready = (): void => {
    if (setupError) throw setupError;
  };

  afterAll(async () => {
    for (const w of workers) await stop(w);
    if (redisDir) execFileSync('bash', [path.join(REPO, 'scripts/redis.sh'), 'stop', redisDir]);
  });

  /** Runs in the store nested under a sweep run, by config hash. */
  const childrenOf = async (sweepRunId: string) => (await listLocalRuns(path.join(dir, 'mlruns'))).filter((r) => r.tags['mlflow.parentRunId'] === sweepRunId);

  it('one enqueuer and two workers complete a 6-run grid, each run executed exactly once', async () => {
    ready();
    const a = startWorker('A', 'grid');
    const b = startWorker('B', 'grid');
    await until('workers ready', () => [a, b].every((w) => w.lines.some((l) => l.includes(': ready on '))), a);
    const r = await enqueueSweep('grid.yaml', { queue: url, queueName: 'grid', inlineText: GRID, cwd: dir, overrides, logger: silentLogger, pollMs: 300 });
    expect(r.jobs).toHaveLength(6);
    expect(new Set(r.jobs.map((j) => j.jobId)).size).toBe(6);
    expect(r.jobs.every((j) => j.jobId === j.hash)).toBe(true);
    expect(r.rows).toHaveLength(6);
    const executed = [...starts(a), ...starts(b)].sort();
    expect(executed).toEqual(r.jobs.map((j) => j.jobId).sort());
    const runs = await childrenOf(r.sweepRunId);
    expect(runs.map((x) => x.status)).toEqual(Array(6).fill('FINISHED'));
    expect(runs.map((x) => x.tags['niwt.config_hash']).sort()).toEqual(r.jobs.map((j) => j.hash).sort());
    expect(new Set(r.results?.map((x) => x.worker)).size).toBeGreaterThanOrEqual(1);

    // queuing the same grid again runs nothing: every job id already exists
    const again = await enqueueSweep('grid.yaml', { queue: url, queueName: 'grid', inlineText: GRID, cwd: dir, overrides, logger: silentLogger, pollMs: 300 });
    expect(again.jobs.map((j) => j.added)).toEqual(Array(6).fill(false));
    expect(again.results?.map((x) => x.runId)).toEqual(r.results?.map((x) => x.runId));
    expect([...starts(a), ...starts(b)]).toHaveLength(6);
    await Promise.all([stop(a), stop(b)]);
  }, 900_000);

  it('a worker killed in the middle of a run: the run is taken up again and the grid completes', async () => {
    ready();
    const a = startWorker('A2', 'kill');
    const b = startWorker('B2', 'kill');
    await until('workers ready', () => [a, b].every((w) => w.lines.some((l) => l.includes(': ready on '))), a);
    // Longer runs (new hashes, same cached seen network): a fixed 2,000 stage D steps on tfjs, so a run lasts
    // seconds and the kill lands mid-run however fast the machine (the onnxruntime engine finished 400 steps
    // between "RUNNING" being seen and the kill).
    const grid = GRID.replace('maxSteps: 60', "maxSteps: 2000, patience: 2000, implementation: 'fast'");
    const pending = enqueueSweep('grid.yaml', { queue: url, queueName: 'kill', inlineText: grid, cwd: dir, overrides, logger: silentLogger, pollMs: 300 });
    // kill A while its current run is RUNNING in the store (mid-run, not between runs)
    let victim: string | undefined;
    await until('a run of A in progress', async () => {
      const current = starts(a).at(-1);
      if (!current) return false;
      const running = (await listLocalRuns(path.join(dir, 'mlruns'))).some((x) => x.tags['niwt.config_hash'] === current && x.status === 'RUNNING');
      if (running) victim = current;
      return running;
    }, a);
    a.proc.kill('SIGKILL');
    expect(await a.exited).toBe(null);
    const r = await pending;
    expect(r.rows).toHaveLength(6);
    expect(starts(b)).toContain(victim);
    const runs = await childrenOf(r.sweepRunId);
    const ofVictim = runs.filter((x) => x.tags['niwt.config_hash'] === victim);
    expect(ofVictim.map((x) => x.status).sort()).toEqual(['FINISHED', 'RUNNING']); // the dead worker's run, and the rerun
    const finished = runs.filter((x) => x.status === 'FINISHED');
    expect(finished.map((x) => x.tags['niwt.config_hash']).sort()).toEqual(r.jobs.map((j) => j.hash).sort());
    expect(r.results?.find((x) => x.hash === victim)?.worker).toMatch(/:\d+$/);
    await stop(b);
  }, 900_000);
});
