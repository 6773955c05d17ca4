/**
 * `att_splits.mat` of the xlsa17 release: class names, attribute matrices and the 1-based `*_loc`
 * index vectors into the columns of `res101.mat`, plus the class-list text files beside it.
 */
import path from 'node:path';
import { DatasetError, FormatError, type Matrix } from '@niwt/core';
import { readMat } from '../mat/reader.js';
import { matMatrixRows, matNumbers, matStrings } from '../mat/values.js';
import { readClassList, type ClassList } from './class-lists.js';

export const ATT_SPLITS = 'att_splits.mat';
export const LOC_NAMES = ['trainval_loc', 'test_seen_loc', 'test_unseen_loc', 'train_loc', 'val_loc'] as const;
export type LocName = (typeof LOC_NAMES)[number];

export interface AttSplits {
  readonly file: string;
  readonly classNames: readonly string[];
  /** classes × attributes (the MAT's E×C, transposed by reading its columns as rows). */
  readonly att: Matrix;
  readonly originalAtt?: Matrix;
  /** 0-based image indices, in file order; `train_loc`/`val_loc` may be absent in some copies. */
  readonly locs: Readonly<Partial<Record<LocName, Int32Array>>> &
    Readonly<Record<'trainval_loc' | 'test_seen_loc' | 'test_unseen_loc', Int32Array>>;
  readonly lists: {
    readonly trainval?: ClassList;
    readonly test?: ClassList;
    readonly train1?: ClassList;
    readonly val1?: ClassList;
  };
}

/** Reads `dir/att_splits.mat` and the optional class lists next to it. */
export async function readAttSplits(dir: string): Promise<AttSplits> {
  const file = path.join(dir, ATT_SPLITS);
  const mat = await readMat(file);
  const classNames = matStrings(mat, 'allclasses_names').map((s) => s.trim());
  const att = matMatrixRows(mat, 'att');
  if (att.rows !== classNames.length) {
    throw new FormatError(
      `${file}: 'att' has ${att.rows} columns (classes); expected ${classNames.length}, one per allclasses_names entry`,
    );
  }
  const originalAtt = mat.variables.has('original_att') ? matMatrixRows(mat, 'original_att') : undefined;
  if (originalAtt && (originalAtt.rows !== att.rows || originalAtt.cols !== att.cols)) {
    throw new FormatError(
      `${file}: 'original_att' is ${originalAtt.cols}×${originalAtt.rows}; expected ${att.cols}×${att.rows} like 'att'`,
    );
  }
  const locs: Partial<Record<LocName, Int32Array>> = {};
  for (const name of LOC_NAMES) {
    if (!mat.variables.has(name)) {
      if (name === 'train_loc' || name === 'val_loc') continue;
      throw new FormatError(
        `${file}: no variable '${name}'; expected the xlsa17 index vectors ${LOC_NAMES.slice(0, 3).join(', ')}`,
      );
    }
    const values = matNumbers(mat, name);
    const out = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isInteger(v) || v < 1)
        throw new FormatError(`${file}: ${name}(${i + 1}) = ${v}; expected 1-based image indices`);
      out[i] = v - 1;
    }
    locs[name] = out;
  }
  const dups = (a: readonly string[]): string | undefined => a.find((n, i) => a.indexOf(n) !== i);
  const dup = dups(classNames);
  if (dup !== undefined)
    throw new FormatError(`${file}: class "${dup}" appears twice in allclasses_names; expected unique names`);
  const src = `${ATT_SPLITS} allclasses_names`;
  const [trainval, test, train1, val1] = await Promise.all(
    ['trainvalclasses.txt', 'testclasses.txt', 'trainclasses1.txt', 'valclasses1.txt'].map((n) =>
      readClassList(dir, n, classNames, src),
    ),
  );
  const allclasses = await readClassList(dir, 'allclasses.txt', classNames, src);
  if (allclasses && allclasses.indices.some((k, i) => k !== i)) {
    const i = allclasses.indices.findIndex((k, j) => k !== j);
    throw new DatasetError(
      `${allclasses.file}:${i + 1}: "${allclasses.names[i]}" differs from allclasses_names(${i + 1}) ` +
        `"${classNames[i]}" in ${file}; expected the same class order`,
    );
  }
  return {
    file,
    classNames,
    att,
    ...(originalAtt ? { originalAtt } : {}),
    locs: locs as AttSplits['locs'],
    lists: {
      ...(trainval ? { trainval } : {}),
      ...(test ? { test } : {}),
      ...(train1 ? { train1 } : {}),
      ...(val1 ? { val1 } : {}),
    },
  };
}
