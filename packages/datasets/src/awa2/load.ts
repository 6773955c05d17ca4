/**
 * The raw AWA2 release (`Animals_with_Attributes2/`) with the xlsa17 proposed split. Classes and
 * predicates come from the raw files (the `<index>\t<name>` layout); the class order must equal
 * xlsa17's allclasses_names (it does in the release).
 */
import path from 'node:path';
import { DatasetError, type Dataset } from '@niwt/core';
import { parseClassAttributes, readTextFile } from '../folder/text-files.js';
import { joinXlsa17, type RawImageOptions } from '../raw/join.js';
import { parseIndexedNames } from '../xlsa17/indexed-names.js';
import { readXlsa17 } from '../xlsa17/load.js';

export const AWA2_FILES = {
  classes: 'classes.txt',
  predicates: 'predicates.txt',
  continuous: 'predicate-matrix-continuous.txt',
  binary: 'predicate-matrix-binary.txt',
  images: 'JPEGImages',
} as const;

export interface Awa2LoadOptions extends RawImageOptions {
  /** The xlsa17 AWA2 folder (att_splits.mat, res101.mat). */
  readonly xlsa17: string;
  readonly attributes: 'continuous' | 'binary';
  readonly checkSizes: boolean;
}

export async function loadAwa2(root: string, options: Awa2LoadOptions): Promise<Dataset> {
  const dir = path.resolve(root);
  const file = (n: string): string => path.join(dir, n);
  const classesFile = file(AWA2_FILES.classes);
  const predicatesFile = file(AWA2_FILES.predicates);
  const matrixFile = file(options.attributes === 'binary' ? AWA2_FILES.binary : AWA2_FILES.continuous);
  const classes = parseIndexedNames(
    classesFile,
    await readTextFile(classesFile, 'one "<index>\\t<name>" line per class'),
    'class',
  );
  const predicates = parseIndexedNames(
    predicatesFile,
    await readTextFile(predicatesFile, 'one "<index>\\t<name>" line per predicate'),
    'predicate',
  );
  const lined = (names: readonly string[]) => names.map((name, i) => ({ name, line: i + 1 }));
  const matrix = parseClassAttributes(
    matrixFile,
    await readTextFile(matrixFile, 'one row of numbers per class (one per predicate)'),
    lined(classes),
    predicates.length,
    {
      classesFile,
      attributesFile: predicatesFile,
    },
  );
  const info = await readXlsa17(options.xlsa17, { checkSizes: options.checkSizes });
  const xNames = info.att.classNames;
  const differs = classes.findIndex((c, i) => c !== xNames[i]);
  if (classes.length !== xNames.length || differs >= 0) {
    const i = differs >= 0 ? differs : Math.min(classes.length, xNames.length);
    throw new DatasetError(
      `${classesFile}:${i + 1}: class "${classes[i] ?? '(none)'}" but allclasses_names(${i + 1}) in ` +
        `${info.att.file} is "${xNames[i] ?? '(none)'}"; ` +
        `expected the same ${xNames.length} classes in the same order`,
    );
  }
  if (info.att.att.cols !== predicates.length) {
    throw new DatasetError(
      `${predicatesFile}: ${predicates.length} predicates but ${info.att.file} has ${info.att.att.cols} ` +
        `attributes; expected the same count`,
    );
  }
  return joinXlsa17(
    info,
    {
      name: 'awa2',
      root: dir,
      attributes: { names: predicates, matrix, source: matrixFile },
      resolve: (rel) => path.join(dir, AWA2_FILES.images, rel),
      classDirOf: (c) => classes[c],
      listedIn: path.join(dir, AWA2_FILES.images),
    },
    options,
  );
}
