// Its own module so that transfer.ts and checkpoint.ts (which both use it) do not import each other.

/**
 * The release's final-weights rule as loop state: per epoch (pass over the pairs) the mean training loss; the
 * weights at the end of the epoch with the lowest mean (ties: the later epoch). Plain data, so a checkpoint
 * of stage D can carry it.
 */
export interface EpochBest {
  /** Current epoch (1-based), its loss sum and step count. */
  epoch: number;
  sum: number;
  count: number;
  best?: { epoch: number; meanLoss: number; weights: Float32Array };
}
