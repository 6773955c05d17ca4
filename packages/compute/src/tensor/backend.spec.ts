import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { BackendError } from '@niwt/core';
import { initBackend, type BackendPreference } from './backend.js';
import { WASM_KERNEL_FIXES } from './wasm-kernels.js';

function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

const NATIVE = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];
const nativeAvailable = NATIVE.some(installed);

describe('initBackend', () => {
  it("selects 'cpu' explicitly and registers the double-backprop gradients", async () => {
    const info = await initBackend('cpu');
    expect(info).toEqual({ name: 'cpu', threads: 1 });
    expect(tf.getBackend()).toBe('cpu');
    for (const k of ['MaxPoolGrad', 'AvgPoolGrad', 'AvgPool']) expect(tf.getGradient(k)).toBeDefined();
  });

  it("selects 'wasm' explicitly with its kernel fixes (single-threaded in Node)", async () => {
    const info = await initBackend('wasm');
    expect(info).toEqual({ name: 'wasm', threads: 1 });
    expect(tf.getBackend()).toBe('wasm');
    for (const k of WASM_KERNEL_FIXES) expect(tf.getKernel(k, 'wasm')).toBeDefined();
    // The fixed kernels actually run: a conv filter gradient needs Conv2DBackpropFilter.
    const g = tf.grad((f: tf.Tensor) =>
      tf.sum(tf.conv2d(tf.ones([1, 4, 4, 2]) as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')),
    )(tf.ones([3, 3, 2, 1]));
    expect(Array.from(g.dataSync())).toEqual(new Array(18).fill(4));
    g.dispose();
  });

  it("'auto' prefers the native backend and otherwise falls back to wasm, saying why", async () => {
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (...args: unknown[]) => void warnings.push(args.join(' '));
    const info = await initBackend('auto').finally(() => (console.warn = warn));
    if (nativeAvailable) {
      expect(info.name).toBe('tensorflow');
      // tfjs-node-gpu is installed here (an optional dependency) but its addon is never built: it is skipped
      // without being imported, so its kernels do not collide with tfjs-node's (155 warnings before)
      if (installed('@tensorflow/tfjs-node-gpu')) {
        expect(info.note).toMatch(
          /@tensorflow\/tfjs-node-gpu \((installed without its native addon: no \S+napi-v\*\/tfjs_binding\.node)\)/,
        );
      }
      expect(warnings.filter((w) => w.includes('already registered'))).toEqual([]);
    } else {
      expect(info.name).toBe('wasm');
      expect(info.note).toContain('@tensorflow/tfjs-node-gpu (not installed)');
      expect(info.note).toContain('@tensorflow/tfjs-node (not installed)');
    }
    expect(tf.getBackend()).toBe(info.name);
  });

  it('is idempotent and re-selects its backend after a switch', async () => {
    const first = await initBackend('wasm');
    const again = await initBackend('wasm');
    expect(again).toEqual(first);
    await initBackend('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await initBackend('wasm')).toEqual(first);
    expect(tf.getBackend()).toBe('wasm');
    const [a, b] = await Promise.all([initBackend('cpu'), initBackend('cpu')]);
    expect(a).toEqual(b);
  });

  it("throws BackendError for an explicit 'tensorflow' that cannot load, without falling back", async () => {
    if (nativeAvailable) {
      expect((await initBackend('tensorflow')).name).toBe('tensorflow');
      return;
    }
    await initBackend('cpu');
    const err = await initBackend('tensorflow').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackendError);
    expect((err as BackendError).code).toBe('BACKEND');
    expect((err as BackendError).message).toContain("backend 'tensorflow'");
    expect((err as BackendError).message).toContain('@tensorflow/tfjs-node');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('rejects an unknown preference with BackendError', async () => {
    await expect(initBackend('gpu' as BackendPreference)).rejects.toBeInstanceOf(BackendError);
  });
});
