/**
 * The captions encoder end to end: locate caption files, read and tokenize them, stream the word2vec
 * file for just their vocabulary, average, and cache the class embedding under the stage cache, keyed by
 * the options, the word2vec file's size+mtime and the caption files (path, size, mtime), so a rerun
 * reads neither the captions nor the word2vec file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import {
  DatasetError,
  StageCache,
  hashOf,
  matrix,
  readNpy,
  writeNpy,
  type ClassEmbedding,
  type Dataset,
  type Logger,
  type RunContext,
} from '@niwt/core';
import { readWord2Vec } from '../word2vec/index.js';
import { averageCaptions, type TokenizedImage } from './average.js';
import { indexTextRoot, locateCaptions, mapLimit, type ClassCaptionRefs } from './locate.js';
import type { CaptionsOptions } from './options.js';
import { readCaptionFile } from './read-captions.js';
import { stopWordSet, tokenize } from './tokenize.js';

/** Bump when the computation changes, so old cache entries are not trusted. */
export const CAPTIONS_CACHE_VERSION = 1;
export const CAPTIONS_CACHE_STAGE = 'knowledge-captions';

export interface CaptionsClassStats {
  readonly name: string;
  readonly imageFolder: string;
  readonly textFolder: string;
  readonly images: number;
  readonly imagesUsed: number;
  readonly captions: number;
  readonly tokens: number;
  readonly oovTokens: number;
}

export interface CaptionsStats {
  readonly textRoot: string;
  readonly word2vec: string;
  readonly dim: number;
  readonly classes: number;
  readonly images: number;
  /** Images whose caption file is missing (skipped). */
  readonly imagesWithoutFile: number;
  /** Images with a caption file but no caption with an in-vocabulary word (skipped). */
  readonly imagesWithoutWords: number;
  readonly captions: number;
  /** Caption files with fewer than `maxCaptions` non-empty lines. */
  readonly shortFiles: number;
  readonly tokens: number;
  readonly oovTokens: number;
  readonly types: number;
  readonly oovTypes: number;
  /** oovTokens / tokens and oovTypes / types. */
  readonly tokenOovRate: number;
  readonly typeOovRate: number;
  /** Vocabulary words matched exactly / only case-insensitively in the word2vec file. */
  readonly matchedExact: number;
  readonly matchedFallback: number;
  /** Seconds and bytes of the word2vec scan that produced this entry. */
  readonly word2vecSeconds: number;
  readonly word2vecBytesRead: number;
  readonly perClass: readonly CaptionsClassStats[];
  /** True when this came from the stage cache (nothing was read but file stats). */
  readonly cached: boolean;
  readonly cacheDir: string;
}

export interface CaptionsEmbedding extends ClassEmbedding {
  readonly stats: CaptionsStats;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;

function describe(opts: CaptionsOptions, s: Omit<CaptionsStats, 'cached' | 'cacheDir'>): string {
  return (
    `captions from ${opts.textRoot} via ${path.basename(s.word2vec)} (${s.dim}-d): ` +
    `${s.images - s.imagesWithoutFile} images, ${s.captions} captions; ` +
    `OOV ${pct(s.tokenOovRate)} of tokens, ${pct(s.typeOovRate)} of types`
  );
}

function dimNames(dim: number): string[] {
  return Array.from({ length: dim }, (_, i) => `w2v[${i}]`);
}

/** Reads and tokenizes every located caption file into a shared vocabulary. */
async function readAllCaptions(
  refs: readonly ClassCaptionRefs[],
  opts: CaptionsOptions,
  log: Logger,
): Promise<{ images: TokenizedImage[]; types: string[]; shortFiles: number; missing: number }> {
  const stop = stopWordSet(opts.stopWords);
  const vocab = new Map<string, number>();
  const types: string[] = [];
  const intern = (t: string): number => {
    let id = vocab.get(t);
    if (id === undefined) {
      id = types.length;
      vocab.set(t, id);
      types.push(t);
    }
    return id;
  };
  const all = refs.flatMap((r) => r.images.filter((i) => i.size !== undefined));
  const missing = refs.reduce((n, r) => n + r.images.length, 0) - all.length;
  const progress = log.progress('captions: reading', all.length);
  let shortFiles = 0;
  let firstShort = '';
  const images = await mapLimit(all, 32, async (ref): Promise<TokenizedImage> => {
    const f = await readCaptionFile(ref.file, opts.maxCaptions);
    if (f.captions.length < opts.maxCaptions) {
      if (shortFiles === 0) firstShort = `${ref.file} has ${f.captions.length}`;
      shortFiles++;
    }
    progress.tick(1);
    return {
      classIndex: ref.classIndex,
      file: ref.file,
      captions: f.captions.map((c) =>
        Int32Array.from(tokenize(c, { lowercase: opts.lowercase, stopWords: stop }), intern),
      ),
    };
  });
  progress.done();
  if (shortFiles > 0)
    log.warn(
      `captions: ${shortFiles} of ${all.length} caption files have fewer than ${opts.maxCaptions} captions ` +
        `(first: ${firstShort})`,
    );
  if (missing > 0) {
    const first = refs.flatMap((r) => r.images).find((i) => i.size === undefined);
    log.warn(`captions: ${missing} images have no caption file and are skipped (first: ${first?.file})`);
  }
  return { images, types, shortFiles, missing };
}

async function compute(
  dataset: Dataset,
  refs: readonly ClassCaptionRefs[],
  opts: CaptionsOptions,
  textRoot: string,
  w2vFile: string,
  log: Logger,
): Promise<{ data: Float32Array; stats: Omit<CaptionsStats, 'cached' | 'cacheDir'> }> {
  const { images, types, shortFiles, missing } = await readAllCaptions(refs, opts, log);
  const progress = log.progress(`captions: scanning ${path.basename(w2vFile)}`, 1);
  let lastBytes = 0;
  const w2v = await readWord2Vec(w2vFile, types, {
    format: opts.format,
    lowercaseFallback: opts.lowercaseFallback,
    onProgress: (bytes, total) => {
      progress.tick((bytes - lastBytes) / Math.max(total, 1));
      lastBytes = bytes;
    },
  });
  progress.done(`${w2v.vectors.size} of ${types.length} words found`);
  const vectorOf = types.map((t) => w2v.vectors.get(t));
  const avg = averageCaptions(dataset.classes.length, images, vectorOf, w2v.dim);

  for (const r of refs) {
    const c = avg.perClass[r.classIndex];
    const dir = path.join(textRoot, r.textFolder);
    if (c.captions === 0) {
      throw new DatasetError(
        `${dir}: class "${r.className}" has no captions: its ${c.images} caption files hold no non-empty line`,
      );
    }
    if (c.imagesUsed === 0) {
      throw new DatasetError(
        `${dir}: class "${r.className}" has no in-vocabulary words: all ${c.tokens} tokens of its ` +
          `${c.captions} captions are missing from ${w2vFile}`,
      );
    }
  }
  const imagesWithoutWords = avg.perClass.reduce((n, c) => n + c.images - c.imagesUsed, 0);
  if (imagesWithoutWords > 0)
    log.warn(`captions: ${imagesWithoutWords} images have no caption with an in-vocabulary word and are skipped`);
  const stats = {
    textRoot,
    word2vec: w2vFile,
    dim: w2v.dim,
    classes: dataset.classes.length,
    images: refs.reduce((n, r) => n + r.images.length, 0),
    imagesWithoutFile: missing,
    imagesWithoutWords,
    captions: avg.perClass.reduce((n, c) => n + c.captions, 0),
    shortFiles,
    tokens: avg.tokens,
    oovTokens: avg.oovTokens,
    types: avg.types,
    oovTypes: avg.oovTypes,
    tokenOovRate: avg.tokens === 0 ? 0 : avg.oovTokens / avg.tokens,
    typeOovRate: avg.types === 0 ? 0 : avg.oovTypes / avg.types,
    matchedExact: w2v.matchedExact,
    matchedFallback: w2v.matchedFallback,
    word2vecSeconds: w2v.seconds,
    word2vecBytesRead: w2v.bytesRead,
    perClass: refs.map((r) => {
      const c = avg.perClass[r.classIndex];
      return {
        name: r.className,
        imageFolder: r.imageFolder,
        textFolder: r.textFolder,
        images: c.images,
        imagesUsed: c.imagesUsed,
        captions: c.captions,
        tokens: c.tokens,
        oovTokens: c.oovTokens,
      };
    }),
  };
  return { data: avg.data, stats };
}

/** Encodes a dataset's classes from their images' captions (see the module comment). */
export async function encodeCaptions(
  dataset: Dataset,
  opts: CaptionsOptions,
  run: Pick<RunContext, 'baseDir' | 'cacheDir'>,
  log: Logger,
): Promise<CaptionsEmbedding> {
  const textRoot = path.resolve(run.baseDir, opts.textRoot);
  const w2vFile = path.resolve(run.baseDir, opts.word2vec);
  let w2vStat;
  try {
    w2vStat = await fs.stat(w2vFile);
  } catch {
    throw new DatasetError(
      `${w2vFile}: word2vec file not found; expected a word2vec .bin, .bin.gz or text file (option word2vec, ` +
        `relative to ${run.baseDir})`,
    );
  }
  const refs = await locateCaptions(dataset, await indexTextRoot(textRoot));
  const key = hashOf({
    version: CAPTIONS_CACHE_VERSION,
    options: { ...opts, textRoot, word2vec: w2vFile },
    word2vec: { size: w2vStat.size, mtimeMs: w2vStat.mtimeMs },
    classes: dataset.classes.map((c) => c.name),
    captions: refs.flatMap((r) =>
      r.images.map((i) => [i.classIndex, path.relative(textRoot, i.file), i.size ?? null, i.mtimeMs ?? null]),
    ),
  });
  const cache = new StageCache(run.cacheDir);
  let fresh: Omit<CaptionsStats, 'cached' | 'cacheDir'> | undefined;
  const { dir, hit } = await cache.getOrCreate(CAPTIONS_CACHE_STAGE, key, async (tmp) => {
    const { data, stats } = await compute(dataset, refs, opts, textRoot, w2vFile, log);
    fresh = stats;
    await writeNpy(path.join(tmp, 'class-embedding.npy'), data, [dataset.classes.length, stats.dim]);
    await fs.writeFile(path.join(tmp, 'stats.json'), `${JSON.stringify(stats, null, 1)}\n`);
  });
  const stats: Omit<CaptionsStats, 'cached' | 'cacheDir'> =
    fresh ??
    (JSON.parse(await fs.readFile(path.join(dir, 'stats.json'), 'utf8')) as Omit<CaptionsStats, 'cached' | 'cacheDir'>);
  const npy = await readNpy(path.join(dir, 'class-embedding.npy'));
  const data = npy.data instanceof Float32Array ? npy.data : Float32Array.from(npy.data as ArrayLike<number>);
  if (hit) log.info(`captions: class embedding from cache ${dir}`);
  return {
    matrix: matrix(dataset.classes.length, stats.dim, data),
    dimNames: dimNames(stats.dim),
    description: describe(opts, stats),
    // the cache key: options, the word2vec file's size and mtime, every caption file's size and mtime
    fingerprint: key,
    stats: { ...stats, cached: hit, cacheDir: dir },
  };
}
