/**
 * Helpers shared by the tensor spec files (not exported from the package index): deterministic data and
 * cross-backend comparison.
 */
import * as tf from '@tensorflow/tfjs';

/** Deterministic uniform [-1, 1) floats (mulberry32), so failures are reproducible. */
export function seededRandom(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** max |a − b| / max(|b|, tiny): the error relative to the reference's scale. */
export function relMaxError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  if (a.length !== ref.length) throw new Error(`length ${a.length} vs ${ref.length}`);
  let err = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    err = Math.max(err, Math.abs((a[i] as number) - (ref[i] as number)));
    scale = Math.max(scale, Math.abs(ref[i] as number));
  }
  return err / Math.max(scale, 1e-30);
}

/** Like `tf.tidy`, but for functions returning plain data: every tensor made inside is disposed. */
export function scoped<T>(fn: () => T): T {
  tf.engine().startScope();
  try {
    return fn();
  } finally {
    tf.engine().endScope();
  }
}

/** Runs `fn` on `backend` and returns its single output's values and shape (all tensors disposed). */
export async function runOn(backend: string, fn: () => tf.Tensor): Promise<{ values: Float32Array; shape: number[] }> {
  await tf.setBackend(backend);
  const t = tf.tidy(fn);
  const values = Float32Array.from(await t.data());
  const shape = t.shape.slice();
  t.dispose();
  return { values, shape };
}
