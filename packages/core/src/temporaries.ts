/**
 * Temporary folders and files a process is writing (cache entries, `.npy` files before their rename).
 * Each is named `<final>.tmp-<pid>-<time>-<host>` and registered here while it exists, so that:
 * - a signal handler can remove this process's temporaries synchronously before exiting;
 * - a later process removes the temporaries of processes that no longer exist on this host.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const MARK = '.tmp-';
const HOST = os.hostname().replace(/[^\w.]/g, '_');
const own = new Set<string>();

/** A fresh temporary name for `final`, registered as this process's until `releaseTemporary`. */
export function temporaryFor(final: string): string {
  const tmp = `${final}${MARK}${process.pid}-${Date.now()}${Math.random().toString(36).slice(2, 6)}-${HOST}`;
  own.add(tmp);
  return tmp;
}

/** The temporary was renamed into place or removed: no longer this process's to clean up. */
export function releaseTemporary(tmp: string): void {
  own.delete(tmp);
}

/** Temporaries this process still holds (for tests and messages). */
export function ownTemporaries(): readonly string[] {
  return [...own];
}

/** Removes every temporary this process still holds; synchronous, so a signal handler can call it. */
export function removeOwnTemporariesSync(): number {
  let n = 0;
  for (const t of own) {
    try {
      rmSync(t, { recursive: true, force: true });
      n++;
    } catch {
      // best effort: a later process removes it as stale
    }
  }
  own.clear();
  return n;
}

const cleanups = new Set<() => void>();

/**
 * Registers a synchronous cleanup (release a lock file, close a handle) that `runExitCleanupsSync` runs when
 * the process is interrupted. Returns the function that unregisters it (call it once the resource is gone).
 */
export function addExitCleanup(fn: () => void): () => void {
  cleanups.add(fn);
  return () => void cleanups.delete(fn);
}

/**
 * What a signal handler calls before exiting: every registered cleanup (errors ignored), then removal of this
 * process's temporaries. Returns the number of temporaries removed.
 */
export function runExitCleanupsSync(): number {
  for (const fn of [...cleanups]) {
    try {
      fn();
    } catch {
      // best effort: stale-owner recovery handles what is left
    }
  }
  cleanups.clear();
  return removeOwnTemporariesSync();
}

/** The owner of a temporary name, or undefined when `name` is not one. Names without a host are this host's. */
export function temporaryOwner(name: string): { pid: number; host: string } | undefined {
  const i = name.lastIndexOf(MARK);
  if (i < 0) return undefined;
  const m = /^(\d+)-[0-9a-z]+(?:-(.+))?$/.exec(name.slice(i + MARK.length));
  if (!m) return undefined;
  return { pid: Number(m[1]), host: m[2] ?? HOST };
}

/** Whether a process with this pid exists on this machine. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes temporaries under `root` (down to `depth` levels) left by processes of this host that no longer
 * exist. Temporaries of other hosts (a shared filesystem) are kept unless older than `foreignMaxAgeMs`.
 * Returns the removed paths.
 */
export function removeStaleTemporaries(root: string, depth = 2, foreignMaxAgeMs = 7 * 24 * 3600 * 1000): string[] {
  const removed: string[] = [];
  const walk = (dir: string, level: number): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const p = path.join(dir, name);
      const owner = temporaryOwner(name);
      if (owner) {
        if (own.has(p)) continue;
        let stale = false;
        if (owner.host === HOST) stale = owner.pid !== process.pid && !processAlive(owner.pid);
        else {
          try {
            stale = Date.now() - statSync(p).mtimeMs > foreignMaxAgeMs;
          } catch {
            stale = false;
          }
        }
        if (stale) {
          rmSync(p, { recursive: true, force: true });
          removed.push(p);
        }
        continue;
      }
      if (level < depth) {
        try {
          if (statSync(p).isDirectory()) walk(p, level + 1);
        } catch {
          // vanished meanwhile
        }
      }
    }
  };
  walk(root, 0);
  return removed;
}

let halted = false;

/**
 * Gives the event loop a turn (a macrotask, unlike `await` of a resolved promise), so signal handlers run.
 * Long CPU-bound loops call it between batches: a SIGINT is then handled within one batch. After
 * `haltLongLoops()` it never resolves, so those loops stop competing with the handler closing runs.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (!halted) setImmediate(resolve);
  });
}

/** The process is exiting (a signal): loops that call `yieldToEventLoop` stop at their next call. */
export function haltLongLoops(): void {
  halted = true;
}
