import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, type ImageBatch, type ImageSpec, type Sample } from '@niwt/core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawPng, tempDir } from '../../test/fixtures.js';
import { readImages, streamBatches } from './read-images.js';

const spec = (height: number, width: number): ImageSpec => ({ height, width, channels: 3 });

async function collect(it: AsyncIterable<ImageBatch>): Promise<ImageBatch[]> {
  const out: ImageBatch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

async function failure(it: AsyncIterable<ImageBatch>): Promise<unknown> {
  return collect(it).then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('readImages', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let samples: Sample[];
  const file = (name: string): string => path.join(tmp.dir, name);
  /** 3 wide × 2 high, every pixel different. */
  const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 40, 50, 60, 70, 80, 90]);

  beforeAll(async () => {
    tmp = await tempDir();
    await writeFile(file('rgb.png'), await rawPng(rgb, 3, 2, 3));
    // Same colours with an alpha channel that must simply be dropped.
    const rgba = new Uint8Array(6 * 4);
    for (let i = 0; i < 6; i++) rgba.set([rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], i * 40], 4 * i);
    await writeFile(file('rgba.png'), await rawPng(rgba, 3, 2, 4));
    await writeFile(file('grey.png'), await rawPng(Uint8Array.from([0, 128, 255, 64]), 2, 2, 1));
    await writeFile(
      file('solid.jpg'),
      await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 100, b: 50 } } })
        .jpeg({ quality: 100 })
        .toBuffer(),
    );
    // Wide red | green | blue bands, to tell a stretch from a crop.
    const bands = new Uint8Array(12 * 4 * 3);
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 12; x++) bands.set(x < 4 ? [255, 0, 0] : x < 8 ? [0, 255, 0] : [0, 0, 255], (y * 12 + x) * 3);
    await writeFile(file('bands.png'), await rawPng(bands, 12, 4, 3));
    await writeFile(file('garbage.png'), 'not an image at all');
    await writeFile(file('gone.png'), await rawPng(rgb, 3, 2, 3));
    samples = ['rgb.png', 'rgba.png', 'grey.png', 'solid.jpg', 'bands.png', 'garbage.png', 'gone.png'].map(
      (name, index) => ({
        index,
        classIndex: 0,
        path: file(name),
      }),
    );
    await rm(file('gone.png'));
  });
  afterAll(() => tmp.cleanup());

  it('decodes a PNG to NHWC float32 RGB in [0, 255], exactly', async () => {
    const [batch] = await collect(readImages(samples, [0], spec(2, 3), 8));
    expect(batch.indices).toEqual([0]);
    expect(batch.spec).toEqual(spec(2, 3));
    expect(batch.pixels).toBeInstanceOf(Float32Array);
    expect(Array.from(batch.pixels)).toEqual(Array.from(rgb));
  });

  it('drops alpha and expands grey to RGB', async () => {
    const [a] = await collect(readImages(samples, [1], spec(2, 3), 1));
    expect(Array.from(a.pixels)).toEqual(Array.from(rgb));
    const [g] = await collect(readImages(samples, [2], spec(2, 2), 1));
    expect(Array.from(g.pixels)).toEqual([0, 0, 0, 128, 128, 128, 255, 255, 255, 64, 64, 64]);
  });

  it('decodes a JPEG and resizes it', async () => {
    const [j] = await collect(readImages(samples, [3], spec(5, 7), 1));
    expect(j.pixels).toHaveLength(5 * 7 * 3);
    for (let p = 0; p < 5 * 7; p++) {
      expect(Math.abs(j.pixels[3 * p] - 200)).toBeLessThanOrEqual(3);
      expect(Math.abs(j.pixels[3 * p + 1] - 100)).toBeLessThanOrEqual(3);
      expect(Math.abs(j.pixels[3 * p + 2] - 50)).toBeLessThanOrEqual(3);
    }
  });

  it('stretches to the spec (fit: fill), neither cropping nor padding', async () => {
    const [b] = await collect(readImages(samples, [4], spec(3, 3), 1));
    for (let y = 0; y < 3; y++) {
      const px = (x: number): number[] => Array.from(b.pixels.subarray((y * 3 + x) * 3, (y * 3 + x) * 3 + 3));
      expect(px(0)[0]).toBeGreaterThan(200); // red left
      expect(px(1)[1]).toBeGreaterThan(200); // green middle
      expect(px(2)[2]).toBeGreaterThan(200); // blue right
    }
  });

  it('batches in the requested order, the last batch short', async () => {
    const batches = await collect(readImages(samples, [4, 0, 1, 2, 0], spec(2, 3), 2));
    expect(batches.map((b) => b.indices)).toEqual([[4, 0], [1, 2], [0]]);
    expect(batches.map((b) => b.pixels.length)).toEqual([36, 36, 18]);
    expect(Array.from(batches[0].pixels.subarray(18))).toEqual(Array.from(rgb));
    expect(Array.from(batches[2].pixels)).toEqual(Array.from(rgb));
    expect(await collect(readImages(samples, [], spec(2, 3), 2))).toEqual([]);
  });

  it('reports a corrupt image by file name, after the batches before it', async () => {
    const seen: number[][] = [];
    const error = await (async () => {
      try {
        for await (const b of readImages(samples, [0, 1, 5, 2], spec(2, 3), 2, { prefetch: 4 }))
          seen.push([...b.indices]);
      } catch (e) {
        return e;
      }
    })();
    expect(seen).toEqual([[0, 1]]);
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toBe(
      `${file('garbage.png')}: cannot decode image (Input buffer contains unsupported image format); ` +
        `expected a JPEG or PNG image`,
    );
  });

  it('reports a missing image by file name', async () => {
    const error = await failure(readImages(samples, [6], spec(2, 3), 1));
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toBe(`${file('gone.png')}: file not found; expected a JPEG or PNG image`);
  });

  it('reports a truncated image by file name', async () => {
    const whole = await rawPng(
      new Uint8Array(64 * 64 * 3).map((_, i) => (i * 7919) % 256),
      64,
      64,
      3,
    );
    await writeFile(file('truncated.png'), whole.subarray(0, Math.floor(whole.length / 2)));
    const error = await failure(
      readImages([{ index: 0, classIndex: 0, path: file('truncated.png') }], [0], spec(8, 8), 1),
    );
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as Error).message).toMatch(
      new RegExp(`^${file('truncated.png')}: cannot decode image \\(.+\\); expected a JPEG or PNG image$`),
    );
  });

  it('rejects caller mistakes as programming errors', () => {
    expect(() => readImages(samples, [0], spec(2, 3), 0)).toThrow(
      new RangeError('batchSize must be a positive integer, got 0'),
    );
    expect(() => readImages(samples, [7], spec(2, 3), 1)).toThrow(new RangeError('sample index 7 is outside [0, 7)'));
  });
});

describe('streamBatches', () => {
  it('keeps at most `prefetch` loads ahead, also while the consumer holds a batch', async () => {
    let started = 0;
    let consumed = 0;
    let maxAhead = 0;
    const load = async (i: number): Promise<Uint8Array> => {
      started++;
      maxAhead = Math.max(maxAhead, started - consumed);
      await new Promise((r) => setTimeout(r, 1));
      return new Uint8Array(3).fill(i);
    };
    const indices = Array.from({ length: 20 }, (_, i) => i);
    const out: number[] = [];
    for await (const b of streamBatches(indices, spec(1, 1), 4, 3, load)) {
      consumed += b.indices.length;
      // While we hold this batch, the next images are already loading — but no more than 3.
      await new Promise((r) => setTimeout(r, 5));
      expect(started - consumed).toBeLessThanOrEqual(3);
      if (consumed < indices.length) expect(started).toBeGreaterThan(consumed);
      out.push(...Array.from(b.pixels.filter((_, k) => k % 3 === 0)));
    }
    expect(out).toEqual(indices);
    expect(maxAhead).toBeLessThanOrEqual(3 + 4);
  });
});
