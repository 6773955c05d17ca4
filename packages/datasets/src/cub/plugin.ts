/** The `cub` dataset plugin: raw CUB-200-2011 images with the xlsa17 proposed split. */
import path from 'node:path';
import { TOKENS, type Dataset, type DatasetAdapter, type RunContext } from '@niwt/core';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { loadCub } from './load.js';

export const CubOptions = z.strictObject({
  root: z.string().min(1).describe('the CUB_200_2011 folder, relative to the config'),
  xlsa17: z.string().min(1).describe('the xlsa17 CUB folder (att_splits.mat, res101.mat), relative to the config'),
  split: z.enum(['proposed']).default('proposed').describe('the xlsa17 proposed split (Xian et al.)'),
  resize: z.enum(['stretch', 'crop']).default('stretch'),
  skipBadImages: z.boolean().default(false),
  features: z.boolean().default(false).describe('also expose res101.mat as the precomputed features'),
  checkSizes: z.boolean().default(true),
});
export type CubOptions = z.output<typeof CubOptions>;

@injectable()
export class CubDataset implements DatasetAdapter {
  constructor(
    @inject(TOKENS.options) private readonly options: CubOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
  ) {}

  load(): Promise<Dataset> {
    const at = (p: string): string => path.resolve(this.run.baseDir, p);
    return loadCub(at(this.options.root), { ...this.options, xlsa17: at(this.options.xlsa17) });
  }
}
