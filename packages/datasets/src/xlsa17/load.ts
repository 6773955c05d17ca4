/** `loadXlsa17`: the xlsa17 release alone (features, no images) as a `Dataset`. */
import path from 'node:path';
import { DatasetError, type AttributeTable, type Dataset, type FeatureSource, type Matrix } from '@niwt/core';
import { readAttSplits, type AttSplits } from './att-splits.js';
import { readIndexedNames } from './indexed-names.js';
import { checkPublishedSizes, buildXlsa17Split, type Xlsa17Split } from './split.js';
import { publishedFor } from './published.js';
import { featureSource, npyShape, readRes101Meta, relativeImagePath, RES101, type Res101Meta } from './res101.js';

export interface Xlsa17Options {
  /** Features file: `res101.mat` in the root by default, or a `.npy` [images × dims]. */
  readonly features?: string;
  /** `original` (0–100 percentages, AwA's −1 kept) or `att` (unit-L2 columns, as published). */
  readonly attributes?: 'original' | 'att';
  /** A file naming the attributes (AwA `predicates.txt`, CUB `attributes.txt`, or one name per line). */
  readonly attributeNames?: string;
  /** Compare split sizes with the published table when the folder is named AWA1/AWA2/CUB/SUN/APY. */
  readonly checkSizes?: boolean;
  /** `Dataset.name` (default: `xlsa17-<folder name>`). */
  readonly name?: string;
}

export interface Xlsa17Info {
  readonly att: AttSplits;
  readonly meta: Res101Meta;
  readonly split: Xlsa17Split;
  /** The published table entry the copy was checked against. */
  readonly published?: string;
}

/** Reads att_splits.mat + res101.mat (labels and paths now, features on first use) and checks the split. */
export async function readXlsa17(root: string, options: Xlsa17Options = {}): Promise<Xlsa17Info> {
  const dir = path.resolve(root);
  const att = await readAttSplits(dir);
  const meta = await readRes101Meta(path.join(dir, RES101), att.classNames.length);
  const pub = publishedFor(path.basename(dir));
  if (pub && (options.checkSizes ?? true))
    checkPublishedSizes(att, pub.key, pub.sizes, { file: meta.file, count: meta.labels.length });
  const split = buildXlsa17Split(att, meta.labels, meta.file);
  return { att, meta, split, ...(pub && (options.checkSizes ?? true) ? { published: pub.key } : {}) };
}

/** The attribute table the options ask for, with names from `attributeNames` or `a1…aE`. */
export async function xlsa17Attributes(
  info: Xlsa17Info,
  options: Xlsa17Options,
  baseDir: string,
): Promise<AttributeTable> {
  const m: Matrix | undefined = options.attributes === 'att' ? info.att.att : (info.att.originalAtt ?? info.att.att);
  const used =
    options.attributes === 'att'
      ? "'att'"
      : info.att.originalAtt
        ? "'original_att'"
        : "'att' (the file has no 'original_att')";
  const names = options.attributeNames
    ? await readIndexedNames(
        path.resolve(baseDir, options.attributeNames),
        m.cols,
        'attribute',
        `the ${m.cols} attributes of ${info.att.file}`,
      )
    : Array.from({ length: m.cols }, (_, j) => `a${j + 1}`);
  return { names, matrix: m, source: `${info.att.file} ${used}` };
}

/** The warning when `attributes: original` finds no `original_att` and uses the unit-L2 `att`. */
export function missingOriginalAtt(file: string): string {
  return (
    `${file}: no 'original_att' (0–100 attributes); using 'att' (unit-L2 columns) instead — set attributes: ` +
    `att to make this explicit`
  );
}

export async function features(
  file: string,
  count: number,
  column?: (sample: number) => number,
): Promise<FeatureSource> {
  const dim = file.endsWith('.npy') ? (await npyShape(file))[1] : undefined;
  if (dim !== undefined) return featureSource(file, count, dim, column);
  const meta = await readRes101Meta(file, Number.MAX_SAFE_INTEGER);
  return featureSource(file, count, meta.featureDim, column);
}

export async function loadXlsa17(
  root: string,
  options: Xlsa17Options = {},
  baseDir = process.cwd(),
): Promise<Dataset & { readonly xlsa17: Xlsa17Info }> {
  const dir = path.resolve(root);
  const info = await readXlsa17(dir, options);
  const n = info.meta.labels.length;
  const featuresFile = options.features ? path.resolve(baseDir, options.features) : info.meta.file;
  const feats =
    featuresFile === info.meta.file
      ? featureSource(featuresFile, n, info.meta.featureDim)
      : await features(featuresFile, n);
  const samples = Array.from(info.meta.labels, (classIndex, index) => ({
    index,
    classIndex,
    path: path.join(dir, 'images', relativeImagePath(info.meta.imageFiles[index])),
  }));
  return {
    name: options.name ?? `xlsa17-${path.basename(dir)}`,
    root: dir,
    classes: info.att.classNames.map((name, index) => ({ index, name })),
    samples,
    split: info.split.split,
    attributes: await xlsa17Attributes(info, options, baseDir),
    features: feats,
    xlsa17: info,
    ...(options.attributes !== 'att' && !info.att.originalAtt ? { warnings: [missingOriginalAtt(info.att.file)] } : {}),
    readImages: () => {
      throw new DatasetError(
        `${dir}: the xlsa17 dataset has precomputed features only, no images; expected backbone: { name: features } ` +
          `(or the awa2 / cub dataset with the raw images)`,
      );
    },
  };
}
