/**
 * Crash simulation: a filesystem call at a chosen point never returns (as if the process died
 * there), and we inspect what a reader would find on disk at that instant.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import YAML from 'yaml';
import { FileStoreTracker } from './file-store.js';
import { listLocalRuns, readLocalRun } from './read.js';

type Op = 'rename' | 'link';
const crash = vi.hoisted(() => ({
  at: undefined as undefined | ((op: Op, from: string, to: string) => boolean),
  hit: false,
}));

vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  const freeze =
    <A extends [string, string]>(op: Op, fn: (...args: A) => Promise<void>) =>
    (...args: A): Promise<void> => {
      if (crash.at?.(op, String(args[0]), String(args[1]))) {
        crash.hit = true;
        return new Promise<void>(() => undefined); // the process "died" here: nothing after it runs
      }
      return fn(...args);
    };
  return { ...orig, default: orig, rename: freeze('rename', orig.rename), link: freeze('link', orig.link) };
});

let tmp: string;
let root: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-crash-'));
  root = path.join(tmp, 'mlruns');
  crash.at = undefined;
  crash.hit = false;
});
afterEach(async () => {
  crash.at = undefined;
  await fs.rm(tmp, { recursive: true, force: true });
});

const isRunDir = (p: string): boolean => /^[0-9a-f]{32}$/.test(path.basename(p));

/** Waits until the frozen call is reached. */
async function untilCrash(): Promise<void> {
  for (let i = 0; i < 200 && !crash.hit; i++) await new Promise((r) => setTimeout(r, 5));
  expect(crash.hit).toBe(true);
}

/** Every folder of the experiment that has a meta.yaml must be a complete, parseable run. */
async function assertNoPartialRun(expDir: string): Promise<void> {
  for (const name of await fs.readdir(expDir)) {
    const dir = path.join(expDir, name);
    if (!(await fs.stat(dir)).isDirectory()) continue;
    const meta = await fs.readFile(path.join(dir, 'meta.yaml'), 'utf8').catch(() => undefined);
    if (meta === undefined) continue; // MLflow skips it ("Malformed run", debug level)
    const parsed = YAML.parse(meta) as Record<string, unknown>;
    expect(parsed.run_id).toBe(name);
    for (const sub of ['metrics', 'params', 'artifacts', 'tags'])
      expect((await fs.stat(path.join(dir, sub))).isDirectory()).toBe(true);
  }
}

async function onlyExperimentDir(): Promise<string> {
  const dirs = (await fs.readdir(root)).filter((d) => /^[1-9]\d{17}$/.test(d));
  expect(dirs).toHaveLength(1);
  return path.join(root, dirs[0]);
}

describe('crash while starting a run', () => {
  it('before the staging folder is renamed: only a .niwt-tmp-* folder without meta.yaml exists', async () => {
    crash.at = (op, from, to) => op === 'rename' && path.basename(from).startsWith('.niwt-tmp-') && isRunDir(to);
    void new FileStoreTracker(root).startRun({ experiment: 'e', runName: 'r' });
    await untilCrash();
    const exp = await onlyExperimentDir();
    const names = (await fs.readdir(exp)).filter((n) => n !== 'meta.yaml');
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^\.niwt-tmp-[0-9a-f]{32}$/);
    // The staging folder is complete but has no meta.yaml, so MLflow and we skip it.
    expect((await fs.readdir(path.join(exp, names[0]))).sort()).toEqual(['artifacts', 'metrics', 'params', 'tags']);
    await assertNoPartialRun(exp);
    expect(await listLocalRuns(root)).toEqual([]);
  });

  it('after the rename, before meta.yaml is published: the run folder has no meta.yaml', async () => {
    crash.at = (op, _from, to) => op === 'rename' && path.basename(to) === 'meta.yaml' && isRunDir(path.dirname(to));
    void new FileStoreTracker(root).startRun({ experiment: 'e', runName: 'r' });
    await untilCrash();
    const exp = await onlyExperimentDir();
    const runs = (await fs.readdir(exp)).filter((n) => isRunDir(n));
    expect(runs).toHaveLength(1);
    const entries = await fs.readdir(path.join(exp, runs[0]));
    expect(entries).not.toContain('meta.yaml');
    // The complete meta.yaml waits in a temp file, which MLflow never reads.
    expect(entries.filter((n) => n.startsWith('.niwt-tmp-'))).toHaveLength(1);
    await assertNoPartialRun(exp);
    expect(await listLocalRuns(root)).toEqual([]);
    await expect(readLocalRun(path.join(exp, runs[0]))).rejects.toThrow(
      /is not a readable MLflow run \(no valid meta\.yaml/,
    );
  });

  it('while the experiment meta.yaml is published: a later start repairs the experiment', async () => {
    crash.at = (op, _from, to) =>
      op === 'rename' && path.basename(to) === 'meta.yaml' && /^[1-9]\d{17}$/.test(path.basename(path.dirname(to)));
    void new FileStoreTracker(root).startRun({ experiment: 'e' });
    await untilCrash();
    const exp = await onlyExperimentDir();
    expect(await fs.readdir(exp)).not.toContain('meta.yaml');
    crash.at = undefined;
    const run = await new FileStoreTracker(root).startRun({ experiment: 'e' });
    expect(path.dirname(run.location)).toBe(exp);
    expect(YAML.parse(await fs.readFile(path.join(exp, 'meta.yaml'), 'utf8'))).toMatchObject({
      name: 'e',
      lifecycle_stage: 'active',
    });
  });
});

describe('crash while logging', () => {
  it('end(): the old meta.yaml stays whole until the new one replaces it', async () => {
    const run = await new FileStoreTracker(root).startRun({ experiment: 'e' });
    const before = await fs.readFile(path.join(run.location, 'meta.yaml'), 'utf8');
    crash.at = (op, _from, to) => op === 'rename' && to === path.join(run.location, 'meta.yaml');
    void run.end('FINISHED');
    await untilCrash();
    expect(await fs.readFile(path.join(run.location, 'meta.yaml'), 'utf8')).toBe(before);
    expect((await readLocalRun(run.location)).status).toBe('RUNNING');
  });

  it('params and tags never appear half-written, and temp files stay out of params/ and tags/', async () => {
    const run = await new FileStoreTracker(root).startRun({ experiment: 'e' });
    crash.at = (op, _from, to) =>
      (op === 'link' || op === 'rename') &&
      (to.includes(`${path.sep}params${path.sep}`) || to.includes(`${path.sep}tags${path.sep}`));
    void run.logParams({ description: 'x'.repeat(5000) });
    await untilCrash();
    expect(await fs.readdir(path.join(run.location, 'params'))).toEqual([]);
    const back = await readLocalRun(run.location);
    expect(back.params).toEqual({});
    expect(Object.keys(back.tags).every((k) => k.startsWith('mlflow.'))).toBe(true);
    // The complete value waits at the run root under a temp name.
    const tmpFiles = (await fs.readdir(run.location)).filter((n) => n.startsWith('.niwt-tmp-'));
    expect(tmpFiles).toHaveLength(1);
    expect((await fs.readFile(path.join(run.location, tmpFiles[0]), 'utf8')).length).toBe(5000);
  });
});
