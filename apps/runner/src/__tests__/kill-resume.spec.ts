/**
 * Kill tests: a `niwt run` killed (SIGKILL) during activation extraction, and one killed during stage D,
 * resume with `niwt run --resume` and end with the same metrics as an uninterrupted run with the same seed.
 * The CLI runs as a real child process (the built `apps/runner/dist/main.js`).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers.js';

const MAIN = path.join(REPO, 'apps/runner/dist/main.js');

const CONFIG = `experiment: kill-test
seed: 5
dataset: { name: shapes, imagesPerClass: 40, seenClasses: 10, unseenClasses: 5, root: data/shapes }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 100 }, maxSteps: 2500, patience: 2000 }]
explain: { enabled: false }
`;

interface Done {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; `killWhen` is polled every 5 ms and SIGKILLs the process once it returns true. */
function cli(args: string[], cwd: string, killWhen?: () => boolean): Promise<Done & { killed: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = killWhen
      ? setInterval(() => {
          if (!killed && killWhen()) {
            killed = true;
            child.kill('SIGKILL');
          }
        }, 5)
      : undefined;
    child.on('close', (code, signal) => {
      if (timer) clearInterval(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

function findDeep(dir: string, test: (p: string) => boolean): boolean {
  if (!existsSync(dir)) return false;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (test(p)) return true;
    if (e.isDirectory() && findDeep(p, test)) return true;
  }
  return false;
}

const metricsOf = (out: string) => (JSON.parse(out) as { methods: { s: number; u: number; H: number; zslT1: number }[] }).methods.map((m) => [m.s, m.u, m.H, m.zslT1]);

describe('kill and resume', () => {
  let reference: number[][];

  it('an uninterrupted run gives the reference metrics', async () => {
    const dir = tempDir('kill-ref');
    writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
    const r = await cli(['run', 'k.yaml', '--json'], dir);
    expect(r.code).toBe(0);
    reference = metricsOf(r.stdout);
  }, 600_000);

  it('killed during activation extraction: no cache entry is trusted, and --resume ends with the same metrics', async () => {
    const dir = tempDir('kill-extract');
    writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
    const acts = path.join(dir, '.niwt/cache/activations');
    // a partial tap file inside a temporary cache entry means extraction is under way
    const r = await cli(['run', 'k.yaml', '--json'], dir, () => findDeep(acts, (p) => /trainval_tap\.npy\.tmp-/.test(p)));
    expect(r.killed).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    // the interrupted entry is not complete, so a rerun cannot trust it
    expect(findDeep(acts, (p) => p.endsWith('.complete'))).toBe(false);
    const resumed = await cli(['run', 'k.yaml', '--json', '--resume'], dir);
    expect(resumed.code).toBe(0);
    expect((JSON.parse(resumed.stdout) as { resumedFrom?: string }).resumedFrom).toMatch(/^[0-9a-f]{32}$/);
    expect(metricsOf(resumed.stdout)).toEqual(reference);
  }, 600_000);

  it('killed during stage D: --resume reuses the network and activations and ends with the same metrics', async () => {
    const dir = tempDir('kill-d');
    writeFileSync(path.join(dir, 'k.yaml'), CONFIG);
    const mlruns = path.join(dir, 'mlruns');
    const r = await cli(['run', 'k.yaml', '--json'], dir, () => findDeep(mlruns, (p) => p.endsWith(path.join('metrics', 'stageD', 'loss'))));
    expect(r.killed).toBe(true);
    expect(findDeep(path.join(dir, '.niwt/cache/activations'), (p) => p.endsWith('.complete'))).toBe(true);
    const resumed = await cli(['run', 'k.yaml', '--json', '--resume', '--verbose'], dir);
    expect(resumed.code).toBe(0);
    const json = JSON.parse(resumed.stdout) as { seenNetwork: { cached: boolean }; activationsCached: boolean };
    expect(json.seenNetwork.cached).toBe(true);
    expect(json.activationsCached).toBe(true);
    expect(metricsOf(resumed.stdout)).toEqual(reference);
  }, 600_000);
});
