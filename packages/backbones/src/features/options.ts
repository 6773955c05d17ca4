/** Options of the `features` backbone (strict). */
import { z } from 'zod';

export const FEATURE_TAPS = ['input', 'hidden'] as const;

export const featuresBackboneOptions = z
  .strictObject({
    /**
     * Where neuron importance is read. `input`: the precomputed features themselves (the head after
     * it is hidden layer(s) + ReLU, so importance varies per image). `hidden`: the first hidden
     * layer's output; needs at least two hidden layers so a non-linear layer follows the tap.
     */
    tap: z.enum(FEATURE_TAPS).default('input'),
    /** Widths of the hidden ReLU layers; the last one is the penultimate layer. */
    hidden: z.array(z.number().int().min(2)).min(1).default([512]),
    /** `l2`: each feature row scaled to unit length before the network (ResNet pool5 rows vary in norm). */
    normalize: z.enum(['none', 'l2']).default('none'),
    train: z
      .strictObject({
        epochs: z.number().int().min(1).default(40),
        batchSize: z.number().int().min(1).default(128),
        lr: z.number().positive().default(1e-3),
        weightDecay: z.number().min(0).default(1e-4),
        /** Epochs without a better validation accuracy before stopping. */
        patience: z.number().int().min(1).default(5),
        dropout: z.number().min(0).max(0.9).default(0.2),
      })
      .prefault({}),
  })
  .refine((o) => o.tap !== 'hidden' || o.hidden.length >= 2, {
    message:
      'tap: hidden needs at least two hidden layers (e.g. hidden: [512, 256]) so a non-linear layer follows ' +
      'the tap; with one layer the importance would be the same for every image',
    path: ['tap'],
  });
export type FeaturesBackboneOptions = z.output<typeof featuresBackboneOptions>;
