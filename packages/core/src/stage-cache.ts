/**
 * Stage outputs stored under `<root>/<stage>/<key>/`. An entry is written into a temporary sibling and
 * renamed into place when complete, so a killed process never leaves an entry that a rerun trusts.
 *
 * One computation per entry: a process that needs a missing entry takes `<root>/<stage>/<key>.lock`
 * (created atomically, holding its pid, host and start time) before computing; any other process that
 * needs the same entry waits for the lock to go, then reads the finished entry (reported as a hit, logged
 * `waited`). A lock whose owner is a dead process of this host is stale and taken over; a lock of another
 * host (a shared filesystem) is respected until `foreignLockMaxAgeMs`, or until `niwt cache unlock`.
 * The lock is a file, not a heartbeat, so a computation that blocks its event loop for minutes keeps it.
 *
 * Every lookup appends one JSON line to `<root>/cache-log.jsonl` (see `CacheEvent`).
 */
import { linkSync, promises as fs, readFileSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addExitCleanup, processAlive, releaseTemporary, removeStaleTemporaries, temporaryFor } from './temporaries.js';

/** What happened to one cache lookup, as logged in `cache-log.jsonl`. */
export type CacheEventKind = 'hit' | 'miss' | 'computed' | 'waited' | 'stale-lock' | 'failed';

/** One line of `<cacheDir>/cache-log.jsonl`. */
export interface CacheEvent {
  /** ISO time. */
  readonly time: string;
  readonly pid: number;
  readonly host: string;
  readonly stage: string;
  readonly key: string;
  readonly event: CacheEventKind;
  /** `waited` / `stale-lock`: the lock's owner. */
  readonly owner?: LockOwner;
  /** `computed` / `waited`: seconds spent. */
  readonly seconds?: number;
}

type EventDetail = Pick<CacheEvent, 'owner' | 'seconds'>;

/** The content of a lock file. */
export interface LockOwner {
  readonly pid: number;
  readonly host: string;
  /** ms since the epoch. */
  readonly started: number;
}

export interface StageCacheOptions {
  /** Told once per wait, with the owner being waited for (e.g. to log "waiting for pid 123 on host"). */
  readonly onWait?: (stage: string, key: string, owner: LockOwner) => void;
  /** A lock of another host older than this is taken over (default 7 days). */
  readonly foreignLockMaxAgeMs?: number;
  /** Longest pause between two looks at a held lock (default 500 ms). */
  readonly maxPollMs?: number;
}

export const CACHE_LOG = 'cache-log.jsonl';
/** Default age after which a lock of another host is taken over. */
export const FOREIGN_LOCK_MAX_AGE_MS = 7 * 24 * 3600 * 1000;
const HOST = os.hostname();

export interface CacheResult {
  readonly dir: string;
  /** True when this process did not compute the entry (found it, or waited for another process). */
  readonly hit: boolean;
  /** True when it waited for another process computing it. */
  readonly waited?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function parseOwner(text: string): LockOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<LockOwner>;
    if (typeof o.pid === 'number' && typeof o.host === 'string' && typeof o.started === 'number') {
      return { pid: o.pid, host: o.host, started: o.started };
    }
  } catch {
    // a lock written by something else
  }
  return undefined;
}

/** The owner of a lock file, `null` when there is none, undefined when it is unreadable. */
export async function readLock(file: string): Promise<LockOwner | null | undefined> {
  try {
    return parseOwner(await fs.readFile(file, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Whether a lock's owner is gone: a dead process of this host, or a foreign lock older than `maxAgeMs`. */
export function lockIsStale(owner: LockOwner, maxAgeMs: number, now = Date.now()): boolean {
  if (owner.host === HOST) return owner.pid !== process.pid && !processAlive(owner.pid);
  return now - owner.started > maxAgeMs;
}

export class StageCache {
  readonly logFile: string;

  constructor(
    readonly root: string,
    private readonly options: StageCacheOptions = {},
  ) {
    this.logFile = path.join(root, CACHE_LOG);
  }

  dir(stage: string, key: string): string {
    return path.join(this.root, stage, key);
  }

  lockFile(stage: string, key: string): string {
    return `${this.dir(stage, key)}.lock`;
  }

  /** The entry's folder if it is complete, else undefined. */
  async get(stage: string, key: string): Promise<string | undefined> {
    const d = this.dir(stage, key);
    try {
      await fs.access(path.join(d, '.complete'));
      return d;
    } catch {
      return undefined;
    }
  }

  /** Appends one event to the log (O_APPEND: lines of concurrent processes do not interleave). Best effort. */
  async log(stage: string, key: string, event: CacheEventKind, extra: EventDetail = {}): Promise<void> {
    const time = new Date().toISOString();
    const line: CacheEvent = { time, pid: process.pid, host: HOST, stage, key, event, ...extra };
    await fs.appendFile(this.logFile, `${JSON.stringify(line)}\n`, { flag: 'a' }).catch(() => undefined);
  }

  /**
   * Returns the entry's folder, computing it with `write(tmpDir)` when absent — at most one process at a
   * time per entry (see the module comment). `hit` tells whether this process did not compute it.
   */
  async getOrCreate(stage: string, key: string, write: (tmpDir: string) => Promise<void>): Promise<CacheResult> {
    const existing = await this.get(stage, key);
    if (existing) {
      await this.log(stage, key, 'hit');
      return { dir: existing, hit: true };
    }
    await fs.mkdir(path.join(this.root, stage), { recursive: true });
    await this.log(stage, key, 'miss');
    const t0 = performance.now();
    let waitedFor: LockOwner | undefined;
    const seconds = (): number => (performance.now() - t0) / 1000;
    const waitedEvent = (): EventDetail => ({ seconds: seconds(), ...(waitedFor ? { owner: waitedFor } : {}) });
    let poll = 20;
    for (;;) {
      const release = await this.tryLock(stage, key);
      if (release) {
        try {
          // completed by another process between our first look and the lock
          const done = await this.get(stage, key);
          if (done) {
            await this.log(stage, key, 'waited', waitedEvent());
            return { dir: done, hit: true, waited: true };
          }
          const dir = await this.compute(stage, key, write);
          await this.log(stage, key, 'computed', { seconds: seconds() });
          return { dir, hit: false };
        } catch (e) {
          await this.log(stage, key, 'failed');
          throw e;
        } finally {
          release();
        }
      }
      const lock = this.lockFile(stage, key);
      const owner = await readLock(lock);
      if (owner === null) continue; // released meanwhile: try again at once
      if (owner === undefined) {
        // unreadable (not ours: ours are complete when they appear); give it a minute, then break it
        const st = await fs.stat(lock).catch(() => undefined);
        const old = st !== undefined && Date.now() - st.mtimeMs > 60_000;
        if (old && (await this.breakLock(lock, undefined))) await this.log(stage, key, 'stale-lock');
      } else if (lockIsStale(owner, this.options.foreignLockMaxAgeMs ?? FOREIGN_LOCK_MAX_AGE_MS)) {
        if (await this.breakLock(lock, owner)) await this.log(stage, key, 'stale-lock', { owner });
        continue;
      } else if (!waitedFor || waitedFor.pid !== owner.pid || waitedFor.host !== owner.host) {
        waitedFor = owner;
        this.options.onWait?.(stage, key, owner);
      }
      await sleep(poll);
      poll = Math.min(this.options.maxPollMs ?? 500, Math.round(poll * 1.5));
      const done = await this.get(stage, key);
      if (done) {
        await this.log(stage, key, 'waited', waitedEvent());
        return { dir: done, hit: true, waited: true };
      }
    }
  }

  /** Writes the entry into a temporary sibling and renames it into place (the caller holds the lock). */
  private async compute(stage: string, key: string, write: (tmpDir: string) => Promise<void>): Promise<string> {
    const final = this.dir(stage, key);
    const tmp = temporaryFor(final);
    await fs.mkdir(tmp, { recursive: true });
    try {
      await write(tmp);
      await fs.writeFile(path.join(tmp, '.complete'), new Date().toISOString());
      try {
        await fs.rename(tmp, final);
      } catch (e) {
        // a process that did not lock (an older niwt) completed the same entry first: keep theirs
        if (await this.get(stage, key)) {
          await fs.rm(tmp, { recursive: true, force: true });
          return final;
        }
        // an incomplete leftover under the final name: replace it
        await fs.rm(final, { recursive: true, force: true });
        await fs.rename(tmp, final).catch(() => {
          throw e;
        });
      }
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      releaseTemporary(tmp);
    }
    return final;
  }

  /**
   * Takes the lock of an entry, or returns undefined when another process holds it. The lock's content is
   * written to a temporary file first and hard-linked into place: `link` fails when the lock exists, and a
   * lock never appears half-written. Returns the release function (also run if the process is interrupted).
   */
  private async tryLock(stage: string, key: string): Promise<(() => void) | undefined> {
    const lock = this.lockFile(stage, key);
    const me: LockOwner = { pid: process.pid, host: HOST, started: Date.now() };
    const text = JSON.stringify(me);
    const tmp = temporaryFor(lock);
    try {
      await fs.writeFile(tmp, text);
      try {
        linkSync(tmp, lock);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
        throw e;
      }
    } finally {
      await fs.rm(tmp, { force: true });
      releaseTemporary(tmp);
    }
    const release = (): void => {
      unregister();
      try {
        // only our own lock (a waiter may have judged it stale and replaced it: then it is not ours to remove)
        if (readFileSync(lock, 'utf8') === text) unlinkSync(lock);
      } catch {
        // already gone
      }
    };
    const unregister = addExitCleanup(release);
    return release;
  }

  /**
   * Removes a stale lock so that exactly one waiter can take over: the lock is renamed aside (atomic: of two
   * waiters only one succeeds) and checked to be the stale one that was judged; if a live lock was moved
   * instead (another waiter broke and re-took it meanwhile) it is linked back. Returns whether it was broken.
   */
  private async breakLock(lock: string, judged: LockOwner | undefined): Promise<boolean> {
    const aside = temporaryFor(`${lock}.stale`);
    try {
      await fs.rename(lock, aside);
    } catch {
      releaseTemporary(aside);
      return false; // someone else broke it
    }
    try {
      const moved = parseOwner(await fs.readFile(aside, 'utf8'));
      const same =
        judged === undefined
          ? moved === undefined
          : moved !== undefined &&
            moved.pid === judged.pid &&
            moved.host === judged.host &&
            moved.started === judged.started;
      if (!same) {
        await fs.link(aside, lock).catch(() => undefined); // put the live lock back (unless yet another exists)
        return false;
      }
      removeStaleTemporaries(path.dirname(lock), 0); // the dead owner's half-written entry
      return true;
    } finally {
      await fs.rm(aside, { force: true });
      releaseTemporary(aside);
    }
  }
}

/** A lock file found under a cache root. */
export interface LockInfo {
  readonly stage: string;
  readonly key: string;
  readonly file: string;
  readonly owner: LockOwner | undefined;
  readonly stale: boolean;
}

/** Every lock file under a cache root, with its owner (for `niwt cache ls` / `unlock`). */
export async function listLocks(root: string): Promise<LockInfo[]> {
  const out: LockInfo[] = [];
  const dirs = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  const stages = dirs
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  for (const stage of stages) {
    for (const name of (await fs.readdir(path.join(root, stage)).catch(() => [] as string[])).sort()) {
      if (!name.endsWith('.lock')) continue;
      const file = path.join(root, stage, name);
      const owner = (await readLock(file)) ?? undefined;
      const stale = owner !== undefined && lockIsStale(owner, FOREIGN_LOCK_MAX_AGE_MS);
      out.push({ stage, key: name.slice(0, -'.lock'.length), file, owner, stale });
    }
  }
  return out;
}
