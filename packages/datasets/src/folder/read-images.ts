/**
 * Streams decoded images in batches. A few images are decoded ahead (sharp works off the main
 * thread) so decoding overlaps the consumer's work, while memory stays bounded by one batch plus
 * the prefetch window — never the whole index list.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { DatasetError, type ImageBatch, type ImageSpec, type Sample } from '@niwt/core';
import sharp from 'sharp';
import { errorText, isNotFound } from './text-files.js';

/**
 * `stretch`: resize to exactly height × width (aspect ratio not kept; the small-image default).
 * `crop`: resize the shorter side to size·256/224 (256 for 224), then cut the centre
 * height × width window: the ImageNet evaluation transform the pretrained backbones expect.
 */
export type ResizeMode = 'stretch' | 'crop';

export interface ReadImagesOptions {
  /** Images decoded ahead of the consumer (default: 2 × CPU cores, at most 16). */
  readonly prefetch?: number;
  /** How images are brought to the requested size (default `stretch`). */
  readonly resize?: ResizeMode;
}

export function defaultPrefetch(): number {
  return Math.min(16, Math.max(2, 2 * os.availableParallelism()));
}

/**
 * Decodes one image to `spec`: EXIF orientation applied, stretched to height × width
 * (`fit: 'fill'`, no cropping), alpha dropped, converted to 8-bit sRGB. Returns HWC bytes.
 */
export async function decodeImage(file: string, spec: ImageSpec, resize: ResizeMode = 'stretch'): Promise<Uint8Array> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    const what = isNotFound(e) ? 'file not found' : `cannot read (${errorText(e)})`;
    throw new DatasetError(`${file}: ${what}; expected a JPEG or PNG image`, { cause: e });
  }
  try {
    if (resize === 'crop') return await centreCrop(bytes, spec);
    const { data, info } = await sharp(bytes, { failOn: 'error' })
      .autoOrient()
      .resize(spec.width, spec.height, { fit: 'fill' })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== spec.height * spec.width * 3) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    return data;
  } catch (e) {
    throw new DatasetError(
      `${file}: cannot decode image (${errorText(e)
        .split('\n')[0]
        .replace(/[:\s]+$/, '')}); expected a JPEG or PNG image`,
      { cause: e },
    );
  }
}

/** Shorter side to round(max(h, w) · 256/224), then the centre h × w window. */
async function centreCrop(bytes: Buffer, spec: ImageSpec): Promise<Uint8Array> {
  const side = Math.round((Math.max(spec.height, spec.width) * 256) / 224);
  const { data, info } = await sharp(bytes, { failOn: 'error' })
    .autoOrient()
    .resize({ width: side, height: side, fit: 'outside' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width < spec.width || info.height < spec.height) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
  }
  const y0 = (info.height - spec.height) >> 1;
  const x0 = (info.width - spec.width) >> 1;
  const out = new Uint8Array(spec.height * spec.width * 3);
  const row = spec.width * 3;
  for (let y = 0; y < spec.height; y++) {
    const src = ((y0 + y) * info.width + x0) * 3;
    out.set(data.subarray(src, src + row), y * row);
  }
  return out;
}

/** The `Dataset.readImages` of datasets whose samples are image files on disk. */
export function readImages(
  samples: readonly Sample[],
  indices: readonly number[],
  spec: ImageSpec,
  batchSize: number,
  options: ReadImagesOptions = {},
): AsyncGenerator<ImageBatch> {
  checkRequest(samples.length, indices, spec, batchSize);
  const prefetch = Math.max(1, options.prefetch ?? defaultPrefetch());
  const resize = options.resize ?? 'stretch';
  return streamBatches(indices, spec, batchSize, prefetch, (i) => decodeImage(samples[i].path, spec, resize));
}

/**
 * Batches `load(index)` results in order, keeping at most `prefetch` loads started but not yet
 * copied into a batch — also while the consumer holds a batch, so the next one is being prepared.
 */
export async function* streamBatches(
  indices: readonly number[],
  spec: ImageSpec,
  batchSize: number,
  prefetch: number,
  load: (index: number) => Promise<Uint8Array>,
): AsyncGenerator<ImageBatch> {
  const perImage = spec.height * spec.width * 3;
  const queue: Promise<Uint8Array>[] = [];
  let issued = 0;
  const fill = (): void => {
    while (queue.length < prefetch && issued < indices.length) {
      const p = load(indices[issued]);
      // Marks the rejection as handled while it waits in the queue; it is re-thrown when awaited.
      p.catch(() => undefined);
      queue.push(p);
      issued++;
    }
  };
  for (let start = 0; start < indices.length; start += batchSize) {
    const n = Math.min(batchSize, indices.length - start);
    const pixels = new Float32Array(n * perImage);
    for (let i = 0; i < n; i++) {
      fill();
      const image = await (queue.shift() as Promise<Uint8Array>);
      pixels.set(image, i * perImage);
      fill();
    }
    yield { indices: indices.slice(start, start + n), pixels, spec };
  }
}

/** Caller mistakes are programming errors, not dataset problems. */
function checkRequest(sampleCount: number, indices: readonly number[], spec: ImageSpec, batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  if (
    !Number.isInteger(spec.height) ||
    !Number.isInteger(spec.width) ||
    spec.height < 1 ||
    spec.width < 1 ||
    spec.channels !== 3
  ) {
    throw new RangeError(
      `image spec must be positive integer height/width with 3 channels, got ${JSON.stringify(spec)}`,
    );
  }
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= sampleCount)
      throw new RangeError(`sample index ${i} is outside [0, ${sampleCount})`);
  }
}
