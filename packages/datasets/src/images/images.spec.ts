/** Image pipeline hardening: the bad-image pre-check of the folder format, resize modes, augmentations. */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, Rng } from '@niwt/core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeValidDataset } from '../../test/fixtures.js';
import { decodeImage } from '../folder/read-images.js';
import { loadFolderDataset } from '../folder/load.js';
import { flipHorizontal, randomCrop, randomHorizontalFlip } from './augment.js';

let base: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir: base, cleanup } = await tempDir('niwt-images-'));
});
afterAll(() => cleanup());

describe('bad-image pre-check (folder format)', () => {
  it(
    'a corrupt image fails loading (before training) with the file named; skipBadImages skips and counts ' + 'it',
    async () => {
      const root = path.join(base, 'corrupt');
      await writeValidDataset(root);
      const bad = path.join(root, 'images/dog/img2.png');
      await writeFile(bad, 'not a png');
      const e = await loadFolderDataset(root).then(
        () => new Error('no error'),
        (x: unknown) => x as Error,
      );
      expect(e).toBeInstanceOf(DatasetError);
      expect(e.message).toMatch(
        new RegExp(
          `^${bad}: cannot decode image \\(.+\\); expected a JPEG or PNG image listed in ${root}/images \\(1 ` +
            `bad image of 25; set the dataset option skipBadImages: true \\(--skip-bad-images\\) to skip them\\)$`,
        ),
      );
      const ds = await loadFolderDataset(root, { skipBadImages: true });
      expect(ds.skippedImages).toBe(1);
      expect(ds.samples).toHaveLength(24);
      expect(ds.samples.some((s) => s.path === bad)).toBe(false);
    },
  );

  it('every image of a class bad: skipping cannot leave the class empty', async () => {
    const root = path.join(base, 'allbad');
    await writeValidDataset(root);
    for (let i = 0; i < 5; i++) await writeFile(path.join(root, `images/owl/img${i}.png`), '');
    const e = await loadFolderDataset(root, { skipBadImages: true }).then(
      () => new Error('no error'),
      (x: unknown) => x as Error,
    );
    expect(e.message).toBe(
      'class "owl": every test_unseen image was skipped as bad; expected at least one readable image',
    );
  });

  it('an image that vanishes after loading still fails at its turn with the file named', async () => {
    const root = path.join(base, 'vanish');
    await writeValidDataset(root);
    const ds = await loadFolderDataset(root);
    await rm(ds.samples[3].path);
    const it = ds.readImages([3], { height: 4, width: 4, channels: 3 }, 1)[Symbol.asyncIterator]();
    await expect(it.next()).rejects.toThrow(`${ds.samples[3].path}: file not found; expected a JPEG or PNG image`);
  });
});

describe('resize modes', () => {
  it('crop: shorter side to size·256/224, then the centre window; stretch: whole image squeezed', async () => {
    // 40 wide × 20 high: left quarter red, middle half green, right quarter blue
    const w = 40;
    const h = 20;
    const px = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const c = x < 10 ? 0 : x < 30 ? 1 : 2;
        px[(y * w + x) * 3 + c] = 255;
      }
    const file = path.join(base, 'wide.png');
    await writeFile(
      file,
      await sharp(px, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const spec = { height: 14, width: 14, channels: 3 as const };
    const crop = await decodeImage(file, spec, 'crop');
    // centre crop of a 32×16 resize is all green
    for (let i = 0; i < 14 * 14; i++) expect(crop[i * 3 + 1]).toBeGreaterThan(200);
    const stretch = await decodeImage(file, spec, 'stretch');
    expect(stretch[0]).toBeGreaterThan(200); // top-left pixel still red
    expect(stretch[(14 - 1) * 3 + 2]).toBeGreaterThan(200); // top-right blue
  });
});

describe('augmentations', () => {
  const shape = { n: 2, height: 4, width: 4, channels: 1 };
  const batch = Float32Array.from({ length: 32 }, (_, i) => i);

  it('randomCrop takes an in-bounds window per image', () => {
    const out = randomCrop(batch, shape, 2, 3, new Rng(1));
    expect(out).toHaveLength(2 * 2 * 3);
    for (let k = 0; k < 2; k++) {
      const v = out[k * 6];
      expect(out[k * 6 + 1]).toBe(v + 1);
      expect(out[k * 6 + 3]).toBe(v + 4);
      expect(Math.floor(v / 16)).toBe(k);
    }
    expect(() => randomCrop(batch, shape, 5, 2, new Rng(1))).toThrow(RangeError);
  });

  it('flips mirror rows; random flips are seeded', () => {
    const b = batch.slice();
    flipHorizontal(b, shape, 0);
    expect(Array.from(b.subarray(0, 4))).toEqual([3, 2, 1, 0]);
    expect(Array.from(b.subarray(16, 20))).toEqual([16, 17, 18, 19]);
    const a1 = randomHorizontalFlip(batch.slice(), shape, new Rng(3));
    const a2 = randomHorizontalFlip(batch.slice(), shape, new Rng(3));
    expect(a1).toEqual(a2);
  });
});
