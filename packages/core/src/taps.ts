/**
 * Tap activations read on demand (from memory or a `.npy` file), so stages that walk many images — NIWT's
 * stage B and stage D's pool — keep their memory independent of how many images there are.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { FormatError } from './errors.js';

export interface TapSource {
  readonly size: number;
  /** [h, w, k] of one image's tap activations. */
  readonly shape: readonly [number, number, number];
  /** The activations of `indices`, concatenated (NHWC). */
  read(indices: readonly number[]): Float32Array;
  close?(): void;
}

/** Activations held in memory. */
export function memoryTaps(tap: Float32Array, shape: readonly [number, number, number]): TapSource {
  const per = shape[0] * shape[1] * shape[2];
  return {
    size: tap.length / per,
    shape,
    read: (indices) => {
      const out = new Float32Array(indices.length * per);
      indices.forEach((i, k) => out.set(tap.subarray(i * per, (i + 1) * per), k * per));
      return out;
    },
  };
}

/** Activations read row by row from a float32 C-order `.npy` file of shape [N, h, w, k]. */
export function npyTaps(file: string): TapSource {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(12);
  readSync(fd, head, 0, 12, 0);
  const major = head[6];
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  const header = Buffer.alloc(headerLen);
  readSync(fd, header, 0, headerLen, major === 1 ? 10 : 12);
  const text = header.toString('latin1');
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(text)?.[1]
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
    .map(Number);
  if (!/'descr':\s*'<f4'/.test(text) || !shape || shape.length !== 4) {
    closeSync(fd);
    throw new FormatError(
      `${file}: expected a float32 .npy of shape [N, h, w, k], header ${JSON.stringify(text.trim())}`,
    );
  }
  const [n, h, w, k] = shape;
  const per = h * w * k;
  return {
    size: n,
    shape: [h, w, k],
    read: (indices) => {
      const out = new Float32Array(indices.length * per);
      const buf = Buffer.from(out.buffer);
      indices.forEach((i, j) => readSync(fd, buf, j * per * 4, per * 4, start + i * per * 4));
      return out;
    },
    close: () => closeSync(fd),
  };
}
