/** The `awa2` dataset plugin: raw Animals with Attributes 2 images with the xlsa17 proposed split. */
import path from 'node:path';
import { TOKENS, type Dataset, type DatasetAdapter, type RunContext } from '@niwt/core';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { sampleFilesFingerprint, withFingerprint } from '../fingerprint.js';
import { ATT_SPLITS } from '../xlsa17/att-splits.js';
import { RES101 } from '../xlsa17/res101.js';
import { AWA2_FILES, loadAwa2 } from './load.js';

export const Awa2Options = z.strictObject({
  root: z.string().min(1).describe('the Animals_with_Attributes2 folder, relative to the working directory'),
  xlsa17: z
    .string()
    .min(1)
    .describe('the xlsa17 AWA2 folder (att_splits.mat, res101.mat), relative to the working directory'),
  split: z.enum(['proposed']).default('proposed').describe('the xlsa17 proposed split (Xian et al.)'),
  attributes: z
    .enum(['continuous', 'binary'])
    .default('continuous')
    .describe('predicate-matrix-continuous.txt (0–100, −1 missing) or -binary.txt'),
  resize: z.enum(['stretch', 'crop']).default('stretch'),
  skipBadImages: z.boolean().default(false),
  features: z.boolean().default(false).describe('also expose res101.mat as the precomputed features'),
  checkSizes: z.boolean().default(true),
});
export type Awa2Options = z.output<typeof Awa2Options>;

@injectable()
export class Awa2Dataset implements DatasetAdapter {
  constructor(
    @inject(TOKENS.options) private readonly options: Awa2Options,
    @inject(TOKENS.runContext) private readonly run: RunContext,
  ) {}

  async load(): Promise<Dataset> {
    const at = (p: string): string => path.resolve(this.run.baseDir, p);
    const root = at(this.options.root);
    const xlsa17 = at(this.options.xlsa17);
    const ds = await loadAwa2(root, { ...this.options, xlsa17 });
    const file = (n: string): string => path.join(root, n);
    // classes, the image list and the xlsa17 split/labels decide the samples; every image is stat-ed
    const files = [file(AWA2_FILES.classes), path.join(xlsa17, ATT_SPLITS), path.join(xlsa17, RES101)];
    const { resize, skipBadImages, features, split } = this.options;
    const extra = { format: 'awa2', resize, skipBadImages, features, split };
    return withFingerprint(ds, () => sampleFilesFingerprint(ds, files, extra));
  }
}
