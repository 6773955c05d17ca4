/** The `shapes` dataset plugin: generates the synthetic dataset if missing, then loads it as a folder dataset. */
import path from 'node:path';
import { TOKENS, fingerprintOf, type Dataset, type DatasetAdapter, type Logger, type RunContext } from '@niwt/core';
import { inject, injectable, optional } from 'inversify';
import { loadFolderDataset } from '../folder/load.js';
import { withFingerprint } from '../fingerprint.js';
import { generateShapes } from './generate.js';
import { GENERATOR_VERSION, contentOf, shapesHash, type ShapesOptions } from './options.js';

/** `root` resolved against the working directory, else `<cacheDir>/data/shapes-<hash of options>`. */
export function shapesRoot(options: ShapesOptions, run: Pick<RunContext, 'baseDir' | 'cacheDir'>): string {
  return options.root !== undefined
    ? path.resolve(run.baseDir, options.root)
    : path.resolve(run.cacheDir, 'data', `shapes-${shapesHash(options)}`);
}

@injectable()
export class ShapesDataset implements DatasetAdapter {
  constructor(
    @inject(TOKENS.options) private readonly options: ShapesOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
    @inject(TOKENS.logger) @optional() private readonly log?: Logger,
  ) {}

  async load(): Promise<Dataset> {
    const result = await generateShapes(this.options, shapesRoot(this.options, this.run));
    if (result.generated) {
      const { seenClasses, unseenClasses, imagesPerClass } = this.options;
      this.log?.info(
        `shapes: generated ${seenClasses}+${unseenClasses} classes × ${imagesPerClass} images in ` +
          `${result.seconds.toFixed(1)} s at ${result.root}`,
      );
    }
    // the images are a pure function of the generator and its options (not of the folder they were written to)
    const content = { generator: GENERATOR_VERSION, ...contentOf(this.options) };
    const dataset = await loadFolderDataset(result.root, { name: 'shapes' });
    return withFingerprint(dataset, async () => fingerprintOf(content));
  }
}
