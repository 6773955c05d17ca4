/**
 * Sweeps across machines on loopback Redis (Debian's redis-server via scripts/redis.sh), with every core
 * kept busy by a CPU burner this test starts (so lock renewal, stall checks and signal handling are tested
 * the way a loaded machine runs them): two worker processes complete a grid, each point once; workers
 * killed (SIGKILL) and stopped (SIGTERM) mid-run leave exactly one FINISHED run per point and the results
 * of a local sequential sweep; a run that blocks its event loop for longer than the lock keeps its job; an
 * unreachable Redis is exit 2 at once and an idle worker whose Redis went away stops on SIGTERM.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { listLocalRuns, type LocalRun } from '@niwt/tracking';
import { registerRunsCommands } from '../commands/runs.js';
import { composeExperiment } from '../compose.js';
import { runExperiment } from '../pipeline.js';
import { enqueueSweep } from '../queue/enqueue.js';
import { runSweep } from '../sweep.js';
import { commandCli, REPO, tempDir } from './helpers.js';

const BASE = `experiment: queue-test
seed: 3
dataset: { name: shapes, imagesPerClass: 16, seenClasses: 8, unseenClasses: 4 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 60 }]
explain: { enabled: false }
`;
const GRID = `${BASE}sweep:\n  methods.0.lambda: [0, 1.0e-3]\n  methods.0.lr: [1.0e-3, 1.0e-2]\n`;
/** Seconds the blocking run spins its event loop (NIWT_TEST_BLOCK_S=60 for the 60 s). */
const BLOCK_S = Number(process.env.NIWT_TEST_BLOCK_S ?? 20);
const MAIN = path.join(REPO, 'apps/runner/dist/main.js');

/** `text` with `pattern` replaced; throws when it does not occur, so a reformatted example fails loudly here. */
function edit(text: string, pattern: RegExp, replacement: string): string {
  if (!pattern.test(text)) throw new Error(`examples/plugins/bars-dataset.js no longer matches ${pattern}`);
  return text.replace(pattern, replacement);
}

interface Worker {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

describe('distributed sweep (BullMQ on loopback Redis, every core busy)', () => {
  let dir: string;
  let redisDir: string | undefined;
  let url: string;
  let overrides: string[];
  const workers: Worker[] = [];
  const burners: ChildProcess[] = [];

  const startWorker = (name: string, queueName: string, lockMs = 8000): Worker => {
    const args = [
      MAIN,
      'worker',
      '--queue',
      url,
      '--queue-name',
      queueName,
      '--lock-duration',
      String(lockMs),
      '--stalled-interval',
      '2000',
      '-q',
    ];
    const proc = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
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
    for (let i = 0; i < 6000; i++) {
      if (await ok()) return;
      if (worker && worker.proc.exitCode !== null)
        throw new Error(
          `${worker.name} exited (${worker.proc.exitCode}) while waiting for ${what}:\n${worker.lines.join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`gave up waiting for ${what}`);
  };
  const stop = async (w: Worker): Promise<void> => {
    if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
    await w.exited;
  };
  const ready = (ws: Worker[]) =>
    until('workers ready', () => ws.every((w) => w.lines.some((l) => l.includes(': ready on '))), ws[0]);
  const starts = (w: Worker): string[] => w.lines.flatMap((l) => /: start (\S+) attempt/.exec(l)?.[1] ?? []);
  const runs = async (): Promise<LocalRun[]> => listLocalRuns(path.join(dir, 'mlruns'));
  /** Point runs (not method runs) nested under a sweep run. */
  const childrenOf = async (sweepRunId: string) =>
    (await runs()).filter((r) => r.tags['mlflow.parentRunId'] === sweepRunId);
  const redis = (...args: string[]): string =>
    execFileSync('bash', [path.join(REPO, 'scripts/redis.sh'), ...args], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .pop() ?? '';

  beforeAll(async () => {
    execFileSync('npx', ['tsc', '-b', 'apps/runner/tsconfig.lib.json'], { cwd: REPO, stdio: 'inherit' });
    dir = tempDir('queue');
    [url, redisDir] = redis('start', path.join(dir, 'redis')).split(' ');
    expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    overrides = [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`];
    // warm the shared stage cache (seen network, activations) the way a first run on any machine would
    const exp = await composeExperiment('base.yaml', { inlineText: BASE, cwd: dir, overrides, logger: silentLogger });
    await runExperiment(exp, silentLogger);
    // saturate every core for the rest of the file
    for (let i = 0; i < os.availableParallelism(); i++)
      burners.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  }, 600_000);

  afterAll(async () => {
    for (const b of burners) b.kill('SIGKILL');
    for (const w of workers) await stop(w);
    if (redisDir) execFileSync('bash', [path.join(REPO, 'scripts/redis.sh'), 'stop', redisDir]);
  });

  it(
    'two workers complete a 4-run grid, each point once, under one parent; runs ls --sweep and runs compare ' +
      'read it; --force requeues',
    async () => {
      const a = startWorker('A', 'grid');
      const b = startWorker('B', 'grid');
      await ready([a, b]);
      const opts = {
        queue: url,
        queueName: 'grid',
        inlineText: GRID,
        cwd: dir,
        overrides,
        logger: silentLogger,
        pollMs: 300,
      };
      const lines: string[] = [];
      const r = await enqueueSweep('grid.yaml', { ...opts, progress: (l) => lines.push(l) });
      expect(r.jobs).toHaveLength(4);
      expect(r.jobs.every((j) => j.jobId === j.hash)).toBe(true);
      expect(r.rows).toHaveLength(4);
      expect([...starts(a), ...starts(b)].sort()).toEqual(r.jobs.map((j) => j.jobId).sort());
      // progress: one line per finished point, counting up, with elapsed time and an ETA
      const finished = lines.filter((l) => l.includes('— finished '));
      expect(finished).toHaveLength(4);
      expect(finished[3]).toMatch(/^sweep \[4\/4 done, 0 running, 0 failed\] \S+ elapsed, eta 0\.00s — finished /);

      const children = await childrenOf(r.sweepRunId);
      expect(children.map((x) => x.status)).toEqual(Array(4).fill('FINISHED'));
      const names = ['lambda=0,lr=1e-3', 'lambda=0,lr=0.01', 'lambda=1e-3,lr=1e-3', 'lambda=1e-3,lr=0.01'];
      expect(children.map((x) => x.runName).sort()).toEqual([...names].sort());
      expect(children.map((x) => x.tags['niwt.sweep.point']).sort()).toEqual([...names].sort());
      expect(new Set(children.map((x) => x.tags['niwt.sweep']))).toEqual(
        new Set([(await runs()).find((x) => x.runId === r.sweepRunId)!.tags['niwt.sweep']]),
      );
      const parentRun = (await runs()).find((x) => x.runId === r.sweepRunId)!;
      expect(parentRun.status).toBe('FINISHED');
      expect(parentRun.artifacts).toEqual(
        expect.arrayContaining(['sweep/best.yaml', 'sweep/results.json', 'sweep/table.md']),
      );
      expect(r.outDir).toBe(path.join(parentRun.dir, 'artifacts', 'sweep'));

      // runs ls --sweep: one row per point with its metrics, equal to the results the sweep reported
      const ls = await commandCli(registerRunsCommands, [
        'runs',
        'ls',
        '--store',
        path.join(dir, 'mlruns'),
        '--sweep',
        r.sweepRunId,
        '--json',
      ]);
      expect(ls.error).toBeUndefined();
      const listed = JSON.parse(ls.stdout) as {
        runs: { runId: string; point: string; status: string; metrics: Record<string, number> }[];
      };
      expect(listed.runs).toHaveLength(4);
      for (const res of r.results!) {
        const row = listed.runs.find((x) => x.runId === res.runId)!;
        expect(row.metrics['niwt/H']).toBeCloseTo(res.methods[0].H, 12);
        expect(row.metrics['niwt/u']).toBeCloseTo(res.methods[0].u, 12);
      }
      const text = await commandCli(registerRunsCommands, [
        'runs',
        'ls',
        '--store',
        path.join(dir, 'mlruns'),
        '--sweep',
        parentRun.tags['niwt.sweep'].slice(0, 8),
      ]);
      expect(text.stdout.split('\n')[1]).toMatch(/^run +point +status +niwt\/H +niwt\/s +niwt\/u +niwt\/zsl_t1$/);
      // runs compare: the two runs of λ = 0 differ in lr only; metrics side by side
      const [p, q] = [r.results![0], r.results![1]];
      const cmp = await commandCli(registerRunsCommands, [
        'runs',
        'compare',
        p.runId,
        q.runId,
        '--store',
        path.join(dir, 'mlruns'),
        '--json',
      ]);
      expect(cmp.error).toBeUndefined();
      const view = JSON.parse(cmp.stdout) as {
        params: Record<string, (string | null)[]>;
        metrics: Record<string, (number | null)[]>;
      };
      expect(Object.keys(view.params)).toEqual(['methods.0.lr']);
      expect(view.params['methods.0.lr']).toEqual(['0.001', '0.01']);
      expect(view.metrics['niwt/H']).toEqual([p.methods[0].H, q.methods[0].H]);

      // the same grid again: the same parent, nothing run; --force queues every point again
      const again = await enqueueSweep('grid.yaml', opts);
      expect(again.sweepRunId).toBe(r.sweepRunId);
      expect(again.reattached).toBe(true);
      expect(again.jobs.map((j) => j.added)).toEqual(Array(4).fill(false));
      expect(again.results?.map((x) => x.runId)).toEqual(r.results?.map((x) => x.runId));
      const forced = await enqueueSweep('grid.yaml', { ...opts, force: true });
      expect(forced.jobs.map((j) => j.added)).toEqual(Array(4).fill(true));
      expect(forced.results?.every((x, i) => x.runId !== r.results![i].runId)).toBe(true);
      // same config, same numbers
      expect(forced.results?.map((x) => x.methods[0].H)).toEqual(r.results?.map((x) => x.methods[0].H));
      expect([...starts(a), ...starts(b)]).toHaveLength(8);
      await Promise.all([stop(a), stop(b)]);
    },
    900_000,
  );

  it(
    'two workers on a cold seed train its network once: one computes it, the other waits for the cache ' + 'lock',
    async () => {
      const a = startWorker('A1', 'cold');
      const b = startWorker('B1', 'cold');
      await ready([a, b]);
      // a seed and a cache no run has touched; two points of that seed, one per worker, started together
      const cold = path.join(dir, 'cache-cold');
      const grid =
        `${BASE.replace('seed: 3', 'seed: 11').replace('epochs: 3', 'epochs: 6')}sweep:\n  methods.0.lambda: [0, ` +
        `1.0e-3]\n`;
      const q = { queue: url, queueName: 'cold', inlineText: grid, cwd: dir, logger: silentLogger, pollMs: 300 };
      const r = await enqueueSweep('cold.yaml', { ...q, overrides: [`cacheDir=${cold}`, overrides[1]] });
      expect(r.rows).toHaveLength(2);
      expect(starts(a)).toHaveLength(1);
      expect(starts(b)).toHaveLength(1);
      const pidOf = new Map((await childrenOf(r.sweepRunId)).map((x) => [Number(x.tags['niwt.pid']), x.runId]));
      const log = readFileSync(path.join(cold, 'cache-log.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l)
        .map((l) => JSON.parse(l) as { pid: number; stage: string; event: string; owner?: { pid: number } });
      const net = log.filter((e) => e.stage === 'seen-network');
      const computed = net.filter((e) => e.event === 'computed');
      expect(computed, JSON.stringify(net)).toHaveLength(1);
      expect(pidOf.has(computed[0].pid)).toBe(true);
      // the other point's process read it: after waiting for the lock, or (slow to start) as a plain hit
      const other = [...pidOf.keys()].find((pid) => pid !== computed[0].pid)!;
      const theirs = net.filter((e) => e.pid === other).map((e) => e.event);
      expect(theirs).toEqual(theirs.includes('waited') ? ['miss', 'waited'] : ['hit']);
      if (theirs.includes('waited')) expect(net.find((e) => e.event === 'waited')!.owner!.pid).toBe(computed[0].pid);
      expect(r.results!.every((x) => x.seenNetworkCached === (pidOf.get(computed[0].pid) !== x.runId))).toBe(true);
      await Promise.all([stop(a), stop(b)]);
    },
    900_000,
  );

  it(
    'kill -9 and SIGTERM of workers mid-run: one FINISHED run per point, none RUNNING, the results of a local ' +
      'sequential sweep',
    async () => {
      const a = startWorker('A2', 'kill');
      const b = startWorker('B2', 'kill');
      await ready([a, b]);
      // Longer runs (new hashes, same cached seen network): a fixed 400 stage D steps, so the kills land mid-run.
      const grid =
        `${BASE.replace('maxSteps: 60', "maxSteps: 400, patience: 400, implementation: 'fast'")}sweep:\n  ` +
        `methods.0.lambda: [0, 1.0e-3]\n  methods.0.lr: [1.0e-3, 1.0e-2]\n`;
      const pending = enqueueSweep('kill.yaml', {
        queue: url,
        queueName: 'kill',
        inlineText: grid,
        cwd: dir,
        overrides,
        logger: silentLogger,
        pollMs: 300,
      });
      const runningOf = async (w: Worker): Promise<string | undefined> => {
        const current = starts(w).at(-1);
        return current &&
          (await runs()).some(
            (x) => x.tags['niwt.config_hash'] === current && x.status === 'RUNNING' && !x.tags['niwt.method'],
          )
          ? current
          : undefined;
      };
      let killed: string | undefined;
      await until('a run of A2 in progress', async () => Boolean((killed = await runningOf(a))), a);
      a.proc.kill('SIGKILL');
      expect(await a.exited).toBe(null);
      const c = startWorker('C2', 'kill');
      let stopped: string | undefined;
      await until('a run of B2 in progress', async () => Boolean((stopped = await runningOf(b))), b);
      const t0 = Date.now();
      b.proc.kill('SIGTERM');
      await b.exited;
      expect(Date.now() - t0, b.lines.join('\n')).toBeLessThanOrEqual(5000);
      // what B was running when the signal came (its run may have ended between our look and the signal)
      const interrupted = b.lines.flatMap((l) => /stopping run of (\S+);/.exec(l)?.[1] ?? []);
      expect(interrupted.length === 1 || b.lines.some((l) => l.includes(`done ${stopped}`))).toBe(true);
      const r = await pending;
      expect([...starts(b), ...starts(c)]).toContain(killed);
      for (const id of interrupted) expect(starts(c)).toContain(id);

      const all = await runs();
      const points = all.filter((x) => x.tags['mlflow.parentRunId'] === r.sweepRunId);
      const pointIds = new Set(points.map((x) => x.runId));
      // every grid point: exactly one FINISHED run; the interrupted attempts are KILLED, and nothing is RUNNING
      for (const j of r.jobs)
        expect(points.filter((x) => x.tags['niwt.config_hash'] === j.hash && x.status === 'FINISHED')).toHaveLength(1);
      expect(
        points
          .filter((x) => x.status === 'KILLED')
          .map((x) => x.tags['niwt.config_hash'])
          .sort(),
      ).toEqual([killed, ...interrupted].sort());
      expect(
        all.filter(
          (x) => x.status === 'RUNNING' && (pointIds.has(x.runId) || pointIds.has(x.tags['mlflow.parentRunId'] ?? '')),
        ),
      ).toEqual([]);
      expect(all.find((x) => x.runId === r.sweepRunId)?.status).toBe('FINISHED');
      const killedRun = points.find((x) => x.status === 'KILLED')!;
      expect(readFileSync(path.join(killedRun.dir, 'artifacts', 'error.txt'), 'utf8')).toMatch(/^KILLED: /);

      // the same grid as a local sequential sweep (its own store): the same table
      const local = await runSweep('kill.yaml', {
        inlineText: grid,
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns-local')}`],
        logger: silentLogger,
      });
      expect(local.table).toBe(r.table);
      await stop(c);
    },
    900_000,
  );

  it(
    `a run that blocks its event loop for ${BLOCK_S} s (lock 5 s) keeps its job: started once, never ` + `stalled`,
    async () => {
      // the example bars dataset, renamed, with a load() that spins synchronously (as a long extraction would)
      const src = edit(
        edit(
          readFileSync(path.join(REPO, 'examples/plugins/bars-dataset.js'), 'utf8'),
          /name: 'bars',(\s+)description/,
          "name: 'spinning-bars',$1description",
        ),
        /async load\(\) \{/,
        `async load() {\n    for (const end = Date.now() + ${BLOCK_S * 1000}; Date.now() < end; );`,
      );
      // inside the repository, so the plugin's imports (inversify, zod, @niwt/core) resolve
      mkdirSync(path.join(REPO, 'node_modules', '.cache'), { recursive: true });
      const pluginDir = mkdtempSync(path.join(REPO, 'node_modules', '.cache', 'niwt-spinning-'));
      const plugin = path.join(pluginDir, 'spinning-bars.js');
      writeFileSync(plugin, src);
      const cfg = `experiment: queue-block
seed: 2
plugins: [${plugin}]
dataset: { name: spinning-bars, imagesPerClass: 8 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 1 } }
methods: [{ name: niwt, map: { epochs: 20 }, maxSteps: 20 }]
explain: { enabled: false }
sweep:
  seed: [2]
`;
      const a = startWorker('A3', 'block', 5000);
      const b = startWorker('B3', 'block', 5000);
      await ready([a, b]);
      const r = await enqueueSweep('block.yaml', {
        queue: url,
        queueName: 'block',
        inlineText: cfg,
        cwd: dir,
        overrides,
        logger: silentLogger,
        pollMs: 300,
      });
      expect(r.results![0].seconds).toBeGreaterThan(BLOCK_S);
      expect([...starts(a), ...starts(b)]).toEqual([r.jobs[0].jobId]);
      expect([...a.lines, ...b.lines].filter((l) => /stalled|failed/.test(l))).toEqual([]);
      expect((await childrenOf(r.sweepRunId)).map((x) => x.status)).toEqual(['FINISHED']);
      await Promise.all([stop(a), stop(b)]);
      rmSync(pluginDir, { recursive: true, force: true });
    },
    900_000,
  );

  it(
    'an unreachable Redis is exit 2 with one line within 10 s and creates nothing; an idle worker whose Redis ' +
      'stopped exits within 5 s of SIGTERM',
    async () => {
      const cwd = tempDir('queue-down');
      writeFileSync(path.join(cwd, 'grid.yaml'), GRID);
      const t0 = Date.now();
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [MAIN, 'sweep', 'grid.yaml', '--queue', 'redis://127.0.0.1:9'], {
          cwd,
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        p.once('exit', (code) => resolve({ code, stderr }));
      });
      expect(Date.now() - t0).toBeLessThanOrEqual(10_000);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe(
        'niwt: cannot reach Redis at redis://127.0.0.1:9 (connect ECONNREFUSED 127.0.0.1:9): start it (e.g. ' +
          'scripts/redis.sh start <dir>) or fix --queue\n',
      );
      expect(existsSync(path.join(cwd, 'mlruns'))).toBe(false);

      const [url2, dir2] = redis('start', path.join(dir, 'redis2')).split(' ');
      const w = spawn(process.execPath, [MAIN, 'worker', '--queue', url2, '-q'], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const lines: string[] = [];
      w.stderr.on('data', (d: Buffer) => lines.push(d.toString()));
      const exited = new Promise<number | null>((res) => w.once('exit', (code) => res(code)));
      await until('idle worker ready', () => lines.join('').includes(': ready on '));
      redis('stop', dir2);
      await until(
        'the worker sees Redis gone',
        () => lines.join('').includes('lost Redis') || lines.join('').includes('error:'),
      );
      const t1 = Date.now();
      w.kill('SIGTERM');
      await exited;
      expect(Date.now() - t1).toBeLessThanOrEqual(5000);
    },
    300_000,
  );
});
