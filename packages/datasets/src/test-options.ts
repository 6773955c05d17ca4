/**
 * `testOptions` of this package's datasets: tiny datasets generated into the contract suite's temp folder
 * (`contractSuite` in `@niwt/runner/testing`), so each loads in well under a second.
 */
import path from 'node:path';
import type { PluginTestContext } from '@niwt/core';
import { generateShapes } from './shapes/generate.js';
import type { ShapesOptionsInput } from './shapes/options.js';

/** 4 seen + 2 unseen classes of 5 images, 16 pixels square. */
export const TINY_SHAPES: ShapesOptionsInput = { imagesPerClass: 5, seenClasses: 4, unseenClasses: 2, imageSize: 16 };

/** `shapes`: the tiny dataset, written under the check's folder (not the shared cache). */
export function shapesTestOptions(context: PluginTestContext): ShapesOptionsInput {
  return { ...TINY_SHAPES, root: path.join(context.dir, 'shapes') };
}

/** `folder`: the tiny shapes dataset is written in the folder layout, so the folder reader loads it as is. */
export async function folderTestOptions(context: PluginTestContext): Promise<{ root: string }> {
  const root = path.join(context.dir, 'folder');
  await generateShapes(TINY_SHAPES, root);
  return { root };
}
