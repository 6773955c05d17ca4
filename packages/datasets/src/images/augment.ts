/**
 * Training augmentations for backbones, on NHWC float batches as `readImages` yields them.
 * Seeded by the caller's `Rng`, so a run stays reproducible.
 */
import type { Rng } from '@niwt/core';

export interface BatchShape {
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
}

/** A random `outH × outW` window of each image (e.g. 224 of 256). */
export function randomCrop(
  pixels: Float32Array,
  shape: BatchShape,
  outH: number,
  outW: number,
  rng: Rng,
): Float32Array {
  const { n, height, width, channels } = shape;
  if (outH > height || outW > width)
    throw new RangeError(`crop ${outH}×${outW} is larger than the ${height}×${width} images`);
  const out = new Float32Array(n * outH * outW * channels);
  const row = outW * channels;
  for (let k = 0; k < n; k++) {
    const y0 = rng.int(height - outH + 1);
    const x0 = rng.int(width - outW + 1);
    for (let y = 0; y < outH; y++) {
      const src = ((k * height + y0 + y) * width + x0) * channels;
      out.set(pixels.subarray(src, src + row), (k * outH + y) * row);
    }
  }
  return out;
}

/** Mirrors each image left–right with probability `p` (in place); returns which were flipped. */
export function randomHorizontalFlip(pixels: Float32Array, shape: BatchShape, rng: Rng, p = 0.5): boolean[] {
  const flipped: boolean[] = [];
  for (let k = 0; k < shape.n; k++) {
    const f = rng.next() < p;
    flipped.push(f);
    if (f) flipHorizontal(pixels, shape, k);
  }
  return flipped;
}

/** Mirrors image `k` of the batch left–right in place. */
export function flipHorizontal(pixels: Float32Array, shape: BatchShape, k: number): void {
  const { height, width, channels } = shape;
  for (let y = 0; y < height; y++) {
    const base = (k * height + y) * width * channels;
    for (let x = 0; x < width >> 1; x++) {
      const a = base + x * channels;
      const b = base + (width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) {
        const t = pixels[a + c];
        pixels[a + c] = pixels[b + c];
        pixels[b + c] = t;
      }
    }
  }
}
