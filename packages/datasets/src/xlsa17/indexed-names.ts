/**
 * Name lists in the layouts the datasets ship: AwA `classes.txt`/`predicates.txt` ("  1\tantelope"),
 * CUB `classes.txt`/`attributes.txt` ("1 has_bill_shape::curved_(up_or_down)") or one name per line.
 */
import { DatasetError, at } from '@niwt/core';
import { contentLines, readTextFile } from '../folder/text-files.js';

/** Names in file order; an `<index> <name>` line must carry index = line number. */
export function parseIndexedNames(file: string, text: string, kind: string): string[] {
  const lines = contentLines(text);
  if (lines.length === 0)
    throw new DatasetError(`${file}: no ${kind} names; expected one "<index> <name>" line per ${kind}`);
  const first = new Map<string, number>();
  return lines.map((raw, i) => {
    const line = i + 1;
    const m = /^\s*(\d+)\s+(\S.*?)\s*$/.exec(raw);
    const name = m ? m[2] : raw.trim();
    if (name === '') throw new DatasetError(`${at(file, line)}: empty ${kind} name; expected "<index> <name>"`);
    if (m && Number(m[1]) !== line) {
      throw new DatasetError(
        `${at(file, line)}: index ${m[1]}; expected ${line} (the lines must be in index order, one per ${kind})`,
      );
    }
    const dup = first.get(name);
    if (dup !== undefined)
      throw new DatasetError(
        `${at(file, line)}: duplicate ${kind} name "${name}" (first at line ${dup}); expected unique names`,
      );
    first.set(name, line);
    return name;
  });
}

/** Reads and parses a name list that must have `count` entries. */
export async function readIndexedNames(file: string, count: number, kind: string, what: string): Promise<string[]> {
  const names = parseIndexedNames(file, await readTextFile(file, `one "<index> <name>" line per ${kind}`), kind);
  if (names.length !== count)
    throw new DatasetError(`${file}: ${names.length} ${kind} names; expected ${count} (${what})`);
  return names;
}
