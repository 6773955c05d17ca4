/** Checks of an ImageNet backbone's options that need the file system, run before a run opens. */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { PreflightContext, PreflightIssue } from '@niwt/core';
import { resnetSpec } from '../nets/resnet.js';
import type { Family, ImagenetOptions } from './options.js';

/** The weights file exists and is not empty; a degenerate tap is refused unless allowed. */
export function imagenetPreflight(family: Family) {
  return (opts: ImagenetOptions, ctx: PreflightContext): PreflightIssue[] => {
    const issues: PreflightIssue[] = [];
    if (opts.weights !== undefined) {
      const file = path.resolve(ctx.baseDir, opts.weights);
      const st = statSync(file, { throwIfNoEntry: false });
      const want = 'expected a Keras .h5 or tfjs model.json (or remove weights: for random weights)';
      if (!st) issues.push({ path: ['weights'], message: `${file} does not exist; ${want}` });
      else if (!st.isFile() || st.size === 0) {
        issues.push({ path: ['weights'], message: `${file} is ${st.isFile() ? 'empty' : 'not a file'}; ${want}` });
      }
    }
    if (family !== 'vgg16' && !opts.allowDegenerateTap) {
      const taps = resnetSpec(family, 224, 1).taps;
      if (opts.tap === taps[taps.length - 1]) {
        issues.push({
          path: ['tap'],
          message:
            `'${opts.tap}' sits directly before global average pooling and a linear head, ` +
            'so every image gets the same neuron importances; ' +
            "use e.g. 'conv5_block1_out' (or allowDegenerateTap: true)",
        });
      }
    }
    return issues;
  };
}
