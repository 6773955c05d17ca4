/** Options of `method:ale` (the GBU protocol's grid and early stopping). */
import { z } from 'zod';

export const aleOptions = z.strictObject({
  /** Δ of the ranking hinge: the paper's 0/1 label loss gives 1; the MATLAB port used 0.1. */
  margin: z.number().min(0).default(1),
  /** Image feature preprocessing (see README): Xian-style z-score ÷ global max, per-image L2, or none. */
  featureNorm: z.enum(['xian', 'l2', 'none']).default('xian'),
  /** SGD learning rates tried on the train/val class split (the grid of the reference). */
  lrs: z.array(z.number().positive()).min(1).default([1e-3, 1e-2, 1e-1, 0.3, 1]),
  /** Epoch budget per learning rate while selecting. */
  maxEpochs: z.number().int().min(1).default(50),
  /** Stop a learning rate's run after this many epochs without a better validation accuracy. */
  patience: z.number().int().min(1).default(10),
  /** Fraction of the seen classes held out (class-disjoint) to choose the learning rate and epochs. */
  valFraction: z.number().gt(0).lt(1).default(0.25),
  /** Fixed epoch count: with a single learning rate, skips the validation phase. */
  epochs: z.number().int().min(1).optional(),
  /** Images per exact block update (a speed knob only; results do not depend on it beyond float rounding). */
  blockSize: z.number().int().min(1).max(1024).default(64),
});
export type AleOptions = z.infer<typeof aleOptions>;
