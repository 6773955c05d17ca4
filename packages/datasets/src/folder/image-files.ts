/** Finds the image files of every class under `images/<class name>/`. */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '@niwt/core';
import { FILES, IMAGE_EXTENSIONS } from './layout.js';
import { errorText, isNotFound, type NamedLine } from './text-files.js';

/**
 * Absolute image paths per class (in class order), each list sorted by file name with a plain
 * code-unit comparison so the order does not depend on the locale. Other files and nested folders
 * are ignored; folders of names not in `classes.txt` are ignored too.
 */
export async function listClassImages(
  root: string,
  classes: readonly NamedLine[],
  classesFile: string,
): Promise<string[][]> {
  const imagesDir = path.join(root, FILES.images);
  const classesName = path.basename(classesFile);
  try {
    await readdir(imagesDir);
  } catch (e) {
    const what = isNotFound(e) ? 'folder not found' : `cannot read (${errorText(e)})`;
    throw new DatasetError(
      `${imagesDir}: ${what}; expected one folder of images per class (${FILES.images}/<class name>/)`,
      { cause: e },
    );
  }
  return firstFailureInOrder(
    classes.map(async (c) => {
      const dir = path.join(imagesDir, c.name);
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        const what = isNotFound(e) ? 'folder not found' : `cannot read (${errorText(e)})`;
        throw new DatasetError(`${dir}: ${what}; expected the images of class "${c.name}" (${classesName}:${c.line})`, {
          cause: e,
        });
      }
      return entries
        .filter((d) => (d.isFile() || d.isSymbolicLink()) && isImageName(d.name))
        .map((d) => d.name)
        .sort(compareCodeUnits)
        .map((name) => path.join(dir, name));
    }),
  );
}

/**
 * Like `Promise.all`, but when several fail it rejects with the first failure in list order, not
 * in time order, so the same broken dataset always gives the same message.
 */
export async function firstFailureInOrder<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

export function isImageName(name: string): boolean {
  const ext = path.extname(name).toLowerCase();
  return !name.startsWith('.') && (IMAGE_EXTENSIONS as readonly string[]).includes(ext);
}

export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
