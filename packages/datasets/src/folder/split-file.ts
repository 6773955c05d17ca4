/**
 * Reader of `split.yaml`. It is parsed with the YAML failsafe schema (every scalar a string) so a
 * class called `yes`, `null` or `007` stays the name the user wrote; numbers are parsed here.
 * Positions come from the `yaml` CST ranges through a `LineCounter`, so every message has a line.
 */
import path from 'node:path';
import { DatasetError, at, didYouMean } from '@niwt/core';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { SPLIT_DEFAULTS } from './layout.js';
import type { NamedLine } from './text-files.js';

/** The split as class indices, with the held-out settings. */
export interface SplitSpec {
  readonly seen: readonly number[];
  readonly unseen: readonly number[];
  readonly testFraction: number;
  readonly seed: number;
}

const KEYS = ['seen', 'unseen', 'test_fraction', 'seed'] as const;
type Key = (typeof KEYS)[number];
type ListKey = 'seen' | 'unseen';

interface Located<T> {
  readonly value: T;
  readonly line: number;
}

interface ListEntry extends Located<string> {
  readonly position: number;
}

/**
 * Parses `split.yaml` against the classes of `classes.txt`.
 *
 * Policy: every class must be in exactly one of `seen` / `unseen`. A class in neither is an error
 * (not silently dropped): the label space of a GZSL run is all classes, and a forgotten class
 * would change it without a word.
 */
export function parseSplitFile(
  file: string,
  text: string,
  classes: readonly NamedLine[],
  classesFile: string,
): SplitSpec {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, schema: 'failsafe', prettyErrors: false });
  const lineOf = (node: Node | null | undefined): number | undefined =>
    node?.range ? lineCounter.linePos(node.range[0]).line : undefined;

  const syntax = doc.errors[0];
  if (syntax) {
    const line = lineCounter.linePos(syntax.pos[0]).line;
    const message = syntax.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new DatasetError(
      `${at(file, line)}: invalid YAML (${message}); expected seen: and unseen: lists of class names`,
    );
  }

  const found = new Map<Key, { readonly node: Node | null; readonly line: number }>();
  const root = doc.contents;
  if (root !== null) {
    if (!isMap(root)) {
      throw new DatasetError(
        `${at(file, lineOf(root))}: not a mapping; expected the keys ${KEYS.join(', ')} (seen and unseen are required)`,
      );
    }
    for (const pair of root.items) {
      const keyNode = pair.key as Node | null;
      const line = lineOf(keyNode) ?? 1;
      const key = isScalar(keyNode) ? String(keyNode.value) : undefined;
      if (key === undefined || !(KEYS as readonly string[]).includes(key)) {
        const what = key === undefined ? 'a key that is not a string' : `unknown key "${key}"`;
        throw new DatasetError(`${at(file, line)}: ${what}; expected one of ${KEYS.join(', ')}`);
      }
      found.set(key as Key, { node: pair.value as Node | null, line });
    }
  }

  const seen = readList(file, 'seen', found.get('seen'), lineOf);
  const unseen = readList(file, 'unseen', found.get('unseen'), lineOf);
  const testFraction = readTestFraction(file, found.get('test_fraction'), lineOf);
  const seed = readSeed(file, found.get('seed'), lineOf);

  const classIndex = new Map(classes.map((c, i) => [c.name, i]));
  const classesName = path.basename(classesFile);
  const firstSeen = new Map<string, ListEntry>();
  const resolve = (key: ListKey, entries: readonly ListEntry[]): number[] => {
    const own = new Map<string, ListEntry>();
    return entries.map((e) => {
      const where = `${at(file, e.line)}: ${key}[${e.position}] "${e.value}"`;
      const index = classIndex.get(e.value);
      if (index === undefined) {
        const hint = closest(
          e.value,
          classes.map((c) => c.name),
        );
        throw new DatasetError(
          `${where} is not a class in ${classesName}; expected one of its ${classes.length} names` +
            (hint === undefined ? '' : ` (did you mean "${hint}"?)`),
        );
      }
      const twice = own.get(e.value);
      if (twice)
        throw new DatasetError(`${where} is listed twice (first at line ${twice.line}); expected each class once`);
      own.set(e.value, e);
      const other = key === 'unseen' ? firstSeen.get(e.value) : undefined;
      if (other) {
        throw new DatasetError(
          `${where} is also in seen (line ${other.line}); expected each class in exactly one of seen, unseen`,
        );
      }
      if (key === 'seen') firstSeen.set(e.value, e);
      return index;
    });
  };
  const seenIdx = resolve('seen', seen);
  const unseenIdx = resolve('unseen', unseen);

  const listed = new Set([...seenIdx, ...unseenIdx]);
  const neither = classes.findIndex((_, i) => !listed.has(i));
  if (neither >= 0) {
    const c = classes[neither];
    throw new DatasetError(
      `${file}: class "${c.name}" (${classesName}:${c.line}) is in neither seen nor unseen; ` +
        `expected every class of ${classesName} in exactly one list (to leave a class out, ` +
        `remove it from ${classesName} and its row from class-attributes.txt)`,
    );
  }
  return { seen: seenIdx, unseen: unseenIdx, testFraction, seed };
}

function readList(
  file: string,
  key: ListKey,
  entry: { readonly node: Node | null; readonly line: number } | undefined,
  lineOf: (n: Node | null | undefined) => number | undefined,
): ListEntry[] {
  if (!entry) throw new DatasetError(`${file}: missing key "${key}"; expected a list of ${key} class names`);
  const { node, line } = entry;
  if (!isSeq(node)) {
    throw new DatasetError(
      `${at(file, lineOf(node) ?? line)}: "${key}" is not a list; expected a list of class names, e.g. ` +
        `${key}: [cat, dog]`,
    );
  }
  if (node.items.length === 0)
    throw new DatasetError(`${at(file, line)}: "${key}" is empty; expected at least one class name`);
  return node.items.map((item, position) => {
    const itemNode = item as Node | null;
    const itemLine = lineOf(itemNode) ?? line;
    if (!isScalar(itemNode) || String(itemNode.value).trim() === '') {
      throw new DatasetError(`${at(file, itemLine)}: ${key}[${position}] is not a class name; expected a plain string`);
    }
    return { value: String(itemNode.value).trim(), line: itemLine, position };
  });
}

function readScalar(
  file: string,
  key: string,
  entry: { readonly node: Node | null; readonly line: number },
  lineOf: (n: Node | null | undefined) => number | undefined,
  expected: string,
): Located<string> {
  const line = lineOf(entry.node) ?? entry.line;
  if (!isScalar(entry.node))
    throw new DatasetError(`${at(file, line)}: ${key} is not a single value; expected ${expected}`);
  return { value: String(entry.node.value).trim(), line };
}

function readTestFraction(
  file: string,
  entry: { readonly node: Node | null; readonly line: number } | undefined,
  lineOf: (n: Node | null | undefined) => number | undefined,
): number {
  if (!entry) return SPLIT_DEFAULTS.testFraction;
  const expected = "the share of each seen class's images held out as test_seen, a number in (0, 1)";
  const { value, line } = readScalar(file, 'test_fraction', entry, lineOf, expected);
  const x = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(value) ? Number(value) : NaN;
  if (Number.isNaN(x))
    throw new DatasetError(`${at(file, line)}: test_fraction "${value}" is not a number; expected ${expected}`);
  if (!(x > 0 && x < 1))
    throw new DatasetError(`${at(file, line)}: test_fraction ${value} is outside (0, 1); expected ${expected}`);
  return x;
}

function readSeed(
  file: string,
  entry: { readonly node: Node | null; readonly line: number } | undefined,
  lineOf: (n: Node | null | undefined) => number | undefined,
): number {
  if (!entry) return SPLIT_DEFAULTS.seed;
  const expected = 'an integer from 0 to 4294967295';
  const { value, line } = readScalar(file, 'seed', entry, lineOf, expected);
  const x = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(x >= 0 && x <= 0xffffffff))
    throw new DatasetError(`${at(file, line)}: seed "${value}" is not valid; expected ${expected}`);
  return x;
}

/** The nearest name when it is close enough to be a typo (stricter than the config's default for short names). */
function closest(name: string, names: readonly string[]): string | undefined {
  return didYouMean(name, names, Math.max(1, Math.min(3, Math.floor(name.length / 3))));
}
