/**
 * `niwt cache ls | prune | unlock | log`: the stage cache (`<cacheDir>/<stage>/<key>/`, see StageCache) seen
 * from the shell. Entries are complete (`.complete` present), temporary (`<key>.tmp-<pid>-…`: being written,
 * or left by a killed run) or other (e.g. the synthetic dataset under `data/`). Age is time since the entry
 * was completed (or last modified), since StageCache records no access time. `<key>.lock` files are the
 * per-entry locks of processes computing an entry.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { CACHE_LOG, UsageError, listLocks, temporaryOwner, type CacheEvent, type LockInfo } from '@niwt/core';

export const DEFAULT_CACHE_DIR = '.niwt/cache';

export type EntryState = 'complete' | 'temporary' | 'other';

export interface CacheEntry {
  readonly stage: string;
  readonly key: string;
  readonly state: EntryState;
  readonly bytes: number;
  readonly files: number;
  /** When it was completed (or last modified), ms since the epoch. */
  readonly time: number;
  readonly dir: string;
}

async function sizeOf(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const d of entries) {
    const p = path.join(dir, d.name);
    if (d.isDirectory()) {
      const s = await sizeOf(p);
      bytes += s.bytes;
      files += s.files;
    } else if (d.isFile()) {
      bytes += (await fs.stat(p).catch(() => ({ size: 0 }))).size;
      files += 1;
    }
  }
  return { bytes, files };
}

/** Every entry of a cache folder, by stage then key. A missing folder is an empty cache. */
export async function listCache(root: string): Promise<CacheEntry[]> {
  const out: CacheEntry[] = [];
  const stages = (await fs.readdir(root, { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  for (const stage of stages) {
    const keys = (await fs.readdir(path.join(root, stage), { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    for (const key of keys) {
      const dir = path.join(root, stage, key);
      const complete = await fs.stat(path.join(dir, '.complete')).catch(() => undefined);
      const state: EntryState = temporaryOwner(key) ? 'temporary' : complete ? 'complete' : 'other';
      const time = (complete ?? (await fs.stat(dir))).mtimeMs;
      out.push({ stage, key, state, ...(await sizeOf(dir)), time, dir });
    }
  }
  return out;
}

/** `7d`, `12h`, `30m`, `45s`, `2w` → milliseconds. */
export function parseAge(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  if (!m)
    throw new UsageError(`--older-than ${JSON.stringify(text)}: expected a number and a unit, e.g. 30m, 12h, 7d, 2w`);
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

export function formatAge(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 90) return `${Math.round(s)}s`;
  if (s < 5400) return `${Math.round(s / 60)}m`;
  if (s < 129600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

export interface PruneOptions {
  readonly olderThanMs?: number;
  readonly stage?: string;
  readonly all?: boolean;
  readonly dryRun?: boolean;
  readonly now?: number;
}

/**
 * Removes entries of a stage (or every stage) that are older than a threshold, or all of them.
 * A complete entry is renamed aside before it is deleted, so a run never sees a half-deleted entry
 * as complete.
 */
export async function pruneCache(
  root: string,
  opts: PruneOptions,
): Promise<{ removed: CacheEntry[]; kept: number; bytes: number }> {
  if (!opts.all && opts.olderThanMs === undefined)
    throw new UsageError('cache prune: say what to remove: --older-than <age> (e.g. 7d) or --all');
  const entries = await listCache(root);
  if (opts.stage !== undefined && !entries.some((e) => e.stage === opts.stage)) {
    const stages = [...new Set(entries.map((e) => e.stage))];
    throw new UsageError(
      `--stage ${opts.stage}: no such stage in ${root} (stages: ${stages.join(', ') || 'none, the cache is empty'})`,
    );
  }
  const now = opts.now ?? Date.now();
  const doomed = entries.filter(
    (e) =>
      (opts.stage === undefined || e.stage === opts.stage) &&
      (opts.all || now - e.time > (opts.olderThanMs ?? Infinity)),
  );
  if (!opts.dryRun) {
    for (const e of doomed) {
      const aside = `${e.dir}.prune-${process.pid}-${Date.now()}`;
      const target = await fs.rename(e.dir, aside).then(
        () => aside,
        () => e.dir,
      );
      await fs.rm(target, { recursive: true, force: true });
    }
  }
  return { removed: doomed, kept: entries.length - doomed.length, bytes: doomed.reduce((a, e) => a + e.bytes, 0) };
}

/**
 * Removes lock files (all, of a stage, or of one key). For a lock whose owner is on another host (a shared
 * cache folder) and will not come back; a dead owner on this host is taken over automatically.
 */
export async function unlockCache(
  root: string,
  opts: { readonly stage?: string; readonly key?: string } = {},
): Promise<{ file: string; owner?: string }[]> {
  const wanted = (l: LockInfo): boolean =>
    (opts.stage === undefined || l.stage === opts.stage) && (opts.key === undefined || l.key === opts.key);
  const locks = (await listLocks(root)).filter(wanted);
  for (const l of locks) await fs.rm(l.file, { force: true });
  return locks.map((l) => ({ file: l.file, ...(l.owner ? { owner: `pid ${l.owner.pid} on ${l.owner.host}` } : {}) }));
}

/** The events of `<cacheDir>/cache-log.jsonl` (malformed lines skipped). */
export async function readCacheLog(root: string): Promise<CacheEvent[]> {
  const text = await fs.readFile(path.join(root, CACHE_LOG), 'utf8').catch(() => '');
  const events: CacheEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      events.push(JSON.parse(line) as CacheEvent);
    } catch {
      // a line cut by a full disk: skip it
    }
  }
  return events;
}

const out = (s: string): void => void process.stdout.write(`${s}\n`);
const view = (e: CacheEntry, now: number) => ({
  stage: e.stage,
  key: e.key,
  state: e.state,
  bytes: e.bytes,
  files: e.files,
  ageSeconds: Math.round((now - e.time) / 1000),
  completedAt: new Date(e.time).toISOString(),
  dir: e.dir,
});

export function registerCacheCommands(program: Command): void {
  const cache = program
    .command('cache')
    .description('the stage cache: seen networks, activations, importances (reused across runs and sweeps)');

  cache
    .command('ls')
    .description('entries per stage with size and age')
    .option('--dir <path>', 'cache folder (the config’s cacheDir)', DEFAULT_CACHE_DIR)
    .option('--stage <name>', 'only this stage')
    .option('--json', 'as JSON')
    .action(async (flags: { dir: string; stage?: string; json?: boolean }) => {
      const root = path.resolve(flags.dir);
      const now = Date.now();
      const entries = (await listCache(root)).filter((e) => flags.stage === undefined || e.stage === flags.stage);
      const stages = [...new Set(entries.map((e) => e.stage))].map((stage) => {
        const of = entries.filter((e) => e.stage === stage);
        return { stage, entries: of.length, bytes: of.reduce((a, e) => a + e.bytes, 0) };
      });
      const locks = (await listLocks(root)).filter((l) => flags.stage === undefined || l.stage === flags.stage);
      if (flags.json) {
        return out(JSON.stringify({ dir: root, stages, entries: entries.map((e) => view(e, now)), locks }, null, 2));
      }
      for (const l of locks) {
        const since = l.owner ? new Date(l.owner.started).toISOString() : '';
        const by = l.owner ? `pid ${l.owner.pid} on ${l.owner.host} since ${since}` : 'unknown';
        out(`locked ${l.stage}/${l.key} by ${by}${l.stale ? ' (stale)' : ''}`);
      }
      if (entries.length === 0) return out(`no cache entries in ${root}`);
      for (const s of stages) {
        out(`${s.stage}  ${s.entries} entr${s.entries === 1 ? 'y' : 'ies'}, ${formatBytes(s.bytes)}`);
        for (const e of entries.filter((x) => x.stage === s.stage))
          out(
            `  ${e.key.padEnd(34)} ${formatBytes(e.bytes).padStart(10)} ` +
              `${formatAge(now - e.time).padStart(5)}${e.state === 'complete' ? '' : `  (${e.state})`}`,
          );
      }
      if (process.stdout.isTTY) out(`total ${formatBytes(entries.reduce((a, e) => a + e.bytes, 0))} in ${root}`);
    });

  cache
    .command('prune')
    .description('remove entries older than an age, of one stage, or all (temporary folders of killed runs included)')
    .option('--dir <path>', 'cache folder (the config’s cacheDir)', DEFAULT_CACHE_DIR)
    .option('--older-than <age>', 'entries completed longer ago than this, e.g. 12h, 7d, 2w')
    .option('--stage <name>', 'only this stage (e.g. activations)')
    .option('--all', 'every entry (of --stage, if given)')
    .option('--dry-run', 'list what would be removed, remove nothing')
    .option('--json', 'as JSON')
    .action(
      async (flags: {
        dir: string;
        olderThan?: string;
        stage?: string;
        all?: boolean;
        dryRun?: boolean;
        json?: boolean;
      }) => {
        const root = path.resolve(flags.dir);
        const now = Date.now();
        const r = await pruneCache(root, {
          olderThanMs: flags.olderThan === undefined ? undefined : parseAge(flags.olderThan),
          stage: flags.stage,
          all: flags.all,
          dryRun: flags.dryRun,
          now,
        });
        if (flags.json)
          return out(
            JSON.stringify(
              {
                dir: root,
                dryRun: Boolean(flags.dryRun),
                removed: r.removed.map((e) => view(e, now)),
                kept: r.kept,
                bytes: r.bytes,
              },
              null,
              2,
            ),
          );
        if (process.stdout.isTTY || flags.dryRun)
          for (const e of r.removed)
            out(
              `${flags.dryRun ? 'would remove' : 'removed'} ${e.stage}/${e.key} (${formatBytes(e.bytes)}, ` +
                `${formatAge(now - e.time)})`,
            );
        out(
          `${flags.dryRun ? 'would remove' : 'removed'} ${r.removed.length} ` +
            `entr${r.removed.length === 1 ? 'y' : 'ies'} (${formatBytes(r.bytes)}), kept ${r.kept}`,
        );
      },
    );

  cache
    .command('unlock')
    .description(
      'remove entry locks left by a process on another host that will not return ' +
        '(dead owners on this host are taken over automatically)',
    )
    .option('--dir <path>', 'cache folder (the config’s cacheDir)', DEFAULT_CACHE_DIR)
    .option('--stage <name>', 'only locks of this stage')
    .option('--key <key>', 'only the lock of this entry')
    .action(async (flags: { dir: string; stage?: string; key?: string }) => {
      const removed = await unlockCache(path.resolve(flags.dir), { stage: flags.stage, key: flags.key });
      for (const r of removed) out(`unlocked ${r.file}${r.owner ? ` (held by ${r.owner})` : ''}`);
      out(`removed ${removed.length} lock${removed.length === 1 ? '' : 's'}`);
    });

  cache
    .command('log')
    .description(`the hit/miss log (${CACHE_LOG}): one line per lookup (hit, miss, computed, waited, stale-lock …)`)
    .option('--dir <path>', 'cache folder (the config’s cacheDir)', DEFAULT_CACHE_DIR)
    .option('--stage <name>', 'only this stage')
    .option('--json', 'as JSON lines')
    .action(async (flags: { dir: string; stage?: string; json?: boolean }) => {
      const all = await readCacheLog(path.resolve(flags.dir));
      for (const e of all.filter((x) => flags.stage === undefined || x.stage === flags.stage)) {
        const took = e.seconds !== undefined ? `  ${e.seconds.toFixed(1)}s` : '';
        const text = `${e.time}  ${e.event.padEnd(10)} ${e.stage}/${e.key}  pid ${e.pid} on ${e.host}${took}`;
        out(flags.json ? JSON.stringify(e) : text);
      }
    });
}
