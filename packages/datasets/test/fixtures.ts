/** Builders of small on-disk datasets for the specs (real files, real PNGs). */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export const CLASSES = ['cat', 'dog', 'fox', 'owl', 'bee'] as const;
export const ATTRIBUTES = ['furry', 'flies', 'size'] as const;
export const IMAGES_PER_CLASS = 5;

/** A valid dataset's files (images aside); tests overwrite one of them to break it. */
export const VALID_FILES: Readonly<Record<string, string>> = {
  'classes.txt': CLASSES.join('\n') + '\n',
  'attributes.txt': ATTRIBUTES.join('\n') + '\n',
  'class-attributes.txt': ['90 0 40', '95 0 50', '80.5 0 45', '60 100 30', '10 100 1.5e0'].join('\n') + '\n',
  'split.yaml': 'seen: [cat, dog, fox]\nunseen:\n  - owl\n  - bee\ntest_fraction: 0.4\nseed: 3\n',
};

/** A solid-colour PNG of the given size (deterministic bytes). */
export function solidPng(rgb: readonly [number, number, number], width = 4, height = 4): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .png()
    .toBuffer();
}

/** A PNG from raw RGB(A) bytes. */
export function rawPng(pixels: Uint8Array, width: number, height: number, channels: 1 | 2 | 3 | 4): Promise<Buffer> {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer();
}

export async function tempDir(prefix = 'niwt-datasets-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Writes the valid dataset into `root`: class k's images are solid colour (10k, 20, 30) PNGs
 * named `img<i>.png`, written in reverse order to show that listing order does not matter.
 */
export async function writeValidDataset(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  for (const [name, text] of Object.entries(VALID_FILES)) await writeFile(path.join(root, name), text);
  for (const [k, c] of CLASSES.entries()) {
    const dir = path.join(root, 'images', c);
    await mkdir(dir, { recursive: true });
    const png = await solidPng([10 * k, 20, 30]);
    for (let i = IMAGES_PER_CLASS - 1; i >= 0; i--) await writeFile(path.join(dir, `img${i}.png`), png);
    await writeFile(path.join(dir, 'notes.txt'), 'not an image');
  }
}
