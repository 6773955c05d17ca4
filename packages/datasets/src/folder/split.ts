/** Turns class-level seen/unseen lists into the sample-level ZSL split. */
import path from 'node:path';
import { DatasetError, type Sample, type ZslSplit } from '@niwt/core';
import { mixSeeds, hashString, Rng } from '@niwt/core';
import { IMAGE_EXTENSIONS } from './layout.js';
import type { SplitSpec } from './split-file.js';

/**
 * How many of a seen class's `n` images are held out as test_seen: `round(n · fraction)`, but at
 * least one (so every seen class is tested) and at most `n − 1` (so every seen class is trained).
 */
export function heldOutCount(n: number, fraction: number): number {
  return Math.min(n - 1, Math.max(1, Math.round(n * fraction)));
}

/**
 * Builds the split. Held-out images of a seen class are chosen by a shuffle seeded with
 * (split seed, class name): reproducible, and unaffected by adding or reordering other classes.
 * All index lists are ascending.
 */
export function assignSplit(
  spec: SplitSpec,
  classNames: readonly string[],
  classDirs: readonly string[],
  samples: readonly Sample[],
): ZslSplit {
  const byClass = classNames.map((): Sample[] => []);
  for (const s of samples) byClass[s.classIndex].push(s);
  const exts = IMAGE_EXTENSIONS.join(', ');

  const trainval: number[] = [];
  const testSeen: number[] = [];
  for (const c of spec.seen) {
    const own = byClass[c];
    if (own.length < 2) {
      const found = own.length === 0 ? `no images (${exts})` : `only 1 image (${path.basename(own[0].path)})`;
      throw new DatasetError(
        `${classDirs[c]}: ${found}; expected at least 2 for seen class "${classNames[c]}" ` +
          `(at least one held out as test_seen and one kept for trainval)`,
      );
    }
    const k = heldOutCount(own.length, spec.testFraction);
    const shuffled = new Rng(mixSeeds(spec.seed, hashString(classNames[c]))).shuffle(own);
    shuffled.forEach((s, i) => (i < k ? testSeen : trainval).push(s.index));
  }
  const testUnseen: number[] = [];
  for (const c of spec.unseen) {
    const own = byClass[c];
    if (own.length === 0) {
      throw new DatasetError(
        `${classDirs[c]}: no images (${exts}); expected at least 1 for unseen class "${classNames[c]}"`,
      );
    }
    for (const s of own) testUnseen.push(s.index);
  }
  const asc = (a: number, b: number): number => a - b;
  return {
    seen: [...spec.seen].sort(asc),
    unseen: [...spec.unseen].sort(asc),
    trainval: trainval.sort(asc),
    testSeen: testSeen.sort(asc),
    testUnseen: testUnseen.sort(asc),
  };
}
