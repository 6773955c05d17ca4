/**
 * The continuous class × attribute table, shaped like AWA2's "percentage of annotators" matrix:
 * a class's own values are strong but not 100 (60–100), other values are mostly 0 with occasional
 * confusions (up to 25). Methods thus face annotation noise instead of a clean one-hot code.
 */
import { mixSeeds, hashString, Rng } from '@niwt/core';
import { ATTRIBUTE_NAMES, type ShapeClass } from './vocabulary.js';

/** Share of off-values that get a non-zero confusion score. */
const CONFUSION_RATE = 0.35;

/**
 * One row per class, rounded to 2 decimals (as written to `class-attributes.txt`). A row depends
 * only on the seed and the class name, not on which other classes were chosen.
 */
export function attributeRows(classes: readonly ShapeClass[], seed: number): number[][] {
  return classes.map((c) => {
    const rng = new Rng(mixSeeds(seed, 2, hashString(c.name)));
    const own = new Set(c.attributes);
    return ATTRIBUTE_NAMES.map((_, j) => {
      const u = rng.next();
      const v = rng.next();
      const value = own.has(j) ? 100 - 40 * u * u : v < CONFUSION_RATE ? 25 * u ** 1.5 : 0;
      return Math.round(value * 100) / 100;
    });
  });
}

export function formatRows(rows: readonly (readonly number[])[]): string {
  return rows.map((r) => r.map((x) => x.toFixed(2)).join(' ')).join('\n') + '\n';
}
