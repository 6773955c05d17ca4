/** Controls: runs that prove what transfers. */
import { Rng, deriveSeed, matrix, type ClassEmbedding } from '@niwt/core';

/**
 * Shuffles the knowledge rows of the unseen classes with a uniformly random (seeded) permutation, leaving
 * seen classes untouched. Averaged over permutations, a method that transfers knowledge then scores at
 * chance; a derangement would not be a fair null (it excludes every right row, pushing accuracy below chance).
 * `fixedPoints` counts the unseen classes that kept their own row.
 */
export function permuteUnseenKnowledge(k: ClassEmbedding, unseen: readonly number[], seed: number, index = 0): { knowledge: ClassEmbedding; fixedPoints: number } {
  const rng = new Rng(deriveSeed(seed, `control/permute-unseen/${index}`));
  const source = rng.shuffle(unseen);
  const data = k.matrix.data.slice();
  const E = k.matrix.cols;
  unseen.forEach((c, i) => data.set(k.matrix.data.subarray(source[i] * E, (source[i] + 1) * E), c * E));
  const fixedPoints = unseen.filter((c, i) => source[i] === c).length;
  return {
    knowledge: { matrix: matrix(k.matrix.rows, E, data), dimNames: k.dimNames, description: `${k.description}; unseen rows permuted (control)` },
    fixedPoints,
  };
}
