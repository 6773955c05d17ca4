/**
 * Stage D's image pool from any folder of images (e.g. ImageNet images, as the NIWT release used): the images
 * are run through the backbone once and their tap activations cached as `.npy`, keyed by the activations' key
 * (network, tap, engine) and the listing of the images used (path, size, mtime).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  DatasetError,
  Rng,
  createNpyWriter,
  deriveSeed,
  hashOf,
  npyTaps,
  type Backbone,
  type Dataset,
  type Logger,
  type StageCache,
  type TapSource,
} from '@niwt/core';
import { readImages } from '@niwt/datasets';

const IMAGE = /\.(jpe?g|png)$/i;

async function listImages(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (IMAGE.test(e.name)) out.push(p);
    }
  };
  await walk(dir);
  return out.sort();
}

export async function folderPool(
  folder: string,
  limit: number | undefined,
  seed: number,
  backbone: Backbone,
  extractionKey: string,
  cache: StageCache,
  log: Logger,
): Promise<TapSource> {
  let files: string[];
  try {
    files = await listImages(folder);
  } catch (e) {
    throw new DatasetError(
      `${folder}: cannot read the stage D image pool folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
      { cause: e },
    );
  }
  if (files.length === 0)
    throw new DatasetError(`${folder}: the stage D image pool folder has no .jpg/.jpeg/.png images`);
  if (limit !== undefined && files.length > limit)
    files = new Rng(deriveSeed(seed, 'pool-folder')).shuffle(files).slice(0, limit).sort();
  const stats = await Promise.all(files.map((f) => fs.stat(f)));
  const listing = files.map((f, i) => [f, stats[i].size, stats[i].mtimeMs]);
  const key = hashOf({ stage: 'pool-folder', extraction: extractionKey, tap: backbone.tap.name, files: listing });
  const samples = files.map((p, index) => ({ index, classIndex: -1, path: p }));
  const pool: Dataset = {
    name: `pool:${folder}`,
    root: folder,
    classes: [],
    samples,
    split: { seen: [], unseen: [], trainval: [], testSeen: [], testUnseen: [] },
    readImages: (indices, spec, batchSize) => readImages(samples, indices, spec, batchSize),
  };
  const { dir } = await cache.getOrCreate('pool-folder', key, async (tmp) => {
    const [h, w, k] = backbone.tap.shape;
    const out = createNpyWriter(path.join(tmp, 'tap.npy'), [files.length, h, w, k]);
    const bar = log.progress('extract pool', files.length);
    try {
      for await (const b of backbone.extract(
        pool,
        samples.map((s) => s.index),
        32,
      )) {
        out.append(b.tap);
        bar.tick(b.indices.length);
      }
      out.close();
    } catch (e) {
      out.abort();
      throw e;
    } finally {
      bar.done();
    }
  });
  return npyTaps(path.join(dir, 'tap.npy'));
}
