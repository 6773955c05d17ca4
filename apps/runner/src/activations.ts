/**
 * Stage 3–4 of the pipeline: the seen network and the activations it produces, cached under keys derived from
 * what they consumed (content-addressed): the dataset's fingerprint and structure, the backbone's options that
 * change training, its weights file, the seed and the code versions of the dataset and backbone plugins. The
 * activations add the tap and the extraction engine. See "What invalidates the cache" in the README.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { removeCheckpointDir, seenNetworkCheckpointDir } from './checkpoints.js';
import {
  Rng,
  StageCache,
  StateError,
  checkedBatches,
  pluginLabel,
  deriveSeed,
  fingerprintFiles,
  hashOf,
  createNpyWriter,
  matrix,
  npyTaps,
  readNpy,
  writeNpy,
  type Activations,
  type Backbone,
  type ClassEmbedding,
  type Dataset,
  type Logger,
  type Matrix,
  type SeenTrainingReport,
} from '@niwt/core';
import type { Experiment, ResolvedPlugin } from './compose.js';

/** Splits seen trainval images into train/val for the seen network, per class (seeded). */
export function seenValidationSplit(
  dataset: Dataset,
  fraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  const rng = new Rng(deriveSeed(seed, 'seen-val'));
  const byClass = new Map<number, number[]>();
  for (const i of dataset.split.trainval) {
    const c = dataset.samples[i].classIndex;
    byClass.set(c, [...(byClass.get(c) ?? []), i]);
  }
  const train: number[] = [];
  const val: number[] = [];
  for (const c of [...byClass.keys()].sort((a, b) => a - b)) {
    const items = rng.shuffle(byClass.get(c)!);
    const nVal = items.length >= 5 ? Math.max(1, Math.round(items.length * fraction)) : 0;
    val.push(...items.slice(0, nVal));
    train.push(...items.slice(nVal));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}

export interface SeenNetwork {
  readonly report: SeenTrainingReport;
  readonly cacheHit: boolean;
  readonly key: string;
}

/**
 * Backbone options that do not change the trained network: where activations are read (`tap`, and the check
 * `allowDegenerateTap`), how a forward pass is computed (`engine`, `workers`) and `train.resume` (continuing a
 * fine-tuning gives the same network). Any other option — of any backbone plugin — is part of the key.
 */
export const NOT_TRAINING_OPTIONS = ['tap', 'allowDegenerateTap', 'engine', 'workers'] as const;
/** Of those, the ones the extracted activations depend on (ORT and tfjs agree within 1e-5, not bit for bit). */
export const EXTRACTION_OPTIONS = ['tap', 'engine'] as const;

/** The backbone options minus those that do not change training. */
export function trainingOptions(options: Record<string, unknown>): Record<string, unknown> {
  const skip: readonly string[] = NOT_TRAINING_OPTIONS;
  const out: Record<string, unknown> = Object.fromEntries(Object.entries(options).filter(([k]) => !skip.includes(k)));
  const train = out.train;
  if (train !== null && typeof train === 'object' && 'resume' in train) {
    const { resume: _resume, ...rest } = train as Record<string, unknown>;
    out.train = rest;
  }
  return out;
}

/**
 * The dataset's fingerprint; for a dataset without `fingerprint()` (a third-party plugin), a fingerprint of
 * every sample's path, size and mtime (a path that is not a file counts as 'missing', stably) and of the
 * plugin's options (conservatively: any of them might change the pixels).
 */
export async function datasetFingerprint(dataset: Dataset, log: Logger, options: unknown = {}): Promise<string> {
  if (dataset.fingerprint) return dataset.fingerprint();
  log.warn(
    `dataset '${dataset.name}' has no fingerprint(): the cache key stats its ${dataset.samples.length} sample files ` +
      'instead (see "Adding a dataset plugin" in packages/datasets/README.md)',
  );
  const paths = dataset.samples.map((s) => s.path);
  return fingerprintFiles(paths, { base: dataset.root, extra: { dataset: dataset.name, options } });
}

/** A hash of the classes, every sample's label and the split: what indices in cached files refer to. */
export function datasetStructure(dataset: Dataset): string {
  const { split } = dataset;
  return hashOf({
    classes: dataset.classes.map((c) => c.name),
    labels: dataset.samples.map((s) => s.classIndex),
    split: [split.seen, split.unseen, split.trainval, split.testSeen, split.testUnseen],
    validation: [split.train ?? null, split.val ?? null],
  });
}

/** What the seen network is computed from (its cache key is a hash of this). */
export interface SeenNetworkInputs {
  readonly dataset: { readonly fingerprint: string; readonly structure: string; readonly code: string };
  readonly backbone: {
    readonly name: string;
    readonly options: Record<string, unknown>;
    readonly code: string;
    readonly weights?: string;
  };
  readonly seed: number;
}

export function seenNetworkKey(inputs: SeenNetworkInputs): string {
  const backbone = { ...inputs.backbone, options: trainingOptions(inputs.backbone.options) };
  return hashOf({ stage: 'seen-network', ...inputs, backbone });
}

/** The activations' key: the network's, plus the options that change extraction (the tap, the engine). */
export function activationsKey(networkKey: string, backboneOptions: Record<string, unknown>): string {
  const present = EXTRACTION_OPTIONS.filter((k) => k in backboneOptions);
  const extraction = Object.fromEntries(present.map((k) => [k, backboneOptions[k]]));
  return hashOf({ stage: 'activations', network: networkKey, extraction });
}

export async function trainOrLoadSeenNetwork(
  cache: StageCache,
  inputs: SeenNetworkInputs,
  backbone: Backbone,
  dataset: Dataset,
  seed: number,
): Promise<SeenNetwork> {
  const key = seenNetworkKey(inputs);
  let report: SeenTrainingReport | undefined;
  const checkpointDir = seenNetworkCheckpointDir(cache.root, key);
  const { dir, hit } = await cache.getOrCreate('seen-network', key, async (tmp) => {
    const { train, val } = seenValidationSplit(dataset, 0.1, seed);
    const seenClasses = dataset.split.seen;
    report = await backbone.trainSeen({ dataset, seenClasses, trainIndices: train, valIndices: val, checkpointDir });
    await backbone.save(tmp);
    await fs.writeFile(path.join(tmp, 'report.json'), JSON.stringify(report, null, 2));
  });
  await removeCheckpointDir(checkpointDir); // the network is cached now
  if (hit) {
    await backbone.load(dir);
    report = JSON.parse(await fs.readFile(path.join(dir, 'report.json'), 'utf8')) as SeenTrainingReport;
  }
  return { report: report!, cacheHit: hit, key };
}

export interface SplitActivations {
  readonly trainval: Activations;
  readonly testSeen: Activations;
  readonly testUnseen: Activations;
  readonly cacheHit: boolean;
  /** Cache key of these activations (methods key their own caches on it). */
  readonly key: string;
}

/** Streams one split through the backbone: tap activations go straight to a `.npy` (bounded memory). */
async function extractTo(
  backbone: Backbone,
  dataset: Dataset,
  indices: readonly number[],
  dir: string,
  name: string,
  withTap: boolean,
  log: Logger,
  plugin: string,
): Promise<void> {
  const [h, w, k] = backbone.tap.shape;
  const D = backbone.penultimateDim;
  const tapOut = withTap ? createNpyWriter(path.join(dir, `${name}_tap.npy`), [indices.length, h, w, k]) : undefined;
  const feats = new Float32Array(indices.length * D);
  const bar = log.progress(`extract ${name}`, indices.length);
  let n = 0;
  try {
    // the contract gate: a batch of the wrong shape would otherwise be written misaligned into the cache
    for await (const b of checkedBatches(plugin, backbone, backbone.extract(dataset, indices, 64), indices)) {
      tapOut?.append(b.tap);
      feats.set(b.features, n * D);
      n += b.indices.length;
      bar.tick(b.indices.length);
    }
    tapOut?.close();
  } catch (e) {
    tapOut?.abort();
    throw e;
  } finally {
    bar.done();
  }
  await writeNpy(path.join(dir, `${name}_features.npy`), feats, [indices.length, D]);
  await writeNpy(path.join(dir, `${name}_indices.npy`), Int32Array.from(indices), [indices.length]);
}

export async function readActivations(
  dir: string,
  name: string,
  dataset: Dataset,
  withTap: boolean,
  expected: readonly number[],
): Promise<Activations> {
  const idx = await readNpy(path.join(dir, `${name}_indices.npy`));
  const f = await readNpy(path.join(dir, `${name}_features.npy`));
  const indices = Array.from(idx.data);
  // Keys follow the dataset's structure, so this holds; a mismatch is a cache written by something else.
  const n = dataset.samples.length;
  const bad = indices.findIndex((i, k) => !Number.isInteger(i) || i < 0 || i >= n || i !== expected[k]);
  if (bad >= 0 || indices.length !== expected.length || f.shape[0] !== indices.length) {
    const where = bad >= 0 ? `; sample ${indices[bad]} at row ${bad}` : '';
    throw new StateError(
      `${dir}: cached ${name} activations do not match dataset '${dataset.name}' ` +
        `(${indices.length} samples cached, ${expected.length} in the split${where}); ` +
        'remove the entry (niwt cache prune --stage activations --all) and rerun',
    );
  }
  const features: Matrix = matrix(f.shape[0], f.shape[1], f.data as Float32Array);
  const tap = withTap ? npyTaps(path.join(dir, `${name}_tap.npy`)) : undefined;
  return { indices, labels: Int32Array.from(indices, (i) => dataset.samples[i].classIndex), features, tap };
}

/** Extracts (or reads from the cache) tap activations of trainval and features of the test splits. */
export async function extractOrLoad(
  cache: StageCache,
  networkKey: string,
  backboneOptions: Record<string, unknown>,
  backbone: Backbone,
  dataset: Dataset,
  log: Logger,
  /** How contract violations name the backbone (its config block and name). */
  plugin = pluginLabel('backbone', backbone.name),
): Promise<SplitActivations> {
  const key = activationsKey(networkKey, { ...backboneOptions, tap: backbone.tap.name });
  const { dir, hit } = await cache.getOrCreate('activations', key, async (tmp) => {
    await extractTo(backbone, dataset, dataset.split.trainval, tmp, 'trainval', true, log, plugin);
    await extractTo(backbone, dataset, dataset.split.testSeen, tmp, 'test_seen', false, log, plugin);
    await extractTo(backbone, dataset, dataset.split.testUnseen, tmp, 'test_unseen', false, log, plugin);
  });
  return {
    trainval: await readActivations(dir, 'trainval', dataset, true, dataset.split.trainval),
    testSeen: await readActivations(dir, 'test_seen', dataset, false, dataset.split.testSeen),
    testUnseen: await readActivations(dir, 'test_unseen', dataset, false, dataset.split.testUnseen),
    cacheHit: hit,
    key,
  };
}

/** The seen network's inputs and the run params that record them (`fingerprint.*`, `code.<group>.<name>`). */
export async function stageInputs(
  exp: Pick<Experiment, 'registry' | 'dataset' | 'knowledge' | 'backbone' | 'methods' | 'top'>,
  dataset: Dataset,
  knowledge: ClassEmbedding,
  backbone: Backbone,
  log: Logger,
): Promise<{ readonly network: SeenNetworkInputs; readonly params: Record<string, string> }> {
  const code = (p: ResolvedPlugin): string => exp.registry.codeVersion(p.spec);
  const weights = await backbone.weightsFingerprint?.();
  const fingerprint = await datasetFingerprint(dataset, log, exp.dataset.options);
  const { spec, options } = exp.backbone;
  const network: SeenNetworkInputs = {
    dataset: { fingerprint, structure: datasetStructure(dataset), code: code(exp.dataset) },
    backbone: { name: spec.name, options, code: code(exp.backbone), ...(weights ? { weights } : {}) },
    seed: exp.top.seed,
  };
  const params: Record<string, string> = {
    'fingerprint.dataset': network.dataset.fingerprint,
    'fingerprint.knowledge': knowledge.fingerprint ?? 'none',
    'fingerprint.weights': weights ?? 'none',
  };
  for (const p of [exp.dataset, exp.knowledge, exp.backbone, ...exp.methods]) {
    params[`code.${p.spec.group}.${p.spec.name}`] = code(p);
  }
  return { network, params };
}
