/** The `xlsa17` dataset plugin: the proposed-split release alone (precomputed features, no images). */
import path from 'node:path';
import { TOKENS, type Dataset, type DatasetAdapter, type RunContext } from '@niwt/core';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { sampleFilesFingerprint, withFingerprint } from '../fingerprint.js';
import { ATT_SPLITS } from './att-splits.js';
import { loadXlsa17 } from './load.js';
import { RES101 } from './res101.js';

export const Xlsa17DatasetOptions = z.strictObject({
  root: z
    .string()
    .min(1)
    .describe('xlsa17 dataset folder (att_splits.mat, res101.mat), relative to the working directory'),
  features: z
    .string()
    .min(1)
    .optional()
    .describe('features file instead of <root>/res101.mat: another res101-layout .mat or a .npy [images × dims]'),
  attributes: z.enum(['original', 'att']).default('original').describe('original_att (0–100) or att (unit-L2 columns)'),
  attributeNames: z
    .string()
    .min(1)
    .optional()
    .describe('file naming the attributes (AwA predicates.txt, CUB attributes.txt)'),
  checkSizes: z
    .boolean()
    .default(true)
    .describe('check split sizes against the published table (folders named AWA1/AWA2/CUB/SUN/APY)'),
});
export type Xlsa17DatasetOptions = z.output<typeof Xlsa17DatasetOptions>;

@injectable()
export class Xlsa17Dataset implements DatasetAdapter {
  constructor(
    @inject(TOKENS.options) private readonly options: Xlsa17DatasetOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
  ) {}

  async load(): Promise<Dataset> {
    const root = path.resolve(this.run.baseDir, this.options.root);
    const ds = await loadXlsa17(root, this.options, this.run.baseDir);
    const { features: own } = this.options;
    const features = own ? path.resolve(this.run.baseDir, own) : path.join(root, RES101);
    // no images: the split and labels (att_splits.mat, res101.mat) and the features are what is consumed
    const files = [path.join(root, ATT_SPLITS), path.join(root, RES101), features];
    return withFingerprint(ds, () => sampleFilesFingerprint(ds, files, { format: 'xlsa17' }, false));
  }
}
