/**
 * Preprocessing that travels with the weights. Images arrive RGB in [0, 255] (`Dataset.readImages`); the
 * network wants what its weights were trained on, which a *weights descriptor* states: Keras VGG16/ResNet
 * ('caffe') = BGR with the ImageNet means subtracted and no scaling; PyTorch ('torch') = RGB/255, mean/std;
 * Keras 'tf' = RGB/127.5 − 1. Also the resize modes and the training augmentation.
 */
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { DatasetError, Rng, type Dataset, type ImageBatch } from '@niwt/core';

export const weightsDescriptor = z.strictObject({
  /** Channel order the network expects. */
  channels: z.enum(['RGB', 'BGR']),
  /** Multiplies [0, 255] pixels first. */
  scale: z.number(),
  /** Subtracted after scaling, in the network's channel order. */
  mean: z.tuple([z.number(), z.number(), z.number()]),
  /** Divides last, in the network's channel order. */
  std: z.tuple([z.number(), z.number(), z.number()]),
});
export type WeightsDescriptor = z.infer<typeof weightsDescriptor>;

export const PREPROCESSING: Record<'caffe' | 'torch' | 'tf', WeightsDescriptor> = {
  /** Keras Applications VGG16 / ResNet-50/101 (`imagenet_utils.preprocess_input`, mode 'caffe'). */
  caffe: { channels: 'BGR', scale: 1, mean: [103.939, 116.779, 123.68], std: [1, 1, 1] },
  torch: { channels: 'RGB', scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
  tf: { channels: 'RGB', scale: 1 / 127.5, mean: [1, 1, 1], std: [1, 1, 1] },
};

export const preprocessingOption = z.union([z.enum(['caffe', 'torch', 'tf']), weightsDescriptor]);
export type PreprocessingOption = z.infer<typeof preprocessingOption>;

export function descriptorOf(p: PreprocessingOption): WeightsDescriptor {
  return typeof p === 'string' ? PREPROCESSING[p] : p;
}

/** RGB [0, 255] NHWC → the network's input. */
export function preprocess(x: tf.Tensor4D, d: WeightsDescriptor): tf.Tensor4D {
  return tf.tidy(() => {
    let y: tf.Tensor4D = d.channels === 'BGR' ? tf.reverse(x, -1) : x;
    if (d.scale !== 1) y = tf.mul(y, d.scale);
    y = tf.sub(y, tf.tensor1d(d.mean));
    return d.std.every((s) => s === 1) ? y : tf.div(y, tf.tensor1d(d.std));
  });
}

/**
 * 'stretch': the whole image resized to size × size (what the NIWT authors' release did).
 * 'center-crop': shorter side to size·256/224 (256 for 224), then the central size × size.
 */
export type ResizeMode = 'stretch' | 'center-crop';

/** Side an image is brought to before a (centre or random) crop of `size`. */
export function cropSource(size: number): number {
  return Math.round((size * 256) / 224);
}

async function decodeCentreCrop(file: string, size: number): Promise<Float32Array> {
  const s = cropSource(size);
  try {
    const { data, info } = await sharp(file)
      .removeAlpha()
      .toColourspace('srgb')
      .resize({ width: s, height: s, fit: 'outside' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const left = Math.floor((info.width - size) / 2);
    const top = Math.floor((info.height - size) / 2);
    const out = new Float32Array(size * size * 3);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const src = ((top + y) * info.width + left + x) * info.channels;
        const dst = (y * size + x) * 3;
        out[dst] = data[src];
        out[dst + 1] = data[src + 1];
        out[dst + 2] = data[src + 2];
      }
    }
    return out;
  } catch (e) {
    throw new DatasetError(`${file}: cannot decode image (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
    });
  }
}

/** Images for inference, RGB [0, 255] at size × size, in the given resize mode, streamed in batches. */
export async function* readForInference(
  dataset: Dataset,
  indices: readonly number[],
  size: number,
  mode: ResizeMode,
  batchSize: number,
): AsyncIterable<ImageBatch> {
  const spec = { height: size, width: size, channels: 3 as const };
  if (mode === 'stretch') {
    yield* dataset.readImages(indices, spec, batchSize);
    return;
  }
  for (let s = 0; s < indices.length; s += batchSize) {
    const idx = indices.slice(s, s + batchSize);
    const imgs = await Promise.all(idx.map((i) => decodeCentreCrop(dataset.samples[i].path, size)));
    const pixels = new Float32Array(idx.length * size * size * 3);
    imgs.forEach((im, k) => pixels.set(im, k * im.length));
    yield { indices: idx, pixels, spec };
  }
}

/**
 * Training augmentation: images stretched to cropSource(size)², then a random size × size crop and a
 * horizontal flip with probability ½, from a seeded stream (reproducible).
 */
export async function readAugmented(
  dataset: Dataset,
  indices: readonly number[],
  size: number,
  rng: Rng,
): Promise<Float32Array> {
  const s = cropSource(size);
  const out = new Float32Array(indices.length * size * size * 3);
  let k = 0;
  for await (const batch of dataset.readImages(indices, { height: s, width: s, channels: 3 }, indices.length)) {
    for (let b = 0; b < batch.indices.length; b++, k++) {
      const top = rng.int(s - size + 1);
      const left = rng.int(s - size + 1);
      const flip = rng.next() < 0.5;
      const base = b * s * s * 3;
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const sx = flip ? left + size - 1 - x : left + x;
          const src = base + ((top + y) * s + sx) * 3;
          const dst = ((k * size + y) * size + x) * 3;
          out[dst] = batch.pixels[src];
          out[dst + 1] = batch.pixels[src + 1];
          out[dst + 2] = batch.pixels[src + 2];
        }
      }
    }
  }
  return out;
}
