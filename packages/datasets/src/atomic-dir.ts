/**
 * Publishing a generated folder atomically: it is built in a temporary sibling and renamed into
 * place only when complete, so an interrupted run never leaves a folder that a rerun would trust.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

const TMP_MARK = '.tmp-';

/**
 * Builds `dir` through `build(tmp)`. Returns `'created'`, or `'existing'` when another process
 * published `dir` first (then our copy is discarded). On failure the temporary folder is removed.
 */
export async function publishDirectory(
  dir: string,
  build: (tmp: string) => Promise<void>,
): Promise<'created' | 'existing'> {
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  await removeStaleTemporaries(dir);
  const tmp = `${dir}${TMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(tmp);
  try {
    await build(tmp);
    try {
      await rename(tmp, dir);
      return 'created';
    } catch (e) {
      if (hasCode(e, 'EEXIST') || hasCode(e, 'ENOTEMPTY')) {
        await rm(tmp, { recursive: true, force: true });
        return 'existing';
      }
      throw e;
    }
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** Removes leftovers of interrupted builds of `dir` whose process is gone. */
async function removeStaleTemporaries(dir: string): Promise<void> {
  const parent = path.dirname(dir);
  const prefix = path.basename(dir) + TMP_MARK;
  for (const name of await readdir(parent)) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid))
      await rm(path.join(parent, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return hasCode(e, 'EPERM');
  }
}

function hasCode(e: unknown, code: string): boolean {
  return e instanceof Error && 'code' in e && e.code === code;
}
