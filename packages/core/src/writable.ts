/** Whether a folder can be written, checked before work starts (a probe file: root ignores permission bits). */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Undefined when `dir` (or, if it does not exist yet, its nearest existing ancestor, where it would be
 * created) accepts a file; else the reason (`ENOTDIR: … is a file`, `EACCES`, `EROFS`, …). Creates nothing
 * that stays.
 */
export function writableProblem(dir: string): string | undefined {
  let at = path.resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(at, { throwIfNoEntry: false });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
      st = undefined; // a file above: found on the way up
    }
    if (st) {
      if (!st.isDirectory()) return `ENOTDIR: ${at} is a file, not a folder`;
      break;
    }
    const up = path.dirname(at);
    if (up === at) return `ENOENT: no existing folder above ${dir}`;
    at = up;
  }
  const probe = path.join(at, `.niwt-write-probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    mkdirSync(probe);
    writeFileSync(path.join(probe, 'x'), 'x');
    return undefined;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return err.code ? `${err.code}: ${at} cannot be written` : String(e);
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
