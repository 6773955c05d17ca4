/**
 * `niwt sweep -j 2` (points in child processes, no Redis) against the sequential sweep of the same grid:
 * the same table; one parent run per sweep, reattached by a rerun and after an interrupted sweep (SIGINT
 * mid-run: the parent and the open point runs end KILLED, nothing stays RUNNING); outputs are artifacts of
 * the parent; `--dry-run` lists the grid and `config show` keeps the sweep: section.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { listLocalRuns } from '@niwt/tracking';
import { runSweep, type SweepResult } from '../sweep.js';
import { REPO, runCli, tempDir } from './helpers.js';

const GRID = `experiment: sweep-par
seed: 5
dataset: { name: shapes, imagesPerClass: 16, seenClasses: 8, unseenClasses: 4 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 60 }]
explain: { enabled: false }
sweep:
  methods.0.lambda: [0, 1.0e-2]
  seed: [5, 6]
`;

describe('sweep -j 2 and one parent per sweep', () => {
  it(
    'equals the sequential sweep; an interrupted parallel sweep leaves nothing RUNNING and its rerun attaches ' +
      'to the same parent',
    async () => {
      const dir = tempDir('sweep-par');
      writeFileSync(path.join(dir, 'grid.yaml'), GRID);
      const seqStore = path.join(dir, 'mlruns-seq');
      const seq = await runSweep('grid.yaml', {
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache-seq')}`, `tracking.uri=file:${seqStore}`],
        logger: silentLogger,
      });
      expect(seq.reattached).toBe(false);
      expect(seq.outDir).toBe(path.join(seq.location, 'artifacts', 'sweep'));
      for (const f of ['best.yaml', 'table.md', 'results.json', 'sweep.png'])
        expect(existsSync(path.join(seq.outDir, f))).toBe(true);
      expect(seq.points.map((p) => p.name)).toEqual([
        'lambda=0,seed=5',
        'lambda=0,seed=6',
        'lambda=0.01,seed=5',
        'lambda=0.01,seed=6',
      ]);

      // rerun: the same parent, every point skipped, FINISHED again
      const again = await runSweep('grid.yaml', {
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache-seq')}`, `tracking.uri=file:${seqStore}`],
        logger: silentLogger,
      });
      expect([again.sweepRunId, again.reattached, again.skipped, again.table]).toEqual([
        seq.sweepRunId,
        true,
        4,
        seq.table,
      ]);
      const parents = (await listLocalRuns(seqStore)).filter(
        (r) => r.tags['niwt.sweep'] && !r.tags['mlflow.parentRunId'],
      );
      expect(parents.map((r) => [r.runId, r.status])).toEqual([[seq.sweepRunId, 'FINISHED']]);

      // -j 2 on a cold cache and its own store, interrupted (SIGINT) while points run
      const parStore = path.join(dir, 'mlruns-par');
      const args = [
        'sweep',
        'grid.yaml',
        '-j',
        '2',
        '--set',
        `cacheDir=${path.join(dir, 'cache-par')}`,
        '--set',
        `tracking.uri=file:${parStore}`,
      ];
      const proc = spawn(process.execPath, [path.join(REPO, 'apps/runner/dist/main.js'), ...args], {
        cwd: dir,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
      for (let i = 0; i < 3000; i++) {
        const runs = existsSync(parStore) ? await listLocalRuns(parStore) : [];
        if (
          runs.filter((r) => r.status === 'RUNNING' && r.tags['niwt.sweep.point'] && !r.tags['niwt.method']).length >= 2
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(stderr).toContain('started lambda=0,seed=6');
      const t0 = Date.now();
      proc.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(Date.now() - t0).toBeLessThanOrEqual(5000);
      const interrupted = await listLocalRuns(parStore);
      expect(interrupted.filter((r) => r.status === 'RUNNING')).toEqual([]);
      const parent = interrupted.find((r) => r.tags['niwt.sweep'] && !r.tags['mlflow.parentRunId'])!;
      expect(parent.status).toBe('KILLED');
      expect(
        interrupted.filter((r) => r.status === 'KILLED' && r.tags['mlflow.parentRunId'] === parent.runId).length,
      ).toBeGreaterThanOrEqual(2);

      const r = await runCli([...args, '--json', '-q'], dir);
      expect(r.code, r.stderr).toBe(0);
      const par = JSON.parse(r.stdout) as SweepResult;
      expect(par.sweepRunId).toBe(parent.runId);
      expect(par.reattached).toBe(true);
      expect(par.table).toBe(seq.table);
      expect(par.rows).toEqual(seq.rows);
      const after = await listLocalRuns(parStore);
      expect(after.find((x) => x.runId === parent.runId)?.status).toBe('FINISHED');
      const points = after.filter((x) => x.tags['mlflow.parentRunId'] === parent.runId);
      for (const p of par.points)
        expect(points.filter((x) => x.tags['niwt.sweep.point'] === p.name && x.status === 'FINISHED')).toHaveLength(1);
      expect(after.filter((x) => x.status === 'RUNNING')).toEqual([]);

      // the network of each seed was trained once across the interrupted and the resumed sweep (cache log)
      const cacheLog = readFileSync(path.join(dir, 'cache-par', 'cache-log.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l);
      const nets = cacheLog
        .map((l) => JSON.parse(l) as { stage: string; key: string; event: string })
        .filter((e) => e.stage === 'seen-network');
      const computedKeys = nets.filter((e) => e.event === 'computed').map((e) => e.key);
      expect(computedKeys).toHaveLength(2);
      expect(new Set(computedKeys).size).toBe(2);
      expect(new Set(nets.map((e) => e.key))).toEqual(new Set(computedKeys));

      // --dry-run lists the grid with what already finished; config show keeps sweep:
      const dry = await runCli(
        [
          'sweep',
          'grid.yaml',
          '--dry-run',
          '--set',
          `cacheDir=${path.join(dir, 'cache-par')}`,
          '--set',
          `tracking.uri=file:${parStore}`,
        ],
        dir,
      );
      expect(dry.stdout.split('\n').slice(0, 2)).toEqual([
        expect.stringMatching(/^sweep [0-9a-f]{8}: 4 point\(s\), 0 to run$/),
        expect.stringMatching(/^ {3}1\. lambda=0,seed=5 {2}config [0-9a-f]{12} {2}finished as run [0-9a-f]{32}$/),
      ]);
      const shown = await runCli(['config', 'show', 'grid.yaml'], dir);
      expect(shown.stdout).toContain('# sweep: 4 point(s)');
      expect(shown.stdout).toContain('sweep:\n  methods.0.lambda:\n    - 0\n    - 0.01\n  seed:\n    - 5\n    - 6\n');
    },
    900_000,
  );
});
