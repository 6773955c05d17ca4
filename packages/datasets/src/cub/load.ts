/**
 * The raw CUB-200-2011 release with the xlsa17 proposed split. Classes follow xlsa17's
 * allclasses_names order (not CUB's numeric order); the class attribute rows are reordered to it.
 * Attribute names come from `attributes/attributes.txt` or, as the archive actually ships it,
 * `attributes.txt` NEXT TO the `CUB_200_2011/` folder.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, at, matrix, type Dataset } from '@niwt/core';
import { contentLines, parseClassAttributes, readTextFile } from '../folder/text-files.js';
import { joinXlsa17, type RawImageOptions } from '../raw/join.js';
import { parseIndexedNames } from '../xlsa17/indexed-names.js';
import { readXlsa17 } from '../xlsa17/load.js';
import { relativeImagePath } from '../xlsa17/res101.js';

export const CUB_FILES = {
  classes: 'classes.txt',
  images: 'images.txt',
  labels: 'image_class_labels.txt',
  attributes: 'attributes/class_attribute_labels_continuous.txt',
  imageDir: 'images',
} as const;

export interface CubLoadOptions extends RawImageOptions {
  readonly xlsa17: string;
  readonly checkSizes: boolean;
}

/** `attributes/attributes.txt` inside the root, else the top-level `../attributes.txt` of the archive. */
export async function findCubAttributeNames(root: string): Promise<string> {
  const candidates = [path.join(root, 'attributes', 'attributes.txt'), path.join(path.dirname(root), 'attributes.txt')];
  for (const c of candidates) {
    try {
      await access(c);
      return c;
    } catch {
      // try the next place
    }
  }
  throw new DatasetError(
    `${candidates[0]}: file not found (nor ${candidates[1]}, where the CUB archive puts it); expected 312 ` +
      `lines "<id> <group>::<value>"`,
  );
}

/** `<id> <value>` lines with ids 1..n in order. */
function parseIdLines(file: string, text: string, what: string): string[] {
  return contentLines(text).map((raw, i) => {
    const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(raw);
    if (!m)
      throw new DatasetError(
        `${at(file, i + 1)}: "${raw.trim()}" is not "<id> <${what}>"; expected one such line per image`,
      );
    if (Number(m[1]) !== i + 1)
      throw new DatasetError(`${at(file, i + 1)}: id ${m[1]}; expected ${i + 1} (ids in order)`);
    return m[2];
  });
}

export async function loadCub(root: string, options: CubLoadOptions): Promise<Dataset> {
  const dir = path.resolve(root);
  const file = (n: string): string => path.join(dir, n);
  const classesFile = file(CUB_FILES.classes);
  const cubClasses = parseIndexedNames(
    classesFile,
    await readTextFile(classesFile, 'one "<id> <NNN.Class_Name>" line per class'),
    'class',
  );
  const attrNamesFile = await findCubAttributeNames(dir);
  const attrNames = parseIndexedNames(
    attrNamesFile,
    await readTextFile(attrNamesFile, 'one "<id> <group>::<value>" line per attribute'),
    'attribute',
  );
  const matrixFile = file(CUB_FILES.attributes);
  const table = parseClassAttributes(
    matrixFile,
    await readTextFile(matrixFile, 'one row of numbers per class (one per attribute)'),
    cubClasses.map((name, i) => ({ name, line: i + 1 })),
    attrNames.length,
    { classesFile, attributesFile: attrNamesFile },
  );
  const imagesFile = file(CUB_FILES.images);
  const labelsFile = file(CUB_FILES.labels);
  const images = parseIdLines(
    imagesFile,
    await readTextFile(imagesFile, 'one "<image_id> <class folder>/<file>.jpg" line per image'),
    'path',
  );
  const labels = parseIdLines(
    labelsFile,
    await readTextFile(labelsFile, 'one "<image_id> <class_id>" line per image'),
    'class_id',
  );
  if (labels.length !== images.length) {
    throw new DatasetError(
      `${labelsFile}: ${labels.length} lines; expected ${images.length}, one per image of ${imagesFile}`,
    );
  }
  const classOfPath = new Map<string, number>();
  images.forEach((p, i) => {
    const c = Number(labels[i]);
    if (!Number.isInteger(c) || c < 1 || c > cubClasses.length) {
      throw new DatasetError(
        `${at(labelsFile, i + 1)}: class id ${labels[i]}; expected 1 to ${cubClasses.length} (${classesFile})`,
      );
    }
    if (p.split('/')[0] !== cubClasses[c - 1]) {
      throw new DatasetError(
        `${at(imagesFile, i + 1)}: "${p}" is not in the folder of its class "${cubClasses[c - 1]}" ` +
          `(${labelsFile}:${i + 1}); expected <class folder>/<file>`,
      );
    }
    classOfPath.set(p, c - 1);
  });

  const info = await readXlsa17(options.xlsa17, { checkSizes: options.checkSizes });
  const cubIndex = new Map(cubClasses.map((c, i) => [c, i]));
  const rowOf = info.att.classNames.map((name, k) => {
    const i = cubIndex.get(name);
    if (i === undefined)
      throw new DatasetError(
        `${info.att.file}: allclasses_names(${k + 1}) "${name}" is not a class of ${classesFile}; expected ` +
          `CUB folder names like 001.Black_footed_Albatross`,
      );
    return i;
  });
  if (rowOf.length !== cubClasses.length) {
    throw new DatasetError(
      `${info.att.file}: ${rowOf.length} classes in allclasses_names; expected the ${cubClasses.length} of ` +
        `${classesFile}`,
    );
  }
  const reordered = new Float32Array(table.data.length);
  rowOf.forEach((i, k) => reordered.set(table.data.subarray(i * table.cols, (i + 1) * table.cols), k * table.cols));
  // Every xlsa17 image must be an images.txt image of the same class (joined by path, not id).
  info.meta.imageFiles.forEach((f, j) => {
    const rel = relativeImagePath(f);
    const c = classOfPath.get(rel);
    if (c === undefined)
      throw new DatasetError(
        `${info.meta.file}: image_files{${j + 1}} "${rel}" is not listed in ${imagesFile}; expected the ` +
          `xlsa17 copy for this CUB release`,
      );
    if (c !== rowOf[info.meta.labels[j]]) {
      throw new DatasetError(
        `${info.meta.file}: labels(${j + 1}) is "${info.att.classNames[info.meta.labels[j]]}" but ` +
          `${imagesFile} puts "${rel}" in "${cubClasses[c]}"`,
      );
    }
  });
  return joinXlsa17(
    info,
    {
      name: 'cub',
      root: dir,
      attributes: { names: attrNames, matrix: matrix(rowOf.length, table.cols, reordered), source: matrixFile },
      resolve: (rel) => path.join(dir, CUB_FILES.imageDir, rel),
      classDirOf: (c) => info.att.classNames[c],
      listedIn: imagesFile,
    },
    options,
  );
}
