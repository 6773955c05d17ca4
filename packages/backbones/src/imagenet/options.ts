/**
 * Options of the ImageNet backbones (`vgg16`, `resnet50`, `resnet101`). The defaults of `train` are the
 * NIWT reference preset of each backbone (../shared/NIWT.md, stage A): VGG16 fine-tuned (head Adam 1e-3,
 * patience 3; all layers Adam 1e-5, patience 10; weight decay 5e-4; dropout 0.5; per-gradient norm clip 4;
 * batch 64), ResNet fixed (head only, lr grid {1e-4, 1e-3, 1e-2} × weight decay {1e-5, 1e-4}, patience 10).
 */
import { z } from 'zod';
import { preprocessingOption } from '../preprocess/preprocess.js';
import { resnetSpec } from '../nets/resnet.js';
import { vgg16Spec } from '../nets/vgg16.js';

export type Family = 'vgg16' | 'resnet50' | 'resnet101';

export interface ReferencePreset {
  readonly mode: 'fixed' | 'finetune';
  readonly headLr: number | number[];
  readonly headWeightDecay: number | number[];
  readonly headPatience: number;
  /** Images per micro-batch in fine-tuning: the 4 GB WASM heap holds 2 for VGG16 and ResNet-101. */
  readonly microBatch: number;
  readonly tap: string;
}

export const REFERENCE_PRESETS: Record<Family, ReferencePreset> = {
  vgg16: { mode: 'finetune', headLr: 1e-3, headWeightDecay: 5e-4, headPatience: 3, microBatch: 2, tap: 'block5_conv3' },
  resnet50: {
    mode: 'fixed',
    headLr: [1e-4, 1e-3, 1e-2],
    headWeightDecay: [1e-5, 1e-4],
    headPatience: 10,
    microBatch: 2,
    tap: 'conv5_block1_out',
  },
  resnet101: {
    mode: 'fixed',
    headLr: [1e-4, 1e-3, 1e-2],
    headWeightDecay: [1e-5, 1e-4],
    headPatience: 10,
    microBatch: 2,
    tap: 'conv5_block1_out',
  },
};

const oneOrGrid = z.union([z.number().positive(), z.array(z.number().positive()).min(1)]);
const decayOrGrid = z.union([z.number().min(0), z.array(z.number().min(0)).min(1)]);

/** The layers of a network a tap may be read at (Keras names, from the architecture definition). */
export function tapNames(family: Family): [string, ...string[]] {
  const spec = family === 'vgg16' ? vgg16Spec(224, 1) : resnetSpec(family, 224, 1);
  return spec.taps as [string, ...string[]];
}

/** Options that do not change results (left out of the experiment hash). */
export const IMAGENET_NON_RESULT_OPTIONS = ['workers', 'engine'] as const;

export function imagenetOptions(family: Family) {
  const ref = REFERENCE_PRESETS[family];
  return z.strictObject({
    /** Layer whose output neuron importance is read at (Keras name; an unknown one fails with a suggestion). */
    tap: z.enum(tapNames(family)).default(ref.tap),
    /**
     * Keras `.h5` (Applications or save_weights layout) or tfjs layers `model.json`; absent: random He-normal weights.
     */
    weights: z.string().optional(),
    /** What the weights expect (a name or a descriptor); Keras' VGG16/ResNet weights: 'caffe'. */
    preprocessing: preprocessingOption.default('caffe'),
    inputSize: z.number().int().min(32).max(512).default(224),
    /** Channel multiplier (tiny test variants); ImageNet weights need 1. */
    width: z.number().positive().max(1).default(1),
    /** 'stretch' to inputSize² (the NIWT release), or shorter side 256 + centre crop 224. */
    resize: z.enum(['stretch', 'center-crop']).default('stretch'),
    /** Accept a tap right before global pooling and a linear head (its importances are constant). */
    allowDegenerateTap: z.boolean().default(false),
    /** Worker threads for forward-only extraction on WASM (each its own WASM backend); 1 = in process. */
    workers: z.number().int().min(1).max(16).default(1),
    /**
     * Forward-only extraction engine: 'onnx' (onnxruntime-node on the CPU, the network exported to ONNX),
     * 'tfjs' (the active tfjs backend, `workers` threads on WASM), or 'auto' (onnx when onnxruntime-node
     * loads on this machine, else tfjs). Training and NIWT's gradients always run on tfjs.
     */
    engine: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
    train: z
      .strictObject({
        mode: z.enum(['fixed', 'finetune']).default(ref.mode),
        /** Continue a fine-tuning from its last per-epoch checkpoint (under the cache dir) if there is one. */
        resume: z.boolean().default(true),
        head: z
          .strictObject({
            epochs: z.number().int().min(1).default(100),
            batchSize: z.number().int().min(1).default(64),
            /** A value, or a grid searched on the seen validation split. */
            lr: oneOrGrid.default(ref.headLr),
            weightDecay: decayOrGrid.default(ref.headWeightDecay),
            patience: z.number().int().min(1).default(ref.headPatience),
          })
          .prefault({}),
        finetune: z
          .strictObject({
            epochs: z.number().int().min(1).default(30),
            batchSize: z.number().int().min(1).default(64),
            /** Images per forward/backward pass; gradients are accumulated over the batch. */
            microBatch: z.number().int().min(1).default(ref.microBatch),
            lr: z.number().positive().default(1e-5),
            weightDecay: z.number().min(0).default(5e-4),
            patience: z.number().int().min(1).default(10),
            /** Per-gradient (per-variable) L2 norm clip; 0 = none. */
            clipNorm: z.number().min(0).default(4),
            dropout: z.number().min(0).max(0.9).default(0.5),
            /** Random crop (from inputSize·256/224) and horizontal flip. */
            augment: z.boolean().default(true),
          })
          .prefault({}),
      })
      .prefault({}),
  });
}
export type ImagenetOptions = z.infer<ReturnType<typeof imagenetOptions>>;
