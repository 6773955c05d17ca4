/**
 * Which combinations become seen and unseen classes. The zero-shot premise is that an unseen class
 * is a new combination of known values: every value of every unseen class must occur among the
 * seen classes (we ask for several occurrences), else no attribute-based method could recognise it.
 */
import { ConfigError } from '@niwt/core';
import { deriveSeed, Rng } from '../prng.js';
import { allCombinations, ATTRIBUTE_NAMES, COMBINATION_COUNT, type ShapeClass } from './vocabulary.js';

export interface ClassChoice {
  readonly seen: readonly ShapeClass[];
  readonly unseen: readonly ShapeClass[];
}

/** Each value of an unseen class should occur in at least this many seen classes … */
export const PREFERRED_SUPPORT = 2;
/** … and must occur in at least this many. */
export const REQUIRED_SUPPORT = 1;

/** Number of seen classes carrying each attribute value (indexed like `ATTRIBUTE_NAMES`). */
export function valueSupport(seen: readonly ShapeClass[]): number[] {
  const counts = ATTRIBUTE_NAMES.map(() => 0);
  for (const c of seen) for (const a of c.attributes) counts[a]++;
  return counts;
}

/**
 * Seen classes are picked greedily to spread the values evenly (each pick maximises the sum of
 * 1/(1 + uses so far) over its values; ties go to the seeded shuffle order). Unseen classes are
 * then taken in shuffle order among the remaining combinations whose values all have at least
 * `PREFERRED_SUPPORT` seen classes, relaxing to `REQUIRED_SUPPORT` only if that is not enough.
 */
export function chooseClasses(seed: number, seenCount: number, unseenCount: number): ClassChoice {
  if (seenCount + unseenCount > COMBINATION_COUNT) {
    throw new ConfigError(`shapes: ${seenCount} seen + ${unseenCount} unseen classes exceed the ${COMBINATION_COUNT} combinations of attribute values`);
  }
  const pool = new Rng(deriveSeed(seed, 1)).shuffle(allCombinations());
  const counts = ATTRIBUTE_NAMES.map(() => 0);
  const seen: ShapeClass[] = [];
  for (let k = 0; k < seenCount; k++) {
    let best = 0;
    let bestScore = -1;
    pool.forEach((c, i) => {
      const score = c.attributes.reduce((s, a) => s + 1 / (1 + counts[a]), 0);
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    });
    const [picked] = pool.splice(best, 1);
    for (const a of picked.attributes) counts[a]++;
    seen.push(picked);
  }
  const supported = (min: number) => pool.filter((c) => c.attributes.every((a) => counts[a] >= min));
  let candidates = supported(PREFERRED_SUPPORT);
  if (candidates.length < unseenCount) candidates = supported(REQUIRED_SUPPORT);
  if (candidates.length < unseenCount) {
    throw new ConfigError(
      `shapes: only ${candidates.length} combinations are made of values seen among ${seenCount} seen classes, ` +
        `but ${unseenCount} unseen classes were asked for; use more seenClasses or fewer unseenClasses`,
    );
  }
  const unseen = candidates.slice(0, unseenCount);
  assertUnseenCovered(seen, unseen);
  return { seen, unseen };
}

/** Throws when an unseen class is not a recombination of seen values (a generator bug). */
export function assertUnseenCovered(seen: readonly ShapeClass[], unseen: readonly ShapeClass[]): void {
  const support = valueSupport(seen);
  const seenNames = new Set(seen.map((c) => c.name));
  for (const c of unseen) {
    if (seenNames.has(c.name)) throw new Error(`shapes: unseen class ${c.name} is also seen`);
    const missing = c.attributes.filter((a) => support[a] < REQUIRED_SUPPORT).map((a) => ATTRIBUTE_NAMES[a]);
    if (missing.length > 0) throw new Error(`shapes: unseen class ${c.name} uses values no seen class has: ${missing.join(', ')}`);
  }
}
