/** Stage 3–4 of the pipeline: the seen network and the activations it produces, both cached by input hash. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { removeCheckpointDir, seenNetworkCheckpointDir } from './checkpoints.js';
import {
  Rng,
  StageCache,
  deriveSeed,
  hashOf,
  createNpyWriter,
  matrix,
  npyTaps,
  readNpy,
  writeNpy,
  type Activations,
  type Backbone,
  type Dataset,
  type Logger,
  type Matrix,
  type SeenTrainingReport,
} from '@niwt/core';

/** Splits seen trainval images into train/val for the seen network, per class (seeded). */
export function seenValidationSplit(dataset: Dataset, fraction: number, seed: number): { train: number[]; val: number[] } {
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

export async function trainOrLoadSeenNetwork(
  cache: StageCache,
  keyParts: Record<string, unknown>,
  backbone: Backbone,
  dataset: Dataset,
  seed: number,
): Promise<SeenNetwork> {
  const key = hashOf({ stage: 'seen-network', ...keyParts });
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
): Promise<void> {
  const [h, w, k] = backbone.tap.shape;
  const D = backbone.penultimateDim;
  const tapOut = withTap ? createNpyWriter(path.join(dir, `${name}_tap.npy`), [indices.length, h, w, k]) : undefined;
  const feats = new Float32Array(indices.length * D);
  const bar = log.progress(`extract ${name}`, indices.length);
  let n = 0;
  try {
    for await (const b of backbone.extract(dataset, indices, 64)) {
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

async function readActivations(dir: string, name: string, dataset: Dataset, withTap: boolean): Promise<Activations> {
  const idx = await readNpy(path.join(dir, `${name}_indices.npy`));
  const f = await readNpy(path.join(dir, `${name}_features.npy`));
  const indices = Array.from(idx.data);
  const features: Matrix = matrix(f.shape[0], f.shape[1], f.data as Float32Array);
  const tap = withTap ? npyTaps(path.join(dir, `${name}_tap.npy`)) : undefined;
  return { indices, labels: Int32Array.from(indices, (i) => dataset.samples[i].classIndex), features, tap };
}

/** Extracts (or reads from the cache) tap activations of trainval and features of the test splits. */
export async function extractOrLoad(cache: StageCache, networkKey: string, backbone: Backbone, dataset: Dataset, log: Logger): Promise<SplitActivations> {
  const key = hashOf({ stage: 'activations', network: networkKey, tap: backbone.tap.name });
  const { dir, hit } = await cache.getOrCreate('activations', key, async (tmp) => {
    await extractTo(backbone, dataset, dataset.split.trainval, tmp, 'trainval', true, log);
    await extractTo(backbone, dataset, dataset.split.testSeen, tmp, 'test_seen', false, log);
    await extractTo(backbone, dataset, dataset.split.testUnseen, tmp, 'test_unseen', false, log);
  });
  return {
    trainval: await readActivations(dir, 'trainval', dataset, true),
    testSeen: await readActivations(dir, 'test_seen', dataset, false),
    testUnseen: await readActivations(dir, 'test_unseen', dataset, false),
    cacheHit: hit,
    key,
  };
}
