/**
 * Checkpoints through the CLI (the built `apps/runner/dist/main.js` as a child process): a run SIGKILLed during
 * the seen network's training continues it from `<cache>/checkpoints/seen-network/<key>/` on the next run; that
 * run SIGKILLed during NIWT's stage D continues stage D from `<cache>/checkpoints/method/<key>/`; the results
 * equal an uninterrupted run's exactly, and no checkpoint is left once the run is done.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers.js';

const MAIN = path.join(REPO, 'apps/runner/dist/main.js');

const CONFIG = `experiment: checkpoint-test
seed: 7
dataset: { name: shapes, imagesPerClass: 24, seenClasses: 6, unseenClasses: 3, root: data/shapes }
backbone: { name: small-cnn, imageSize: 16, widths: [8, 16, 16], hidden: 32, train: { epochs: 3, patience: 10 } }
methods: [{ name: niwt, map: { epochs: 60 }, maxSteps: 400, patience: 400, pairsPerClass: 50 }]
explain: { enabled: false }
`;

interface Done {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI; `killWhen` is polled every 5 ms and SIGKILLs the process once it returns true. */
function cli(args: string[], cwd: string, killWhen?: () => boolean): Promise<Done> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = killWhen ? setInterval(() => killWhen() && child.kill('SIGKILL'), 5) : undefined;
    child.on('close', (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Files (not folders) under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(p) : [p];
  });
}

type Metrics = number[][];
interface Results {
  readonly methods: readonly { s: number; u: number; H: number; zslT1: number }[];
}
const metricsOf = (result: Results): Metrics => result.methods.map((m) => [m.s, m.u, m.H, m.zslT1]);

/** The results.json artifact of the run a non-JSON `niwt run` printed (`run <id> in <location>`). */
function resultsOf(dir: string, stdout: string): Metrics {
  const id = /run ([0-9a-f]{32}) in /.exec(stdout)![1];
  const artifact = path.join('results', 'results.json');
  const file = filesUnder(path.join(dir, 'mlruns')).find((f) => f.includes(id) && f.endsWith(artifact))!;
  return metricsOf(JSON.parse(readFileSync(file, 'utf8')) as Results);
}

describe('checkpoints through the CLI', () => {
  it('killed in seen training, then in stage D: reruns resume the checkpoints; same results; none left', async () => {
    const ref = tempDir('ckpt-ref');
    writeFileSync(path.join(ref, 'c.yaml'), CONFIG);
    const r0 = await cli(['run', 'c.yaml', '--json'], ref);
    expect(r0.code).toBe(0);
    const reference = metricsOf(JSON.parse(r0.stdout));
    expect(existsSync(path.join(ref, '.niwt/cache/checkpoints'))).toBe(false);

    const dir = tempDir('ckpt');
    writeFileSync(path.join(dir, 'c.yaml'), CONFIG);
    const ckpts = path.join(dir, '.niwt/cache/checkpoints');
    const has = (sub: string, end: string) => (): boolean =>
      filesUnder(path.join(ckpts, sub)).some((f) => f.endsWith(end));
    const r1 = await cli(['run', 'c.yaml'], dir, has('seen-network', 'seen-loop.ckpt'));
    expect(r1.signal).toBe('SIGKILL');

    const r2 = await cli(['run', 'c.yaml'], dir, has('method', path.join('stage-d', 'stage-d.ckpt')));
    expect(r2.signal).toBe('SIGKILL');
    expect(r2.stderr).toMatch(/train small-cnn: resuming after epoch [1-3] from .*seen-network/);
    // the seen network is cached now: its checkpoint folder is gone; stage D's is there
    expect(filesUnder(path.join(ckpts, 'seen-network'))).toEqual([]);

    const r3 = await cli(['run', 'c.yaml'], dir);
    expect(r3.code).toBe(0);
    expect(r3.stderr).toMatch(/niwt stage D: resuming after step \d+ from its checkpoint/);
    expect(resultsOf(dir, r3.stdout)).toEqual(reference);
    expect(filesUnder(ckpts)).toEqual([]);
    expect(existsSync(ckpts)).toBe(false); // empty parents removed too: `niwt cache ls` shows no checkpoints stage
  }, 600_000);
});
