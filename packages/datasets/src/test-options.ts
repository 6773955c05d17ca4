/**
 * `testOptions` of this package's datasets: tiny datasets generated into the contract suite's temp folder
 * (`contractSuite` in `@niwt/runner/testing`), so each loads in well under a second.
 */
import path from 'node:path';
import type { z } from 'zod';
import type { PluginTestContext } from '@niwt/core';
import { writeMat5 } from './fixtures/mat5-writer.js';
import { writeAwa2Fixture, writeCubFixture } from './fixtures/raw-fixtures.js';
import type { Awa2Options as Awa2Schema } from './awa2/plugin.js';
import type { CubOptions as CubSchema } from './cub/plugin.js';
import type { Xlsa17DatasetOptions as Xlsa17Schema } from './xlsa17/plugin.js';
import { generateShapes } from './shapes/generate.js';
import type { ShapesOptionsInput } from './shapes/options.js';

type Awa2Options = z.input<typeof Awa2Schema>;
type CubOptions = z.input<typeof CubSchema>;
type Xlsa17Options = z.input<typeof Xlsa17Schema>;

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

/** `awa2`: the fixture release (8 classes, 3 images each) with its xlsa17 folder, MAT files written in JS. */
export async function awa2TestOptions(context: PluginTestContext): Promise<Awa2Options> {
  const fx = await writeAwa2Fixture(path.join(context.dir, 'awa2'), writeMat5, { imagesPerClass: 3 });
  return { root: fx.root, xlsa17: fx.xlsa17.dir, checkSizes: false };
}

/** `cub`: the fixture release with its xlsa17 folder. */
export async function cubTestOptions(context: PluginTestContext): Promise<CubOptions> {
  const fx = await writeCubFixture(path.join(context.dir, 'cub'), writeMat5, { imagesPerClass: 3 });
  return { root: fx.root, xlsa17: fx.xlsa17.dir, checkSizes: false };
}

/** `xlsa17`: the AWA2 fixture's xlsa17 folder alone (precomputed features, no images). */
export async function xlsa17TestOptions(context: PluginTestContext): Promise<Xlsa17Options> {
  const fx = await writeAwa2Fixture(path.join(context.dir, 'awa2'), writeMat5, { imagesPerClass: 3 });
  return { root: fx.xlsa17.dir, checkSizes: false };
}
