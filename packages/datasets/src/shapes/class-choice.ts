/**
 * Which combinations become seen and unseen classes. The zero-shot premise is that an unseen class
 * is a new combination of known values: every value of every unseen class must occur among the
 * seen classes (we ask for several occurrences), else no attribute-based method could recognise it.
 */
import { ConfigError } from '@niwt/core';
import { mixSeeds, Rng } from '@niwt/core';
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
 * Seen classes are picked greedily to spread values and pairs of values evenly: each pick
 * maximises Σ 1/(1 + uses so far) over its values and over its value pairs (so that, say, blue is
 * not nearly always a triangle); ties go to the seeded shuffle order. Unseen classes are then
 * picked the same way (balanced among themselves) from the remaining combinations whose values all
 * occur in at least `PREFERRED_SUPPORT` seen classes, relaxing to `REQUIRED_SUPPORT` only if that
 * leaves too few.
 */
export function chooseClasses(seed: number, seenCount: number, unseenCount: number): ClassChoice {
  if (seenCount + unseenCount > COMBINATION_COUNT) {
    throw new ConfigError(
      `shapes: ${seenCount} seen + ${unseenCount} unseen classes exceed the ${COMBINATION_COUNT} ` +
        `combinations of attribute values`,
    );
  }
  const pool = new Rng(mixSeeds(seed, 1)).shuffle(allCombinations());
  const seen = pickBalanced(pool, seenCount);
  const support = valueSupport(seen);
  const supported = (min: number): ShapeClass[] => pool.filter((c) => c.attributes.every((a) => support[a] >= min));
  let candidates = supported(PREFERRED_SUPPORT);
  if (candidates.length < unseenCount) candidates = supported(REQUIRED_SUPPORT);
  if (candidates.length < unseenCount) {
    throw new ConfigError(
      `shapes: only ${candidates.length} combinations are made of values seen among ${seenCount} seen classes, ` +
        `but ${unseenCount} unseen classes were asked for; use more seenClasses or fewer unseenClasses`,
    );
  }
  const unseen = pickBalanced(candidates, unseenCount);
  assertUnseenCovered(seen, unseen);
  return { seen, unseen };
}

/** Removes and returns `count` classes of `pool`, greedily balancing value and value-pair use. */
function pickBalanced(pool: ShapeClass[], count: number): ShapeClass[] {
  const values = new Map<number, number>();
  const pairs = new Map<string, number>();
  const pairKeys = (c: ShapeClass): string[] =>
    c.attributes.flatMap((a, i) => c.attributes.slice(i + 1).map((b) => `${a},${b}`));
  const picked: ShapeClass[] = [];
  for (let k = 0; k < count; k++) {
    let best = 0;
    let bestScore = -1;
    pool.forEach((c, i) => {
      const score =
        c.attributes.reduce((s, a) => s + 1 / (1 + (values.get(a) ?? 0)), 0) +
        pairKeys(c).reduce((s, p) => s + 1 / (1 + (pairs.get(p) ?? 0)), 0);
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    });
    const [c] = pool.splice(best, 1);
    for (const a of c.attributes) values.set(a, (values.get(a) ?? 0) + 1);
    for (const p of pairKeys(c)) pairs.set(p, (pairs.get(p) ?? 0) + 1);
    picked.push(c);
  }
  return picked;
}

/** Throws when an unseen class is not a recombination of seen values (a generator bug). */
export function assertUnseenCovered(seen: readonly ShapeClass[], unseen: readonly ShapeClass[]): void {
  const support = valueSupport(seen);
  const seenNames = new Set(seen.map((c) => c.name));
  for (const c of unseen) {
    if (seenNames.has(c.name)) throw new Error(`shapes: unseen class ${c.name} is also seen`);
    const missing = c.attributes.filter((a) => support[a] < REQUIRED_SUPPORT).map((a) => ATTRIBUTE_NAMES[a]);
    if (missing.length > 0)
      throw new Error(`shapes: unseen class ${c.name} uses values no seen class has: ${missing.join(', ')}`);
  }
}
