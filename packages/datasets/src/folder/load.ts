/** `loadFolderDataset`: the folder format read into a `Dataset`, usable with or without DI. */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, type Dataset, type ImageSpec, type Sample } from '@niwt/core';
import { sampleFilesFingerprint, withFingerprint } from '../fingerprint.js';
import { precheckImages } from '../images/check.js';
import { firstFailureInOrder, listClassImages } from './image-files.js';
import { FILES } from './layout.js';
import { readImages, type ReadImagesOptions } from './read-images.js';
import { parseSplitFile } from './split-file.js';
import { assignSplit } from './split.js';
import { errorText, isNotFound, parseClassAttributes, parseNameList, readTextFile } from './text-files.js';

export interface LoadFolderOptions extends ReadImagesOptions {
  /** `Dataset.name`; defaults to the root folder's base name. */
  readonly name?: string;
  /** Drop (and count) unreadable images instead of failing before training. */
  readonly skipBadImages?: boolean;
  /** Probe every image before training (default true). */
  readonly checkImages?: boolean;
}

/**
 * Reads and validates a dataset in the folder format (see the package README). Everything but the
 * pixels is checked here, so a malformed dataset fails before any training starts.
 */
export async function loadFolderDataset(root: string, options: LoadFolderOptions = {}): Promise<Dataset> {
  const dir = path.resolve(root);
  await checkRoot(dir);
  const file = (name: string): string => path.join(dir, name);
  const classesFile = file(FILES.classes);
  const attributesFile = file(FILES.attributes);
  const classAttributesFile = file(FILES.classAttributes);
  const splitFile = file(FILES.split);

  const [classesText, attributesText, classAttributesText, splitText] = await firstFailureInOrder([
    readTextFile(classesFile, 'one class name per line'),
    readTextFile(attributesFile, 'one attribute name per line'),
    readTextFile(classAttributesFile, 'one row of numbers per class (one number per attribute)'),
    readTextFile(splitFile, 'seen: and unseen: lists of class names'),
  ]);
  const classes = parseNameList(classesFile, classesText, 'class');
  const attributes = parseNameList(attributesFile, attributesText, 'attribute');
  const table = parseClassAttributes(classAttributesFile, classAttributesText, classes, attributes.length, {
    classesFile,
    attributesFile,
  });
  const spec = parseSplitFile(splitFile, splitText, classes, classesFile);
  const files = await listClassImages(dir, classes, classesFile);

  const listed: Sample[] = [];
  files.forEach((list, classIndex) => {
    for (const p of list) listed.push({ index: listed.length, classIndex, path: p });
  });
  const classNames = classes.map((c) => c.name);
  const assigned = assignSplit(
    spec,
    classNames,
    classNames.map((n) => path.join(dir, FILES.images, n)),
    listed,
  );
  const checked =
    options.checkImages === false
      ? { samples: listed, split: assigned, bad: [] }
      : await precheckImages(listed, assigned, classNames, {
          skip: options.skipBadImages ?? false,
          listedIn: path.join(dir, FILES.images),
        });
  const { samples, split } = checked;
  const { prefetch, resize } = options;
  const dataset: Dataset = {
    name: options.name ?? path.basename(dir),
    root: dir,
    classes: classNames.map((name, index) => ({ index, name })),
    samples,
    split,
    attributes: { names: attributes.map((a) => a.name), matrix: table, source: classAttributesFile },
    ...(options.skipBadImages ? { skippedImages: checked.bad.length } : {}),
    readImages: (indices: readonly number[], imageSpec: ImageSpec, batchSize: number) =>
      readImages(samples, indices, imageSpec, batchSize, { prefetch, resize }),
  };
  // classes and split decide labels; attributes.txt / class-attributes.txt are knowledge (not in it)
  const extra = { format: 'folder', resize: resize ?? 'stretch' };
  return withFingerprint(dataset, () => sampleFilesFingerprint(dataset, [classesFile, splitFile], extra));
}

async function checkRoot(dir: string): Promise<void> {
  const expected =
    `a dataset folder with ${FILES.classes}, ${FILES.attributes}, ${FILES.classAttributes}, ${FILES.split} and ` +
    `${FILES.images}/`;
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (e) {
    const what = isNotFound(e) ? 'folder not found' : `cannot read (${errorText(e)})`;
    throw new DatasetError(`${dir}: ${what}; expected ${expected}`, { cause: e });
  }
  if (!isDir) throw new DatasetError(`${dir}: not a folder; expected ${expected}`);
}
