/**
 * The xlsa17 split as a `ZslSplit`, checked: indices in range, the three test/train sets disjoint,
 * class lists consistent, sizes as published, and a validation split that never overlaps test_seen.
 */
import { DatasetError, FormatError, type ZslSplit } from '@niwt/core';
import type { AttSplits } from './att-splits.js';
import { fmt, type PublishedSplit } from './published.js';

export interface Xlsa17Split {
  readonly split: ZslSplit;
  /** How train/val were obtained, for the log and `datasets check`. */
  readonly validation: 'train_loc/val_loc' | 'trainclasses1.txt/valclasses1.txt' | 'none';
  /** Images of train_loc/val_loc dropped because they are in test_seen_loc (the known xlsa17 gotcha). */
  readonly droppedFromValidation: number;
}

/** Checks loc sizes against the published table; the error names the file, expected and found. */
export function checkPublishedSizes(
  att: AttSplits,
  key: string,
  p: PublishedSplit,
  images?: { file: string; count: number },
): void {
  const expect = (what: string, found: number, expected: number | undefined, file = att.file): void => {
    if (expected !== undefined && found !== expected) {
      throw new DatasetError(
        `${file}: ${what} has ${fmt(found)}; expected ${fmt(expected)} for xlsa17 ${key} (published proposed ` +
          `split; set checkSizes: false for a modified copy)`,
      );
    }
  };
  expect('allclasses_names', att.classNames.length, p.classes);
  expect("'att' (attributes)", att.att.cols, p.attributes);
  expect('trainval_loc', att.locs.trainval_loc.length, p.trainval);
  expect('test_seen_loc', att.locs.test_seen_loc.length, p.testSeen);
  expect('test_unseen_loc', att.locs.test_unseen_loc.length, p.testUnseen);
  if (att.locs.train_loc) expect('train_loc', att.locs.train_loc.length, p.train);
  if (att.locs.val_loc) expect('val_loc', att.locs.val_loc.length, p.val);
  if (images) expect('image count', images.count, p.images, images.file);
  // the class counts `niwt datasets check` compares too
  const { trainval, test, train1, val1 } = att.lists;
  if (trainval) expect('seen classes', trainval.names.length, p.seen, trainval.file);
  if (test) expect('unseen classes', test.names.length, p.unseen, test.file);
  if (train1) expect('train classes', train1.names.length, p.trainClasses, train1.file);
  if (val1) expect('val classes', val1.names.length, p.valClasses, val1.file);
}

/** Builds the split from the loc vectors and each image's 0-based class label. */
export function buildXlsa17Split(att: AttSplits, labels: Int32Array, labelsFile: string): Xlsa17Split {
  const n = labels.length;
  const { locs } = att;
  for (const [name, loc] of Object.entries(locs)) {
    const bad = loc.findIndex((i) => i >= n);
    if (bad >= 0)
      throw new FormatError(
        `${att.file}: ${name}(${bad + 1}) = ${loc[bad] + 1} is past the ${fmt(n)} images of ${labelsFile}`,
      );
  }
  const sets = {
    trainval_loc: locs.trainval_loc,
    test_seen_loc: locs.test_seen_loc,
    test_unseen_loc: locs.test_unseen_loc,
  };
  const owner = new Int8Array(n).fill(-1);
  Object.values(sets).forEach((loc, k) => {
    for (const i of loc) {
      if (owner[i] !== -1) {
        throw new DatasetError(
          `${att.file}: image ${i + 1} is in both ${Object.keys(sets)[owner[i]]} and ` +
            `${Object.keys(sets)[k]}; expected disjoint sets`,
        );
      }
      owner[i] = k;
    }
  });
  const classesOf = (loc: Int32Array): number[] =>
    [...new Set(Array.from(loc, (i) => labels[i]))].sort((a, b) => a - b);
  const seen = classesOf(locs.trainval_loc);
  const unseen = classesOf(locs.test_unseen_loc);
  const seenSet = new Set(seen);
  const both = unseen.find((c) => seenSet.has(c));
  if (both !== undefined)
    throw new DatasetError(
      `${att.file}: class "${att.classNames[both]}" has images in trainval_loc and test_unseen_loc; expected ` +
        `unseen classes absent from trainval`,
    );
  const stray = classesOf(locs.test_seen_loc).find((c) => !seenSet.has(c));
  if (stray !== undefined)
    throw new DatasetError(
      `${att.file}: test_seen_loc has class "${att.classNames[stray]}", which has no trainval images; ` +
        `expected seen classes only`,
    );
  crossCheck(att.lists.trainval, seen, att.classNames, 'trainval_loc');
  crossCheck(att.lists.test, unseen, att.classNames, 'test_unseen_loc');

  const trainval = new Set(locs.trainval_loc);
  const asc = (a: number, b: number): number => a - b;
  let train: number[] | undefined;
  let val: number[] | undefined;
  let validation: Xlsa17Split['validation'] = 'none';
  let dropped = 0;
  if (locs.train_loc && locs.val_loc) {
    // train_loc ∪ val_loc = trainval ∪ test_seen in the release: keep only trainval images.
    const keep = (loc: Int32Array): number[] => Array.from(loc).filter((i) => trainval.has(i));
    train = keep(locs.train_loc);
    val = keep(locs.val_loc);
    dropped = locs.train_loc.length + locs.val_loc.length - train.length - val.length;
    validation = 'train_loc/val_loc';
  } else if (att.lists.train1 && att.lists.val1) {
    const t = new Set(att.lists.train1.indices);
    const v = new Set(att.lists.val1.indices);
    train = Array.from(locs.trainval_loc).filter((i) => t.has(labels[i]));
    val = Array.from(locs.trainval_loc).filter((i) => v.has(labels[i]));
    validation = 'trainclasses1.txt/valclasses1.txt';
  }
  return {
    split: {
      seen,
      unseen,
      trainval: Array.from(locs.trainval_loc).sort(asc),
      testSeen: Array.from(locs.test_seen_loc).sort(asc),
      testUnseen: Array.from(locs.test_unseen_loc).sort(asc),
      ...(train && val ? { train: train.sort(asc), val: val.sort(asc) } : {}),
    },
    validation,
    droppedFromValidation: dropped,
  };
}

function crossCheck(
  list: { file: string; indices: readonly number[] } | undefined,
  classes: readonly number[],
  names: readonly string[],
  loc: string,
): void {
  if (!list) return;
  const want = new Set(classes);
  const extra = list.indices.find((c) => !want.has(c));
  if (extra !== undefined)
    throw new DatasetError(
      `${list.file}: class "${names[extra]}" has no images in ${loc} of att_splits.mat; expected the classes of ${loc}`,
    );
  const got = new Set(list.indices);
  const missing = classes.find((c) => !got.has(c));
  if (missing !== undefined)
    throw new DatasetError(
      `${list.file}: class "${names[missing]}" of ${loc} is not listed; expected all ${classes.length} ` +
        `classes of ${loc}`,
    );
}
