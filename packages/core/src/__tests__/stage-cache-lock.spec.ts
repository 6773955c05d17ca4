/**
 * The per-entry lock of StageCache across processes: a SIGKILLed owner's lock is taken over, a live owner is
 * waited for (and its entry reported as a hit), N processes started together compute an entry once — with the
 * machine saturated by CPU burners. Children run the built module (`dist/stage-cache.js`; `npm test` builds first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, promises as fs, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StageCache, type CacheEvent } from '../stage-cache.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DIST = pathToFileURL(path.resolve(HERE, '../../dist/stage-cache.js')).href;

/**
 * A child that computes `stage/key` in `root`: it records the call in `calls/`, waits for `gate` to exist (when
 * given), writes its pid as the entry's value and prints `{hit, waited, value}` as JSON.
 */
const CHILD = `
import { promises as fs, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
const { StageCache } = await import(process.env.DIST);
const [root, gate, start] = process.argv.slice(2);
while (start && !existsSync(start)) await new Promise((r) => setTimeout(r, 5));
const cache = new StageCache(root);
const r = await cache.getOrCreate('stage', 'key', async (tmp) => {
  writeFileSync(path.join(root, 'calls', String(process.pid)), '');
  while (gate && !existsSync(gate)) await new Promise((r) => setTimeout(r, 10));
  await fs.writeFile(path.join(tmp, 'value'), String(process.pid));
});
const value = await fs.readFile(path.join(r.dir, 'value'), 'utf8');
process.stdout.write(JSON.stringify({ hit: r.hit, waited: Boolean(r.waited), value }));
`;

let script = '';
const burners: ChildProcess[] = [];

beforeAll(() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-lock-'));
  script = path.join(dir, 'child.mjs');
  writeFileSync(script, CHILD);
  // saturate both cores: waiting, polling and stale detection must not depend on a quiet machine
  for (let i = 0; i < 2; i++) burners.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
});

afterAll(() => {
  for (const b of burners) b.kill('SIGKILL');
});

interface ChildResult {
  hit: boolean;
  waited: boolean;
  value: string;
}

function child(root: string, gate = '', start = ''): { proc: ChildProcess; result: Promise<ChildResult> } {
  const env = { ...process.env, DIST };
  const proc = spawn(process.execPath, [script, root, gate, start], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<ChildResult>((resolve, reject) =>
    proc.on('exit', (code, signal) => {
      if (code === 0) resolve(JSON.parse(out) as ChildResult);
      else reject(new Error(`child ${code ?? signal}: ${err}`));
    }),
  );
  return { proc, result };
}

async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function events(root: string): Promise<CacheEvent[]> {
  return (await fs.readFile(path.join(root, 'cache-log.jsonl'), 'utf8'))
    .split('\n')
    .filter((l) => l)
    .map((l) => JSON.parse(l) as CacheEvent);
}

async function freshRoot(): Promise<string> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'niwt-lockroot-'));
  await fs.mkdir(path.join(root, 'calls'));
  return root;
}

describe('StageCache lock across processes', () => {
  it('takes over the lock of a SIGKILLed owner and removes its half-written entry', async () => {
    const root = await freshRoot();
    const { proc, result } = child(root, path.join(root, 'never'));
    const lock = path.join(root, 'stage', 'key.lock');
    const started = (): boolean => existsSync(lock) && readdirSync(path.join(root, 'calls')).length === 1;
    await until(started, 'the child to lock and start computing');
    const tmp = readdirSync(path.join(root, 'stage')).filter((n) => n.startsWith('key.tmp-'));
    expect(tmp).toHaveLength(1);
    proc.kill('SIGKILL');
    await expect(result).rejects.toThrow('SIGKILL');
    expect(existsSync(lock)).toBe(true); // a SIGKILL runs no cleanup

    const write = (dir: string): Promise<void> => fs.writeFile(path.join(dir, 'value'), 'parent');
    const r = await new StageCache(root).getOrCreate('stage', 'key', write);
    expect(r.hit).toBe(false);
    expect(await fs.readFile(path.join(r.dir, 'value'), 'utf8')).toBe('parent');
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(path.join(root, 'stage', tmp[0]))).toBe(false);
    const log = await events(root);
    expect(log.filter((e) => e.pid === process.pid).map((e) => e.event)).toEqual(['miss', 'stale-lock', 'computed']);
    expect(log.find((e) => e.event === 'stale-lock')!.owner!.pid).toBe(proc.pid);
  });

  it('waits for a live owner, then reads its entry as a hit (logged as waited) without computing', async () => {
    const root = await freshRoot();
    const gate = path.join(root, 'gate');
    const { proc, result } = child(root, gate);
    await until(() => readdirSync(path.join(root, 'calls')).length === 1, 'the child to start computing');
    let waitedFor = -1;
    let computed = false;
    const cache = new StageCache(root, {
      onWait: (_s, _k, owner) => {
        waitedFor = owner.pid;
        writeFileSync(gate, ''); // now let the owner finish
      },
    });
    const r = await cache.getOrCreate('stage', 'key', async () => {
      computed = true;
    });
    expect(waitedFor).toBe(proc.pid);
    expect(computed).toBe(false);
    expect(r).toMatchObject({ hit: true, waited: true });
    expect(await fs.readFile(path.join(r.dir, 'value'), 'utf8')).toBe(String(proc.pid));
    expect(await result).toEqual({ hit: false, waited: false, value: String(proc.pid) });
    const log = await events(root);
    expect(log.filter((e) => e.pid === proc.pid).map((e) => e.event)).toEqual(['miss', 'computed']);
    expect(log.filter((e) => e.pid === process.pid).map((e) => e.event)).toEqual(['miss', 'waited']);
    expect(log.find((e) => e.event === 'waited')!.owner!.pid).toBe(proc.pid);
  });

  it('N processes started together on a cold entry compute it once; the others wait and report a hit', async () => {
    const root = await freshRoot();
    const start = path.join(root, 'start');
    const gate = path.join(root, 'gate');
    const kids = Array.from({ length: 5 }, () => child(root, gate, start));
    await new Promise((r) => setTimeout(r, 300)); // let them all load and spin on the start file
    writeFileSync(start, '');
    await until(() => readdirSync(path.join(root, 'calls')).length >= 1, 'one child to compute');
    await new Promise((r) => setTimeout(r, 1500)); // a second computation, if the lock failed, would start now
    writeFileSync(gate, '');
    const results = await Promise.all(kids.map((k) => k.result));
    const calls = readdirSync(path.join(root, 'calls'));
    expect(calls).toHaveLength(1);
    expect(results.filter((r) => !r.hit)).toHaveLength(1);
    expect(new Set(results.map((r) => r.value))).toEqual(new Set([calls[0]]));
    const log = await events(root);
    expect(log.filter((e) => e.event === 'computed').map((e) => String(e.pid))).toEqual(calls);
    expect(log.filter((e) => e.event === 'waited' || e.event === 'hit')).toHaveLength(4);
    expect(log.filter((e) => e.event === 'stale-lock' || e.event === 'failed')).toHaveLength(0);
  });

  it('respects a lock of another host until removed (cache unlock); breaks one older than the age limit', async () => {
    const root = await freshRoot();
    await fs.mkdir(path.join(root, 'stage'), { recursive: true });
    const lock = path.join(root, 'stage', 'key.lock');
    writeFileSync(lock, JSON.stringify({ pid: 1, host: 'other-host.example', started: Date.now() }));
    let waits = 0;
    const cache = new StageCache(root, { onWait: () => waits++, maxPollMs: 50 });
    const pending = cache.getOrCreate('stage', 'key', (dir) => fs.writeFile(path.join(dir, 'value'), 'mine'));
    await new Promise((r) => setTimeout(r, 500));
    expect(waits).toBe(1);
    expect(await cache.get('stage', 'key')).toBeUndefined();
    await fs.rm(lock);
    expect((await pending).hit).toBe(false);

    const old = new StageCache(root, { foreignLockMaxAgeMs: 60_000 });
    const foreign = { pid: 1, host: 'other-host.example', started: Date.now() - 120_000 };
    writeFileSync(path.join(root, 'stage', 'k2.lock'), JSON.stringify(foreign));
    expect((await old.getOrCreate('stage', 'k2', (dir) => fs.writeFile(path.join(dir, 'value'), 'x'))).hit).toBe(false);
    const k2 = (await events(root)).filter((e) => e.key === 'k2');
    expect(k2.map((e) => e.event)).toEqual(['miss', 'stale-lock', 'computed']);
  });

  it('a failed computation releases the lock and logs failed; the next caller computes', async () => {
    const root = await freshRoot();
    const cache = new StageCache(root);
    await expect(cache.getOrCreate('stage', 'key', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(existsSync(path.join(root, 'stage', 'key.lock'))).toBe(false);
    expect(readdirSync(path.join(root, 'stage'))).toEqual([]);
    expect((await cache.getOrCreate('stage', 'key', (dir) => fs.writeFile(path.join(dir, 'v'), '1'))).hit).toBe(false);
    expect((await cache.getOrCreate('stage', 'key', () => Promise.reject(new Error('not called')))).hit).toBe(true);
    expect((await events(root)).map((e) => e.event)).toEqual(['miss', 'failed', 'miss', 'computed', 'hit']);
  });
});
