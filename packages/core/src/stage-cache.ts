/**
 * Stage outputs stored under `<root>/<stage>/<key>/`. An entry is written into a temporary sibling and
 * renamed into place when complete, so a killed process never leaves an entry that a rerun trusts.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { releaseTemporary, temporaryFor } from './temporaries.js';

export class StageCache {
  constructor(readonly root: string) {}

  dir(stage: string, key: string): string {
    return path.join(this.root, stage, key);
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

  /**
   * Returns the entry's folder, computing it with `write(tmpDir)` when absent.
   * `hit` tells whether it came from the cache.
   */
  async getOrCreate(stage: string, key: string, write: (tmpDir: string) => Promise<void>): Promise<{ dir: string; hit: boolean }> {
    const existing = await this.get(stage, key);
    if (existing) return { dir: existing, hit: true };
    const final = this.dir(stage, key);
    const tmp = temporaryFor(final);
    await fs.mkdir(tmp, { recursive: true });
    try {
      await write(tmp);
      await fs.writeFile(path.join(tmp, '.complete'), new Date().toISOString());
      try {
        await fs.rename(tmp, final);
      } catch (e) {
        // another process (a second worker) completed the same entry first: keep theirs
        if (await this.get(stage, key)) {
          await fs.rm(tmp, { recursive: true, force: true });
          return { dir: final, hit: true };
        }
        // an incomplete leftover (a killed run) under the final name: replace it
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
    return { dir: final, hit: false };
  }
}
