/**
 * Readers of the three plain-text files of the folder format. Every problem is a `DatasetError`
 * that names the file, the line (and column for values) and what was expected there.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, at, matrix, type Matrix } from '@niwt/core';

/** A name read from a one-name-per-line file, with its 1-based line for later messages. */
export interface NamedLine {
  readonly name: string;
  readonly line: number;
}

/** Reads a text file; a missing file is a `DatasetError` saying what the file should hold. */
export async function readTextFile(file: string, expected: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) throw new DatasetError(`${file}: file not found; expected ${expected}`, { cause: e });
    throw new DatasetError(`${file}: cannot read (${errorText(e)}); expected ${expected}`, { cause: e });
  }
}

/** Lines without a BOM and without the blank lines at the end (a final newline is not a row). */
export function contentLines(text: string): string[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  return lines;
}

/**
 * Parses a one-name-per-line file (`classes.txt`, `attributes.txt`). Names are trimmed; empty and
 * duplicate names are errors because both silently shift every index after them.
 */
export function parseNameList(file: string, text: string, kind: 'class' | 'attribute'): NamedLine[] {
  const lines = contentLines(text);
  if (lines.length === 0) throw new DatasetError(`${file}: no ${kind} names; expected one ${kind} name per line`);
  const firstLine = new Map<string, number>();
  return lines.map((raw, i) => {
    const line = i + 1;
    const name = raw.trim();
    if (name === '')
      throw new DatasetError(`${at(file, line)}: empty ${kind} name; expected one ${kind} name per line`);
    const first = firstLine.get(name);
    if (first !== undefined) {
      throw new DatasetError(
        `${at(file, line)}: duplicate ${kind} name "${name}" (first at line ${first}); expected unique names`,
      );
    }
    if (kind === 'class' && !isFolderName(name)) {
      throw new DatasetError(
        `${at(file, line)}: class name "${name}" cannot be a folder name; expected a name without / or \\ ` +
          `that is not . or ..`,
      );
    }
    firstLine.set(name, line);
    return { name, line };
  });
}

/** A plain decimal number (no hex, NaN or Infinity, which `Number()` would accept). */
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses `class-attributes.txt`: one row of whitespace-separated numbers per class, in
 * `classes.txt` order, one value per attribute.
 */
export function parseClassAttributes(
  file: string,
  text: string,
  classes: readonly NamedLine[],
  attributeCount: number,
  refs: { readonly classesFile: string; readonly attributesFile: string },
): Matrix {
  const lines = contentLines(text);
  const classesName = path.basename(refs.classesFile);
  const attributesName = path.basename(refs.attributesFile);
  if (lines.length < classes.length) {
    const missing = classes[lines.length];
    throw new DatasetError(
      `${file}: ${lines.length} rows, expected ${classes.length} (one per class in ${classesName}); ` +
        `no row for "${missing.name}" (${classesName}:${missing.line})`,
    );
  }
  if (lines.length > classes.length) {
    const line = classes.length + 1;
    throw new DatasetError(
      `${at(file, line)}: row ${line} has no class; expected ${classes.length} rows (one per class in ${classesName})`,
    );
  }
  const data = new Float32Array(classes.length * attributeCount);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const tokens = [...raw.matchAll(/\S+/g)];
    if (tokens.length !== attributeCount) {
      throw new DatasetError(
        `${at(file, line)}: ${tokens.length} values in the row of class "${classes[i].name}", ` +
          `expected ${attributeCount} (one per attribute in ${attributesName})`,
      );
    }
    tokens.forEach((m, j) => {
      if (!NUMBER.test(m[0])) {
        throw new DatasetError(
          `${at(file, line)}:${(m.index ?? 0) + 1}: value ${j + 1} "${m[0]}" is not a number; ` +
            `expected ${attributeCount} whitespace-separated numbers`,
        );
      }
      data[i * attributeCount + j] = Number(m[0]);
    });
  });
  return matrix(classes.length, attributeCount, data);
}

function isFolderName(name: string): boolean {
  return !/[/\\]/.test(name) && name !== '.' && name !== '..' && !name.includes('\0');
}

export function isNotFound(e: unknown): boolean {
  return e instanceof Error && 'code' in e && (e.code === 'ENOENT' || e.code === 'ENOTDIR');
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
