/** Test helper: a synthetic in-memory dataset whose classes differ by colour and stripe direction. */
import { Rng, silentLogger, type Dataset, type ImageBatch, type ImageSpec, type RunContext } from '@niwt/core';

export function colourDataset(classes: number, perClass: number, seed = 1): Dataset {
  const samples = Array.from({ length: classes * perClass }, (_, i) => ({
    index: i,
    classIndex: i % classes,
    path: `/nonexistent/${i}.png`,
  }));
  return {
    name: 'colours',
    root: '/nonexistent',
    classes: Array.from({ length: classes }, (_, i) => ({ index: i, name: `c${i}` })),
    samples,
    split: {
      seen: [...Array(classes).keys()],
      unseen: [],
      trainval: samples.map((s) => s.index),
      testSeen: [],
      testUnseen: [],
    },
    async *readImages(indices: readonly number[], spec: ImageSpec, batchSize: number): AsyncIterable<ImageBatch> {
      for (let s = 0; s < indices.length; s += batchSize) {
        const idx = indices.slice(s, s + batchSize);
        const per = spec.height * spec.width * 3;
        const pixels = new Float32Array(idx.length * per);
        idx.forEach((i, k) => {
          const rng = new Rng(seed * 100_003 + i);
          const c = samples[i].classIndex;
          for (let y = 0; y < spec.height; y++) {
            for (let x = 0; x < spec.width; x++) {
              const stripe = ((c % 2 === 0 ? x : y) >> 2) % 2;
              for (let ch = 0; ch < 3; ch++) {
                const base = ch === c % 3 ? 200 : 60;
                pixels[k * per + (y * spec.width + x) * 3 + ch] = Math.min(
                  255,
                  Math.max(0, base + 40 * stripe + 30 * rng.normal()),
                );
              }
            }
          }
        });
        yield { indices: idx, pixels, spec };
      }
    },
  };
}

export function runContext(cacheDir: string, seed = 3): RunContext {
  return { seed, baseDir: cacheDir, cacheDir, runDir: cacheDir };
}

export const log = silentLogger;
