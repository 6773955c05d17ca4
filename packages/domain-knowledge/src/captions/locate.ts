/**
 * Finds each image's caption file `<textRoot>/<class folder>/<image basename>.txt`. The image's class
 * folder comes from `Sample.path`; the caption folder may use the other CUB spelling or lack/have the
 * `NNN.` prefix, so it is found by exact name first, then by canonical key.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DatasetError, type Dataset } from '@niwt/core';
import { alternateCubSpelling, canonicalClassKey } from './cub-names.js';

export interface TextRootIndex {
  readonly root: string;
  readonly folders: ReadonlySet<string>;
  /** canonical key → caption folders with that key. */
  readonly byKey: ReadonlyMap<string, readonly string[]>;
}

export async function indexTextRoot(root: string): Promise<TextRootIndex> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch {
    throw new DatasetError(
      `${root}: caption folder not found; expected Reed et al.'s text_c10 layout <textRoot>/<class>/<image>.txt`,
    );
  }
  const folders = new Set<string>();
  const byKey = new Map<string, string[]>();
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    folders.add(e.name);
    const key = canonicalClassKey(e.name);
    const list = byKey.get(key);
    if (list) list.push(e.name);
    else byKey.set(key, [e.name]);
  }
  return { root, folders, byKey };
}

/** The caption folder of an image class folder, or an explanation of why there is none. */
export function resolveTextFolder(index: TextRootIndex, classFolder: string): { folder: string } | { tried: string[] } {
  if (index.folders.has(classFolder)) return { folder: classFolder };
  const alt = alternateCubSpelling(classFolder);
  if (alt !== undefined && index.folders.has(alt)) return { folder: alt };
  const matches = index.byKey.get(canonicalClassKey(classFolder)) ?? [];
  if (matches.length === 1) return { folder: matches[0] };
  if (matches.length > 1) {
    throw new DatasetError(
      `${index.root}: class folder "${classFolder}" matches several caption folders (${matches.join(', ')}); ` +
        `expected one`,
    );
  }
  return {
    tried: [
      classFolder,
      ...(alt === undefined ? [] : [alt]),
      `any folder named like "${canonicalClassKey(classFolder)}" (NNN. prefix and CUB/Reed spelling ignored)`,
    ],
  };
}

export interface ImageCaptionRef {
  readonly sample: number;
  readonly classIndex: number;
  /** Absolute path of the caption file. */
  readonly file: string;
  /** Size and mtime when it exists (the cache key); undefined when missing. */
  readonly size?: number;
  readonly mtimeMs?: number;
}

export interface ClassCaptionRefs {
  readonly classIndex: number;
  readonly className: string;
  /** The image class folder and the caption folder it maps to. */
  readonly imageFolder: string;
  readonly textFolder: string;
  readonly images: readonly ImageCaptionRef[];
}

async function statOrUndefined(file: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const s = await fs.stat(file);
    return s.isFile() ? { size: s.size, mtimeMs: s.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Maps every sample of every class to its caption file (stat only, nothing is read). A class whose
 * caption folder is missing, or none of whose images has a caption file, is a DatasetError.
 */
export async function locateCaptions(dataset: Dataset, index: TextRootIndex): Promise<ClassCaptionRefs[]> {
  const byClass = new Map<number, { folder: string; samples: { index: number; path: string }[] }>();
  for (const s of dataset.samples) {
    const folder = path.basename(path.dirname(s.path));
    const entry = byClass.get(s.classIndex) ?? { folder, samples: [] };
    entry.samples.push({ index: s.index, path: s.path });
    byClass.set(s.classIndex, entry);
  }
  const out: ClassCaptionRefs[] = [];
  for (const c of dataset.classes) {
    const entry = byClass.get(c.index);
    if (!entry) throw new DatasetError(`${dataset.root}: class "${c.name}" has no images, so it has no captions`);
    const resolved = resolveTextFolder(index, entry.folder);
    if ('tried' in resolved) {
      throw new DatasetError(
        `${index.root}: no caption folder for class "${c.name}" (image folder "${entry.folder}"); tried ` +
          `${resolved.tried.join(', ')}`,
      );
    }
    const dir = path.join(index.root, resolved.folder);
    const images = await mapLimit(entry.samples, 32, async (s): Promise<ImageCaptionRef> => {
      const file = path.join(dir, `${path.basename(s.path, path.extname(s.path))}.txt`);
      const st = await statOrUndefined(file);
      return { sample: s.index, classIndex: c.index, file, size: st?.size, mtimeMs: st?.mtimeMs };
    });
    if (!images.some((i) => i.size !== undefined)) {
      throw new DatasetError(
        `${dir}: class "${c.name}" has no captions: none of its ${images.length} images has a caption file ` +
          `(e.g. ${path.basename(images[0].file)})`,
      );
    }
    out.push({
      classIndex: c.index,
      className: c.name,
      imageFolder: entry.folder,
      textFolder: resolved.folder,
      images,
    });
  }
  return out;
}

/** `Promise.all` over `items` with at most `limit` in flight (file handles are finite). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
