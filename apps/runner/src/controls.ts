/** Controls: runs that prove what transfers. */
import { Rng, deriveSeed, matrix, type ClassEmbedding } from '@niwt/core';

/**
 * Gives every unseen class the knowledge row of another unseen class (a seeded derangement), leaving seen
 * classes untouched. If NIWT transfers knowledge, ZSL accuracy must fall to chance under this control.
 */
export function permuteUnseenKnowledge(k: ClassEmbedding, unseen: readonly number[], seed: number): ClassEmbedding {
  const rng = new Rng(deriveSeed(seed, 'control/permute-unseen'));
  const order = rng.shuffle(unseen);
  // A cyclic shift of a random order is a derangement: no class keeps its own row.
  const source = new Map(order.map((c, i) => [c, order[(i + 1) % order.length]]));
  const data = k.matrix.data.slice();
  const E = k.matrix.cols;
  for (const [c, from] of source) data.set(k.matrix.data.subarray(from * E, (from + 1) * E), c * E);
  return { matrix: matrix(k.matrix.rows, E, data), dimNames: k.dimNames, description: `${k.description}; unseen rows permuted (control)` };
}
