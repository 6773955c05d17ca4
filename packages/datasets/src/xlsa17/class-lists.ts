/** The xlsa17 class-name text files (`trainvalclasses.txt`, `trainclasses1.txt`, …): one name per line. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, at } from '@niwt/core';
import { contentLines, isNotFound } from '../folder/text-files.js';

export interface ClassList {
  readonly file: string;
  readonly names: readonly string[];
  /** Class index (into allclasses_names) of each line. */
  readonly indices: readonly number[];
}

/** Reads `dir/name` if it exists (undefined otherwise); every line must be a class of `classNames`. */
export async function readClassList(
  dir: string,
  name: string,
  classNames: readonly string[],
  classSource: string,
): Promise<ClassList | undefined> {
  const file = path.join(dir, name);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw new DatasetError(`${file}: cannot read (${String(e)}); expected one class name per line`, { cause: e });
  }
  const index = new Map(classNames.map((c, i) => [c, i]));
  const seen = new Map<string, number>();
  const names: string[] = [];
  const indices: number[] = [];
  contentLines(text).forEach((raw, i) => {
    const n = raw.trim();
    const line = i + 1;
    if (n === '') throw new DatasetError(`${at(file, line)}: empty class name; expected one class name per line`);
    const k = index.get(n);
    if (k === undefined)
      throw new DatasetError(
        `${at(file, line)}: "${n}" is not a class of ${classSource}; expected one of its ${classNames.length} names`,
      );
    const first = seen.get(n);
    if (first !== undefined)
      throw new DatasetError(
        `${at(file, line)}: class "${n}" is listed twice (first at line ${first}); expected each class once`,
      );
    seen.set(n, line);
    names.push(n);
    indices.push(k);
  });
  return { file, names, indices };
}
