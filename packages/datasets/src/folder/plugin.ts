/** The `folder` dataset plugin: a user's own dataset in the folder format. */
import path from 'node:path';
import { TOKENS, type Dataset, type DatasetAdapter, type RunContext } from '@niwt/core';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { loadFolderDataset } from './load.js';

export const FolderOptions = z.strictObject({
  root: z.string().min(1).describe('dataset folder, relative to the working directory'),
  resize: z
    .enum(['stretch', 'crop'])
    .default('stretch')
    .describe('stretch to the input size, or shorter side to size·256/224 then centre crop'),
  skipBadImages: z
    .boolean()
    .default(false)
    .describe('skip (and count) missing or corrupt images instead of failing before training'),
});
export type FolderOptions = z.output<typeof FolderOptions>;

@injectable()
export class FolderDataset implements DatasetAdapter {
  constructor(
    @inject(TOKENS.options) private readonly options: FolderOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
  ) {}

  load(): Promise<Dataset> {
    return loadFolderDataset(path.resolve(this.run.baseDir, this.options.root), {
      resize: this.options.resize,
      skipBadImages: this.options.skipBadImages,
    });
  }
}
