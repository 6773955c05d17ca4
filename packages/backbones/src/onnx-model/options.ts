/**
 * Options of the `onnx` backbone and their checks against the model file. The checks run while the
 * config is validated (a zod refinement, so a wrong tap or an unsupported head op is exit 2 with the
 * config line, before any run opens) and again when the backbone is constructed.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { FormatError, suggestion } from '@niwt/core';
import {
  descriptorOf,
  preprocessingOption,
  weightsDescriptor,
  type WeightsDescriptor,
} from '../preprocess/preprocess.js';
import { OnnxGraphView } from './graph.js';
import { readModel, type OnnxModel, type OnnxNode } from './model.js';

/** Metadata key a model may carry its preprocessing under (a name or a descriptor as JSON). */
export const PREPROCESSING_METADATA = 'niwt.preprocessing';

const baseOptions = z.strictObject({
  /** The `.onnx` file (relative paths: against the working directory). */
  model: z.string().min(1),
  /** The ONNX value (a node output name) neuron importance is read at; `niwt weights inspect` lists them. */
  tap: z.string().min(1),
  /** The penultimate features value; default: the input of the last Gemm/MatMul. */
  features: z.string().min(1).optional(),
  /** What the network was trained on; required unless the model's metadata declares `niwt.preprocessing`. */
  preprocessing: preprocessingOption.optional(),
  /** Input side; default: the model's own input size (required when the model's H, W are dynamic). */
  inputSize: z.number().int().min(8).max(1024).optional(),
  resize: z.enum(['stretch', 'center-crop']).default('stretch'),
  /**
   * Forward pass to the tap and the features: 'onnx' (onnxruntime-node, every core), 'tfjs' (the graph
   * interpreted with tfjs ops: every op must be one the head supports), 'auto' (onnx when it loads).
   */
  engine: z.enum(['auto', 'onnx', 'tfjs']).default('auto'),
  /**
   * The seen-class classifier: 'train' (a new one on the cached features, like the other backbones'
   * fixed mode) or 'model' (the model's own last layer, which must classify exactly the dataset's seen
   * classes, column i = the i-th seen class).
   */
  seenHead: z.enum(['train', 'model']).default('train'),
  /** Accept a tap whose head is only global pooling (its importances are constant per class). */
  allowDegenerateTap: z.boolean().default(false),
  train: z
    .strictObject({
      epochs: z.number().int().min(1).default(100),
      batchSize: z.number().int().min(1).default(64),
      lr: z.number().positive().default(1e-3),
      weightDecay: z.number().min(0).default(1e-4),
      patience: z.number().int().min(1).default(10),
    })
    .prefault({}),
});
export type OnnxBackboneOptions = z.infer<typeof baseOptions>;

/** What the checks establish about a model and the options. */
export interface CheckedModel {
  readonly model: OnnxModel;
  readonly graph: OnnxGraphView;
  readonly file: string;
  readonly features: string;
  readonly head: readonly OnnxNode[];
  readonly preprocessing: WeightsDescriptor;
  readonly inputSize: number;
  /** The model's fixed batch size, or undefined when the batch axis is dynamic. */
  readonly fixedBatch?: number;
  /** The head is global pooling only (constant importances). */
  readonly degenerate: boolean;
}

export class OptionProblem extends Error {
  constructor(
    readonly key: 'model' | 'tap' | 'features' | 'preprocessing' | 'inputSize',
    message: string,
  ) {
    super(message);
  }
}

const POOL_ONLY = new Set([
  'GlobalAveragePool',
  'ReduceMean',
  'Flatten',
  'Reshape',
  'Identity',
  'Dropout',
  'Shape',
  'Gather',
  'Unsqueeze',
  'Concat',
  'Constant',
  'Squeeze',
  'Cast',
]);

/** Checks the options against the model; throws OptionProblem naming the option at fault. */
export function checkModel(
  opts: Pick<OnnxBackboneOptions, 'model' | 'tap' | 'features' | 'preprocessing' | 'inputSize'>,
  baseDir: string,
): CheckedModel {
  const file = path.resolve(baseDir, opts.model);
  let model: OnnxModel;
  try {
    model = readModel(file, statSync(file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new OptionProblem(
        'model',
        `${file} does not exist; export one with torch.onnx.export (see the README's "Bring your own PyTorch network")`,
      );
    if (e instanceof FormatError) throw new OptionProblem('model', e.message);
    throw e;
  }
  const graph = new OnnxGraphView(model);
  const input = model.inputs[0];
  if (!input || input.dims.length !== 4)
    throw new OptionProblem(
      'model',
      `${file}: expected one image input [N, 3, H, W], found ${input ? `[${input.dims.join(', ')}]` : 'none'}`,
    );
  if (input.dims[1] !== 3)
    throw new OptionProblem(
      'model',
      `${file}: input '${input.name}' has ${input.dims[1]} channels, expected 3 (NCHW RGB/BGR images)`,
    );
  const features = opts.features ?? graph.defaultFeatures;
  if (!features)
    throw new OptionProblem(
      'features',
      `${file} has no Gemm/MatMul to take the penultimate features from; name them with features: <value>`,
    );
  const known = graph.separators(features);
  if (opts.features && !graph.has(features)) {
    throw new OptionProblem(
      'features',
      `'${features}' is not a value of ${file}${suggestion(
        features,
        model.nodes.map((n) => n.outputs[0]),
      )}`,
    );
  }
  if (!graph.has(opts.tap) || !known.includes(opts.tap)) {
    const why = graph.has(opts.tap)
      ? `'${opts.tap}' cannot be a tap of ${file}: a path from the input reaches the features ` +
        `without passing through it (inside a residual or dense block, or after the features)`
      : `unknown tap '${opts.tap}' in ${file}`;
    throw new OptionProblem(
      'tap',
      `${why}${suggestion(opts.tap, known)} (list the taps: niwt weights inspect ${opts.model})`,
    );
  }
  const head = graph.headNodes(opts.tap, features)!;
  const bad = graph.unsupported(head);
  if (bad) {
    const op = `${bad.domain ? `${bad.domain}.` : ''}${bad.opType}`;
    throw new OptionProblem(
      'tap',
      `node '${bad.name}' (op ${op}) after tap '${opts.tap}' is not implemented by the ` +
        `onnx backbone's tfjs head; choose a later tap (niwt weights inspect ${opts.model})`,
    );
  }
  let preprocessing: WeightsDescriptor;
  if (opts.preprocessing !== undefined) preprocessing = descriptorOf(opts.preprocessing);
  else {
    const declared = model.metadata.get(PREPROCESSING_METADATA);
    if (declared === undefined)
      throw new OptionProblem(
        'preprocessing',
        `required: ${file} does not declare '${PREPROCESSING_METADATA}' in its metadata; ` +
          `give torch (ImageNet mean/std on [0, 1]), caffe, tf or {channels, scale, mean, std}`,
      );
    const parsed = preprocessingOption.safeParse(declared.startsWith('{') ? JSON.parse(declared) : declared);
    if (!parsed.success)
      throw new OptionProblem(
        'preprocessing',
        `${file} metadata '${PREPROCESSING_METADATA}' = ${declared} is neither ` +
          `caffe/torch/tf nor a descriptor ${Object.keys(weightsDescriptor.shape).join('/')}`,
      );
    preprocessing = descriptorOf(parsed.data);
  }
  const [n, , h, w] = input.dims;
  let inputSize: number;
  if (typeof h === 'number' && typeof w === 'number') {
    if (h !== w) {
      throw new OptionProblem('model', `${file}: input ${h}×${w} is not square; export with a square input`);
    }
    if (opts.inputSize !== undefined && opts.inputSize !== h)
      throw new OptionProblem(
        'inputSize',
        `${file} takes ${h}×${h} images (a fixed input size), not ` +
          `${opts.inputSize}; drop inputSize or export with dynamic_axes for H and W`,
      );
    inputSize = h;
  } else {
    if (opts.inputSize === undefined)
      throw new OptionProblem('inputSize', `required: ${file} has a dynamic image size; give inputSize (e.g. 224)`);
    inputSize = opts.inputSize;
  }
  const degenerate =
    head.every((nd) => POOL_ONLY.has(nd.opType)) &&
    head.some((nd) => nd.opType === 'GlobalAveragePool' || nd.opType === 'ReduceMean');
  return {
    model,
    graph,
    file,
    features,
    head,
    preprocessing,
    inputSize,
    fixedBatch: typeof n === 'number' ? n : undefined,
    degenerate,
  };
}

export const onnxBackboneOptions = baseOptions.superRefine((o, ctx) => {
  try {
    // relative paths: the runner composes configs with the working directory as their base
    checkModel(o, process.cwd());
  } catch (e) {
    if (!(e instanceof OptionProblem)) throw e;
    ctx.addIssue({ code: 'custom', path: [e.key], message: e.message });
  }
});
