/**
 * Joins the xlsa17 release to a raw image release by relative path (`<class dir>/<file>`), never by
 * position: xlsa17 column j need not be CUB image_id j. Samples keep the xlsa17 column order, so
 * `res101.mat` features line up with them.
 */
import path from 'node:path';
import { DatasetError, type AttributeTable, type Dataset, type ImageSpec, type Sample } from '@niwt/core';
import { readImages, type ResizeMode } from '../folder/read-images.js';
import { precheckImages } from '../images/check.js';
import { featureSource } from '../xlsa17/res101.js';
import { relativeImagePath } from '../xlsa17/res101.js';
import type { Xlsa17Info } from '../xlsa17/load.js';

export interface RawImageOptions {
  readonly resize: ResizeMode;
  readonly skipBadImages: boolean;
  /** Attach res101.mat as `Dataset.features`. */
  readonly features: boolean;
}

/**
 * Builds the dataset: `resolve(rel)` gives a raw image's absolute path; `classDirOf(c)` the folder
 * name a class's images must sit in (checked for each xlsa17 image).
 */
export async function joinXlsa17(
  info: Xlsa17Info,
  parts: {
    readonly name: string;
    readonly root: string;
    readonly attributes: AttributeTable;
    readonly resolve: (rel: string) => string;
    readonly classDirOf: (classIndex: number) => string;
    /** The file that lists the raw images (for the pre-check message). */
    readonly listedIn: string;
  },
  options: RawImageOptions,
): Promise<Dataset> {
  const { meta, att } = info;
  const listed: Sample[] = Array.from(meta.labels, (classIndex, index) => {
    const rel = relativeImagePath(meta.imageFiles[index]);
    const dirName = rel.split('/')[0];
    if (dirName !== parts.classDirOf(classIndex)) {
      throw new DatasetError(
        `${meta.file}: image_files{${index + 1}} "${meta.imageFiles[index]}" is in folder "${dirName}" but ` +
          `labels(${index + 1}) is class ` +
          `"${att.classNames[classIndex]}"; expected its images under ${parts.classDirOf(classIndex)}/`,
      );
    }
    return { index, classIndex, path: parts.resolve(rel) };
  });
  const checked = await precheckImages(listed, info.split.split, att.classNames, {
    skip: options.skipBadImages,
    listedIn: `${meta.file} (image_files)`,
  });
  const { samples, split, original } = checked;
  const { resize } = options;
  return {
    name: parts.name,
    root: parts.root,
    classes: att.classNames.map((name, index) => ({ index, name })),
    samples,
    split,
    attributes: parts.attributes,
    ...(options.features
      ? { features: featureSource(meta.file, meta.labels.length, meta.featureDim, (i) => original[i]) }
      : {}),
    ...(options.skipBadImages ? { skippedImages: checked.bad.length } : {}),
    readImages: (indices: readonly number[], spec: ImageSpec, batchSize: number) =>
      readImages(samples, indices, spec, batchSize, { resize }),
  };
}

/** `dir/name`, as an absolute path. */
export const under = (dir: string, ...names: string[]): string => path.join(dir, ...names);
