/**
 * Tracking never stalls the user (issue 13, point 7), with the machine saturated on purpose: a finished run
 * whose server is down spools and returns within seconds, naming `niwt runs sync`; `runs sync` finds a down
 * server once (not per run, not after a retry budget each); a server answering HTML or other JSON is exit 2
 * naming tracking.uri and what came back; a `--spool` that does not exist is exit 2.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { silentLogger, type Logger } from '@niwt/core';
import { freePort, listSpoolRuns, NotMlflowError, RestTracker } from '@niwt/tracking';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

let burners: ChildProcess[] = [];
beforeAll(() => {
  // two busy children on a 2-core machine: the bounds below must hold under load
  burners = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
});
afterAll(() => {
  for (const b of burners) b.kill('SIGKILL');
});

const warnLogger = (warnings: string[]): Logger => ({ ...silentLogger, warn: (m) => void warnings.push(m) });

/** A peer that answers every request with an HTML login page, on `port`. */
async function htmlServer(port: number): Promise<{ requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  const srv = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!DOCTYPE html><html><body>Please sign in</body></html>');
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  return { requests, close: () => new Promise((r) => srv.close(() => r())) };
}

const RUNS = 8;
let dir: string;
let spool: string;
let port: number;

describe('a tracking server that is down', () => {
  beforeAll(async () => {
    dir = tempDir('stalls');
    spool = path.join(dir, 'spool');
    port = await freePort(); // nothing listens there
  });

  it(`finished runs spool and return within seconds (${RUNS} runs), saying so and naming niwt runs sync`, async () => {
    const warnings: string[] = [];
    // the defaults: 30 s per attempt, 60 s retry budget (what made the end of a run wait a minute)
    const tracker = new RestTracker({ uri: `http://127.0.0.1:${port}`, spoolDir: spool, logger: warnLogger(warnings) });
    const ends: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await tracker.startRun({ experiment: 'stalls', runName: `r${i}` });
      await run.logParams({ i });
      await run.logMetrics({ loss: 1 / (i + 1) }, 0);
      const t = performance.now();
      await run.end('FINISHED');
      ends.push((performance.now() - t) / 1000);
      expect(warnings.at(-1)).toBe(
        `tracking server http://127.0.0.1:${port} unreachable: run ${run.runId} spooled to ` +
          `${path.join(spool, run.runId)}; push it later with niwt runs sync`,
      );
    }
    expect(Math.max(...ends)).toBeLessThan(10);
    const spooled = await listSpoolRuns(spool);
    expect(spooled).toHaveLength(RUNS);
    for (const s of spooled) {
      const ops = (await s.opsFrom(0)).map((o) => o.op.t);
      expect(ops).toEqual(['entities', 'entities', 'end']);
      expect((await s.state()).done).not.toBe(true);
    }
  }, 120_000);

  it('niwt runs sync finds it once and stops: exit 2, one line, within seconds', async () => {
    const t = performance.now();
    const r = await runCli(['runs', 'sync', '--spool', spool], dir);
    const seconds = (performance.now() - t) / 1000;
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `niwt: tracking server http://127.0.0.1:${port} unreachable (ECONNREFUSED): ${RUNS} spooled run(s) ` +
        `kept in ${spool}; start the server and rerun niwt runs sync`,
    ]);
    expect(r.code).toBe(2);
    expect(seconds).toBeLessThan(10);
    for (const s of await listSpoolRuns(spool)) expect((await s.state()).createAttempts).toBe(0);
  }, 60_000);

  it(
    'a server answering HTML there: runs sync is exit 2 naming tracking.uri and what came back; nothing is ' + 'sent',
    async () => {
      const html = await htmlServer(port);
      try {
        const r = await runCli(['runs', 'sync', '--spool', spool], dir);
        expect(r.stderr.trimEnd().split('\n')).toEqual([
          `niwt: tracking.uri http://127.0.0.1:${port}: expected an MLflow REST answer from ` +
            `/api/2.0/mlflow/experiments/get-by-name, got HTTP 200 text/html ` +
            (`"<!DOCTYPE html><html><body>Please sign in</body></html>"; check that the URI is the MLflow ` +
              `server's root (no login page or extra path in between)`),
        ]);
        expect(r.code).toBe(2);
        expect(html.requests).toEqual(['GET /api/2.0/mlflow/experiments/get-by-name?experiment_name=Default']);
        // a run that starts while the server answers HTML: a typed error, no spool left behind
        const tracker = new RestTracker({ uri: `http://127.0.0.1:${port}`, spoolDir: path.join(dir, 'spool2') });
        const err = await tracker.startRun({ experiment: 'stalls' }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(NotMlflowError);
        expect((err as Error).message).toMatch(
          new RegExp(
            String.raw`^tracking\.uri http:\/\/127\.0\.0\.1:\d+: expected an MLflow REST answer from ` +
              String.raw`\/api\/2\.0\/mlflow\/experiments\/get-by-name, got HTTP 200 text\/html`,
          ),
        );
        expect(await fs.readdir(path.join(dir, 'spool2'))).toEqual([]);
      } finally {
        await html.close();
      }
    },
    60_000,
  );

  it('--spool that does not exist is exit 2; the default spool not existing yet is nothing to do', async () => {
    const r = await runCli(['runs', 'sync', '--spool', path.join(dir, 'nope')], dir);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `niwt: --spool ${path.join(dir, 'nope')}: no such folder; runs logged to a server are spooled in ` +
        `tracking.spoolDir (default .niwt/spool)`,
    ]);
    expect(r.code).toBe(2);
    const d = await runCli(['runs', 'sync'], dir);
    expect([d.code, d.stdout, d.stderr]).toEqual([0, 'nothing spooled (.niwt/spool does not exist)\n', '']);
  });
});
