/** `niwt cache ls / prune` on a cache written by StageCache: sizes, ages, states, and what prune removes. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { StageCache, UsageError } from '@niwt/core';
import { parseAge, registerCacheCommands } from '../commands/cache.js';
import { commandCli, tempDir } from './helpers.js';

async function cacheCli(args: string[]): Promise<string> {
  const r = await commandCli(registerCacheCommands, args);
  if (r.error) throw r.error;
  return r.stdout;
}

const DAY = 86_400_000;

/** Two activations entries (10 days and 1 hour old), one seen network (3 days), one abandoned temp folder (2 days). */
async function fixture(): Promise<string> {
  const root = path.join(tempDir('cache'), 'cache');
  const cache = new StageCache(root);
  const put = async (stage: string, key: string, bytes: number, ageMs: number): Promise<void> => {
    const { dir } = await cache.getOrCreate(stage, key, (tmp) =>
      fs.writeFile(path.join(tmp, 'data.bin'), Buffer.alloc(bytes)),
    );
    const t = new Date(Date.now() - ageMs);
    await fs.utimes(path.join(dir, '.complete'), t, t);
  };
  await put('activations', 'aaaa', 1000, 10 * DAY);
  await put('activations', 'bbbb', 2000, 3600_000);
  await put('seen-network', 'cccc', 500, 3 * DAY);
  const tmp = path.join(root, 'seen-network', 'dddd.tmp-4242-1700000000000');
  await fs.mkdir(tmp, { recursive: true });
  await fs.writeFile(path.join(tmp, 'partial.bin'), Buffer.alloc(300));
  const t = new Date(Date.now() - 2 * DAY);
  await fs.utimes(tmp, t, t);
  return root;
}

interface LsJson {
  stages: { stage: string; entries: number; bytes: number }[];
  entries: { stage: string; key: string; state: string; bytes: number; files: number; ageSeconds: number }[];
}

describe('niwt cache', () => {
  it('ls lists entries per stage with size, file count, age and state', async () => {
    const root = await fixture();
    const ls = JSON.parse(await cacheCli(['cache', 'ls', '--dir', root, '--json'])) as LsJson;
    // each complete entry holds data.bin plus the 24-byte ISO timestamp in .complete
    expect(ls.stages).toEqual([
      { stage: 'activations', entries: 2, bytes: 1024 + 2024 },
      { stage: 'seen-network', entries: 2, bytes: 524 + 300 },
    ]);
    expect(ls.entries.map((e) => [e.stage, e.key, e.state, e.bytes, e.files])).toEqual([
      ['activations', 'aaaa', 'complete', 1024, 2],
      ['activations', 'bbbb', 'complete', 2024, 2],
      ['seen-network', 'cccc', 'complete', 524, 2],
      ['seen-network', 'dddd.tmp-4242-1700000000000', 'temporary', 300, 1],
    ]);
    expect(Math.round(ls.entries[0].ageSeconds / 86400)).toBe(10);
    expect(Math.round(ls.entries[1].ageSeconds / 3600)).toBe(1);
    const text = await cacheCli(['cache', 'ls', '--dir', root, '--stage', 'activations']);
    expect(text.split('\n').filter((l) => l !== '')).toHaveLength(3);
    expect(text).toMatch(/^activations {2}2 entries, 3\.0 KiB$/m);
    expect(text).toMatch(/^ {2}aaaa +1\.0 KiB +10d$/m);
    expect(
      JSON.parse(await cacheCli(['cache', 'ls', '--dir', path.join(root, 'missing'), '--json'])) as LsJson,
    ).toMatchObject({ stages: [], entries: [] });
  });

  it('prune --older-than removes old entries (temp folders of killed runs included) and keeps the rest', async () => {
    const root = await fixture();
    const dry = JSON.parse(
      await cacheCli(['cache', 'prune', '--dir', root, '--older-than', '36h', '--dry-run', '--json']),
    ) as { removed: { key: string }[]; kept: number; bytes: number };
    expect(dry.removed.map((e) => e.key)).toEqual(['aaaa', 'cccc', 'dddd.tmp-4242-1700000000000']);
    expect(dry).toMatchObject({ kept: 1, bytes: 1024 + 524 + 300 });
    expect((await fs.readdir(path.join(root, 'activations'))).sort()).toEqual(['aaaa', 'bbbb']);

    const text = await cacheCli(['cache', 'prune', '--dir', root, '--older-than', '7d']);
    expect(text.trim()).toBe('removed 1 entry (1.0 KiB), kept 3');
    expect(await fs.readdir(path.join(root, 'activations'))).toEqual(['bbbb']);
    expect(await new StageCache(root).get('activations', 'bbbb')).toBe(path.join(root, 'activations', 'bbbb'));

    const stage = JSON.parse(
      await cacheCli(['cache', 'prune', '--dir', root, '--stage', 'seen-network', '--all', '--json']),
    ) as { removed: { key: string }[]; kept: number };
    expect(stage.removed.map((e) => e.key)).toEqual(['cccc', 'dddd.tmp-4242-1700000000000']);
    expect(stage.kept).toBe(1);
    expect(await fs.readdir(path.join(root, 'seen-network'))).toEqual([]);
    expect(await fs.readdir(path.join(root, 'activations'))).toEqual(['bbbb']);
  });

  it('refuses a prune that does not say what to remove, an unknown stage and a malformed age', async () => {
    const root = await fixture();
    await expect(cacheCli(['cache', 'prune', '--dir', root])).rejects.toThrow(
      /--older-than <age> \(e\.g\. 7d\) or --all/,
    );
    await expect(cacheCli(['cache', 'prune', '--dir', root, '--all', '--stage', 'activation'])).rejects.toThrow(
      /no such stage .*stages: activations, seen-network/,
    );
    await expect(cacheCli(['cache', 'prune', '--dir', root, '--older-than', 'week'])).rejects.toBeInstanceOf(
      UsageError,
    );
    expect(parseAge('90m')).toBe(90 * 60_000);
    expect(parseAge('2w')).toBe(14 * DAY);
    expect((await fs.readdir(path.join(root, 'activations'))).sort()).toEqual(['aaaa', 'bbbb']);
  });

  it('ls shows held locks, unlock removes them, log prints the hit/miss log of the lookups', async () => {
    const root = await fixture();
    await new StageCache(root).getOrCreate('activations', 'aaaa', () => Promise.reject(new Error('not called')));
    // a lock of another host: respected for 7 days, then stale
    const owner = { pid: 4242, host: 'other-host', started: Date.now() - 3600_000 };
    const old = { ...owner, started: Date.now() - 8 * DAY };
    const file = (stage: string, key: string): string => path.join(root, stage, `${key}.lock`);
    await fs.writeFile(file('seen-network', 'eeee'), JSON.stringify(owner));
    await fs.writeFile(file('activations', 'gggg'), JSON.stringify(old));
    const ls = JSON.parse(await cacheCli(['cache', 'ls', '--dir', root, '--json'])) as { locks: unknown[] };
    expect(ls.locks).toEqual([
      { stage: 'activations', key: 'gggg', file: file('activations', 'gggg'), owner: old, stale: true },
      { stage: 'seen-network', key: 'eeee', file: file('seen-network', 'eeee'), owner, stale: false },
    ]);
    const text = await cacheCli(['cache', 'ls', '--dir', root]);
    const since = new Date(owner.started).toISOString();
    expect(text.split('\n')).toContain(`locked seen-network/eeee by pid 4242 on other-host since ${since}`);
    expect(text).toMatch(/^locked activations\/gggg by pid 4242 on other-host since \S+ \(stale\)$/m);
    // a temporary named the current way (pid, time, host) is recognised as one
    await fs.mkdir(path.join(root, 'seen-network', 'ffff.tmp-4243-mabc12-somehost'));
    const listed = JSON.parse(await cacheCli(['cache', 'ls', '--dir', root, '--json'])) as LsJson;
    const states = listed.entries.map((e) => [e.key, e.state]);
    expect(states).toContainEqual(['ffff.tmp-4243-mabc12-somehost', 'temporary']);

    expect((await cacheCli(['cache', 'unlock', '--dir', root, '--stage', 'knowledge'])).trim()).toBe('removed 0 locks');
    const unlocked = await cacheCli(['cache', 'unlock', '--dir', root, '--key', 'eeee']);
    const held = '(held by pid 4242 on other-host)';
    expect(unlocked).toBe(`unlocked ${file('seen-network', 'eeee')} ${held}\nremoved 1 lock\n`);
    expect(await fs.readdir(path.join(root, 'seen-network'))).not.toContain('eeee.lock');
    expect(await fs.readdir(path.join(root, 'activations'))).toContain('gggg.lock');

    // the fixture computed three entries (miss, computed each), then one lookup hit
    const lines = (await cacheCli(['cache', 'log', '--dir', root, '--json'])).trim().split('\n');
    const log = lines.map((l) => JSON.parse(l) as { event: string; key: string });
    const computed = (k: string): string[] => [`${k}:miss`, `${k}:computed`];
    const expected = [...computed('aaaa'), ...computed('bbbb'), ...computed('cccc'), 'aaaa:hit'];
    expect(log.map((e) => `${e.key}:${e.event}`)).toEqual(expected);
    const plain = await cacheCli(['cache', 'log', '--dir', root, '--stage', 'seen-network']);
    expect(plain.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^\\S+Z {2}miss {7}seen-network/cccc {2}pid ${process.pid} on \\S+$`)),
      expect.stringMatching(
        new RegExp(`^\\S+Z {2}computed {3}seen-network/cccc {2}pid ${process.pid} on \\S+ {2}\\d+\\.\\ds$`),
      ),
    ]);
  });
});
