/** `weightsFingerprint()` of the ImageNet backbones: part of the seen network's cache key. */
import { createHash } from 'node:crypto';
import { mkdtempSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResNet50, imagenetOptions } from '../index.js';
import { log, runContext } from './test-data.js';

const options = (extra: Record<string, unknown>) =>
  imagenetOptions('resnet50').parse({ inputSize: 64, width: 1 / 8, ...extra });

describe('weightsFingerprint', () => {
  it(
    'follows the weights file (path relative to the working directory, size, mtime); none without ' + 'weights',
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-wfp-'));
      const file = path.join(dir, 'w.h5');
      writeFileSync(file, 'first');
      const run = runContext(dir);
      expect(await new ResNet50(options({}), run, log).weightsFingerprint()).toBeUndefined();
      const fp = (): Promise<string | undefined> =>
        new ResNet50(options({ weights: 'w.h5' }), run, log).weightsFingerprint();
      const f0 = await fp();
      // by hand: SHA-256 of "relative path, size, mtime" (the documented stat line), first 32 hex digits
      const st = statSync(file);
      expect(f0).toBe(createHash('sha256').update(`w.h5\t${st.size}\t${st.mtimeMs}\n`).digest('hex').slice(0, 32));
      expect(await fp()).toBe(f0);
      writeFileSync(file, 'second'); // size changes
      const f1 = await fp();
      expect(f1).not.toBe(f0);
      utimesSync(file, new Date(2020, 0, 1), new Date(2020, 0, 1)); // same size, other mtime
      expect(await fp()).not.toBe(f1);
    },
  );
});
