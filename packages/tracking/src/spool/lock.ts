/**
 * One replayer per spooled run at a time: an in-process queue per run folder plus a `sync.lock` file
 * holding the pid, so `niwt runs sync` in a shell never races the experiment's own flusher.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { TrackingError } from '@niwt/core';
import { errno } from '../atomic.js';

const chains = new Map<string, Promise<unknown>>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errno(e) === 'EPERM';
  }
}

async function takeFileLock(dir: string): Promise<() => Promise<void>> {
  const file = path.join(dir, 'sync.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await fs.open(file, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return () => fs.rm(file, { force: true });
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw e;
      const pid = Number(await fs.readFile(file, 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        throw new TrackingError(
          `spooled run ${path.basename(dir)} is being synced by process ${pid}; wait for it to finish (or ` +
            `remove ${file} if that process is gone)`,
        );
      }
      await fs.rm(file, { force: true }); // stale: its process is gone
    }
  }
  throw new TrackingError(`cannot lock ${file}; remove it if no niwt process is running`);
}

/** Runs `fn` while holding the run folder's lock. */
export function withRunLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const prev = chains.get(dir) ?? Promise.resolve();
  const next = prev
    .catch(() => undefined)
    .then(async () => {
      const release = await takeFileLock(dir);
      try {
        return await fn();
      } finally {
        await release();
      }
    });
  const tail = next.catch(() => undefined);
  chains.set(dir, tail);
  void tail.then(() => {
    if (chains.get(dir) === tail) chains.delete(dir);
  });
  return next;
}
