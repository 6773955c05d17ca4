/** Options of `method:dem`: the official presets and the strict schema that resolves them. */
import { z } from 'zod';

export type DemDistance = 'euclidean' | 'cosine';

/**
 * Where the training steps run: `onnx` — onnxruntime (the optional dependency onnxruntime-node) for the
 * forward/backward pass and a fused SIMD Adam; `tfjs` — tfjs autograd and the core `Adam`; `auto` — onnx
 * when onnxruntime-node loads, else tfjs. Both give the same trajectory within float rounding.
 */
export type DemEngineChoice = 'auto' | 'onnx' | 'tfjs';

/** The settings a preset fixes (and explicit options override). */
export interface DemSettings {
  readonly hidden: number;
  readonly lambda: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly distance: DemDistance;
  readonly knowledgeNorm: 'none' | 'l2';
}

/**
 * The official GBU scripts (lzrobots/DeepEmbeddingModel_ZSL, `AwA2_GBU.py`, `CUB1_GBU.py`); `none` is the
 * generic default: the AWA2 architecture on unit-L2 class rows (raw 0–100 attributes blow the first layer up
 * and kill the ReLUs within a few steps on small sets) with a larger learning rate (small sets give few steps).
 */
export const DEM_PRESETS: Readonly<Record<'none' | 'awa2' | 'cub', DemSettings>> = {
  none: { hidden: 1600, lambda: 1e-3, lr: 1e-3, batchSize: 64, distance: 'euclidean', knowledgeNorm: 'l2' },
  awa2: { hidden: 1600, lambda: 1e-3, lr: 1e-4, batchSize: 64, distance: 'euclidean', knowledgeNorm: 'none' },
  cub: { hidden: 1200, lambda: 1e-2, lr: 1e-5, batchSize: 100, distance: 'cosine', knowledgeNorm: 'l2' },
};

const demInput = z.strictObject({
  /** Named official setting; any of the five settings below given explicitly overrides it. */
  preset: z.enum(['none', 'awa2', 'cub']).default('none'),
  hidden: z.number().int().min(1).optional(),
  /** λ of λ·½‖θ‖² (weights and biases). */
  lambda: z.number().min(0).optional(),
  /** Adam learning rate. */
  lr: z.number().positive().optional(),
  batchSize: z.number().int().min(1).optional(),
  /** Nearest-prototype metric. */
  distance: z.enum(['euclidean', 'cosine']).optional(),
  /** Class embeddings as the encoder gives them, or unit-L2 per class (xlsa17 `att`). */
  knowledgeNorm: z.enum(['none', 'l2']).optional(),
  /** Epoch budget of the validation phase (and the cap of the final fit). */
  epochs: z.number().int().min(1).default(100),
  /** Stop after this many validations without a better accuracy on the held-out seen classes. */
  patience: z.number().int().min(1).default(10),
  /** Validate every this many epochs. */
  evalEvery: z.number().int().min(1).default(1),
  /** Fraction of the seen classes held out (class-disjoint) to choose the number of epochs. */
  valFraction: z.number().gt(0).lt(1).default(0.25),
  /** Retrain on all seen classes for the chosen epochs (true), or keep the best network of the split (false). */
  retrain: z.boolean().default(true),
  /** Training engine: onnxruntime when it loads (auto), or forced (onnx, tfjs). Speed only. */
  engine: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
});

/** Options with the preset resolved: what the run records is the setting actually used. */
export const demOptions = demInput.transform((o) => {
  const p = DEM_PRESETS[o.preset];
  return {
    ...o,
    hidden: o.hidden ?? p.hidden,
    lambda: o.lambda ?? p.lambda,
    lr: o.lr ?? p.lr,
    batchSize: o.batchSize ?? p.batchSize,
    distance: o.distance ?? p.distance,
    knowledgeNorm: o.knowledgeNorm ?? p.knowledgeNorm,
  };
});
export type DemOptions = z.output<typeof demOptions>;
