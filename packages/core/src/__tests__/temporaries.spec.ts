import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StageCache } from '../stage-cache.js';
import {
  addExitCleanup,
  ownTemporaries,
  removeOwnTemporariesSync,
  runExitCleanupsSync,
  removeStaleTemporaries,
  temporaryFor,
  temporaryOwner,
} from '../temporaries.js';

const HOST = os.hostname().replace(/[^\w.]/g, '_');

/** A pid that existed and has exited: a finished child's. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('temporaries', () => {
  it('names carry pid and host, and parse back', () => {
    const t = temporaryFor('/x/seen-network/abc');
    expect(path.basename(t)).toMatch(new RegExp(`^abc\\.tmp-${process.pid}-[0-9a-z]+-${HOST.replace(/\./g, '\\.')}$`));
    expect(temporaryOwner(path.basename(t))).toEqual({ pid: process.pid, host: HOST });
    expect(temporaryOwner('abc.tmp-123-k2j')).toEqual({ pid: 123, host: HOST });
    expect(temporaryOwner('abc')).toBeUndefined();
    removeOwnTemporariesSync();
  });

  it('removes stale temporaries of dead processes of this host only, keeping live and foreign ones', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'niwt-tmps-'));
    const dead = deadPid();
    const stale = path.join(root, 'seen-network', `k1.tmp-${dead}-abc-${HOST}`);
    const legacy = path.join(root, 'activations', `k2.tmp-${dead}-1700000000000`);
    const live = path.join(root, 'seen-network', `k3.tmp-${process.ppid}-abc-${HOST}`);
    const foreign = path.join(root, 'seen-network', `k4.tmp-${dead}-abc-otherhost`);
    const entry = path.join(root, 'seen-network', 'k5');
    for (const d of [stale, legacy, live, foreign, entry]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(stale, 'partial'), 'x');
    expect(removeStaleTemporaries(root).sort()).toEqual([legacy, stale].sort());
    expect([stale, legacy, live, foreign, entry].map((d) => existsSync(d))).toEqual([false, false, true, true, true]);
  });

  it('a cache entry being written is this process’s until it lands; removeOwnTemporariesSync deletes it', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'niwt-tmps-'));
    const cache = new StageCache(root);
    let seen: string[] = [];
    const pending = cache.getOrCreate('stage', 'key', async (tmp) => {
      seen = [...ownTemporaries()];
      writeFileSync(path.join(tmp, 'a'), '1');
      expect(removeOwnTemporariesSync()).toBe(1);
      expect(existsSync(tmp)).toBe(false);
      throw new Error('interrupted');
    });
    await expect(pending).rejects.toThrow('interrupted');
    expect(seen).toHaveLength(1);
    expect(ownTemporaries()).toEqual([]);
    const ok = await cache.getOrCreate('stage', 'key', async (tmp) => writeFileSync(path.join(tmp, 'a'), '2'));
    expect(ok.hit).toBe(false);
    expect(ownTemporaries()).toEqual([]);
  });

  it('exit cleanups run once, unregistered ones do not, and own temporaries go with them', () => {
    const calls: string[] = [];
    addExitCleanup(() => calls.push('a'));
    const off = addExitCleanup(() => calls.push('b'));
    addExitCleanup(() => {
      throw new Error('ignored');
    });
    off();
    const root = mkdtempSync(path.join(os.tmpdir(), 'niwt-tmps-'));
    const t = temporaryFor(path.join(root, 'x'));
    mkdirSync(t);
    expect(runExitCleanupsSync()).toBe(1);
    expect(calls).toEqual(['a']);
    expect(existsSync(t)).toBe(false);
    runExitCleanupsSync();
    expect(calls).toEqual(['a']);
  });
});
