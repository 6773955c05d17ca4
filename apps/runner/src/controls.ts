/** Controls: runs that prove what transfers. */
import { Rng, deriveSeed, matrix, type ClassEmbedding } from '@niwt/core';

/**
 * The permutations of unseen knowledge rows a control averages over. `'balanced'` (the default) is every
 * cyclic shift of one random order: across them each unseen class receives each unseen row exactly once
 * (its own included), so the average is the uniform-permutation null with none of its sampling noise —
 * a handful of random permutations is dominated by how many classes happen to keep their own row, and a
 * derangement is no fair null (it removes every correct row, so it scores below chance).
 * A number asks for that many independent uniform permutations instead.
 * Each entry maps position i of `unseen` to the class whose row it receives.
 */
export function unseenPermutations(unseen: readonly number[], seed: number, design: 'balanced' | number): number[][] {
  const rng = new Rng(deriveSeed(seed, 'control/permute-unseen'));
  if (design === 'balanced') {
    const order = rng.shuffle(unseen);
    const pos = new Map(order.map((c, i) => [c, i]));
    return order.map((_, shift) => unseen.map((c) => order[(pos.get(c)! + shift) % order.length]));
  }
  return Array.from({ length: design }, () => rng.shuffle(unseen));
}

/** Gives unseen class `unseen[i]` the knowledge row of `sources[i]`; seen rows are untouched. */
export function permuteUnseenKnowledge(
  k: ClassEmbedding,
  unseen: readonly number[],
  sources: readonly number[],
): { knowledge: ClassEmbedding; fixedPoints: number } {
  const data = k.matrix.data.slice();
  const E = k.matrix.cols;
  unseen.forEach((c, i) => data.set(k.matrix.data.subarray(sources[i] * E, (sources[i] + 1) * E), c * E));
  return {
    knowledge: {
      matrix: matrix(k.matrix.rows, E, data),
      dimNames: k.dimNames,
      description: `${k.description}; unseen rows permuted (control)`,
    },
    fixedPoints: unseen.filter((c, i) => sources[i] === c).length,
  };
}
