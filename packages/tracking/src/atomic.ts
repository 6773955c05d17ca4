/**
 * Writes readers never see half-done: the data goes to a temporary file next to the target's store
 * folder, then a rename (or a hard link, for create-only) publishes it in one step. Temporary files
 * are named `.niwt-tmp-*` and live where MLflow reads no files (run or experiment roots).
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';

export const TMP_PREFIX = '.niwt-tmp-';

export function tmpName(dir: string): string {
  return path.join(dir, `${TMP_PREFIX}${randomUUID().replace(/-/g, '')}`);
}

async function writeTmp(tmp: string, data: string, durable: boolean): Promise<void> {
  const fh = await fs.open(tmp, 'wx');
  try {
    await fh.writeFile(data, 'utf8');
    // meta.yaml must never be empty after a power cut: MLflow crashes on an empty one.
    if (durable) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces `target` with `data` via temp file + rename. `tmpDir` must be on the same filesystem. */
export async function writeFileAtomic(
  target: string,
  data: string,
  tmpDir: string,
  options: { durable?: boolean } = {},
): Promise<void> {
  const tmp = tmpName(tmpDir);
  try {
    await writeTmp(tmp, data, options.durable ?? false);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rename(tmp, target);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Creates `target` with `data` unless it exists (then returns false and leaves it untouched).
 * A hard link publishes the complete file and fails if the name is taken, with no race window.
 */
export async function createFileExclusive(target: string, data: string, tmpDir: string): Promise<boolean> {
  const tmp = tmpName(tmpDir);
  try {
    await writeTmp(tmp, data, false);
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.link(tmp, target);
      return true;
    } catch (e) {
      const code = errno(e);
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    }
    // Filesystems without hard links: exclusive create, still never clobbers.
    try {
      await fs.writeFile(target, data, { flag: 'wx' });
      return true;
    } catch (e) {
      if (errno(e) === 'EEXIST') return false;
      throw e;
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

export function errno(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}
