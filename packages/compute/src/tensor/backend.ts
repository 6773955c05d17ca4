/**
 * Chooses and initialises the tfjs backend. The native `tensorflow` backend (tfjs-node / tfjs-node-gpu)
 * is optional and usually not installed, so it is loaded by dynamic `import()`; 'wasm' gets the kernel fixes
 * of `./wasm-kernels.ts` before use; gradients needed by double backprop are registered for every backend.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '@niwt/core';
import { registerGradients } from './gradients.js';
import { registerNativeKernels } from './native-kernels.js';
import { registerWasmKernels } from './wasm-kernels.js';

export type BackendPreference = 'auto' | 'wasm' | 'cpu' | 'tensorflow';

export interface BackendInfo {
  /** tfjs backend name: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** Compute threads the backend uses (tfjs-wasm in Node is single-threaded). */
  threads: number;
  /** What was tried and unavailable before `name` was chosen, if anything. */
  note?: string;
}

/** Native packages, in the order 'auto' and 'tensorflow' try them. */
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** One initialisation per preference; concurrent callers share it, a failed one may be retried. */
const initialised = new Map<BackendPreference, Promise<BackendInfo>>();

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/** True when `pkg` itself is absent (not when it is installed but one of its own files or bindings fails). */
function isNotInstalled(e: unknown, pkg: string): boolean {
  if (!(e instanceof Error)) return false;
  return e.message.includes(`Cannot find package '${pkg}'`) || e.message.includes(`Cannot find module '${pkg}'`);
}

/** Imports a package by a non-literal specifier so TypeScript and bundlers do not require it to exist. */
async function importOptional(specifier: string): Promise<unknown> {
  // TensorFlow's C++ INFO lines (CPU features, …) on every start; its two static-initialisation lines (absl,
  // oneDNN) are printed before any setting is read and stay
  if (specifier.startsWith('@tensorflow/tfjs-node')) process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  return import(specifier);
}

async function activate(name: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    throw new Error(`tf.setBackend('${name}') failed: ${reason(e)}`, { cause: e });
  }
  if (!ok || tf.getBackend() !== name) throw new Error(`tf.setBackend('${name}') failed to initialise the backend`);
}

/**
 * Why the native backend, for the run log: which package, the TensorFlow version, and what was unavailable.
 * Native TensorFlow is preferred because it fine-tunes about 7× faster than WASM (bench/README.md).
 */
function nativeNote(pkg: string, skipped: string[]): string {
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  const version = binding?.TF_Version ? ` (TensorFlow ${binding.TF_Version})` : '';
  return (
    `native TensorFlow via ${pkg}${version}` +
    (skipped.length ? `; unavailable: ${skipped.join('; ')}` : '') +
    '; preferred over WASM: about 7× faster fine-tuning (bench/README.md)'
  );
}

/**
 * Why `pkg` cannot load without importing it, or undefined when it may. Importing a tfjs-node package whose addon
 * was never built (npm skips its download here) registers all its kernels before failing, and the package tried
 * next then prints one "kernel … is already registered" line per kernel (155).
 */
function unbuilt(pkg: string): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch {
    return 'not installed';
  }
  const lib = path.join(dir, 'lib');
  const built =
    existsSync(lib) &&
    readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(path.join(lib, d, 'tfjs_binding.node')));
  return built ? undefined : `installed without its native addon: no ${path.join(lib, 'napi-v*/tfjs_binding.node')}`;
}

/** Tries tfjs-node-gpu, then tfjs-node; returns the package used, or throws with what went wrong for each. */
async function loadNative(): Promise<{ pkg: string; skipped: string[] }> {
  const skipped: string[] = [];
  for (const pkg of NATIVE_PACKAGES) {
    const missing = unbuilt(pkg);
    if (missing !== undefined) {
      skipped.push(`${pkg} (${missing})`);
      continue;
    }
    try {
      await importOptional(pkg);
      if (tf.findBackend('tensorflow') === null) throw new Error("it did not register a 'tensorflow' backend");
      registerNativeKernels();
      await activate('tensorflow');
      return { pkg, skipped };
    } catch (e) {
      skipped.push(`${pkg} (${isNotInstalled(e, pkg) ? 'not installed' : reason(e)})`);
    }
  }
  throw new Error(skipped.join('; '));
}

async function activateWasm(): Promise<BackendInfo> {
  registerWasmKernels();
  await activate('wasm');
  return { name: 'wasm', threads: getThreadsCount() };
}

async function activateCpu(): Promise<BackendInfo> {
  await activate('cpu');
  return { name: 'cpu', threads: 1 };
}

async function choose(preference: BackendPreference): Promise<BackendInfo> {
  switch (preference) {
    case 'cpu':
      try {
        return await activateCpu();
      } catch (e) {
        throw new BackendError(`backend 'cpu' could not be initialised: ${reason(e)}`, { cause: e });
      }
    case 'wasm':
      try {
        return await activateWasm();
      } catch (e) {
        throw new BackendError(`backend 'wasm' could not be initialised: ${reason(e)}`, { cause: e });
      }
    case 'tensorflow':
      try {
        const { pkg, skipped } = await loadNative();
        return { name: 'tensorflow', threads: availableParallelism(), note: nativeNote(pkg, skipped) };
      } catch (e) {
        throw new BackendError(
          `backend 'tensorflow' could not be loaded: ${reason(e)}. Install @tensorflow/tfjs-node or ` +
            `@tensorflow/tfjs-node-gpu (offline: scripts/tfjs-native.sh builds it from PyPI's TensorFlow), ` +
            `or choose 'wasm' or 'cpu'`,
          { cause: e },
        );
      }
    case 'auto': {
      const unavailable: string[] = [];
      try {
        const { pkg, skipped } = await loadNative();
        return { name: 'tensorflow', threads: availableParallelism(), note: `auto: ${nativeNote(pkg, skipped)}` };
      } catch (e) {
        unavailable.push(reason(e));
      }
      try {
        const info = await activateWasm();
        return {
          ...info,
          note:
            `auto: the native backend is unavailable (${unavailable.join('; ')}; scripts/tfjs-native.sh builds ` +
            `tfjs-node offline), so WASM`,
        };
      } catch (e) {
        unavailable.push(`wasm (${reason(e)})`);
      }
      try {
        const info = await activateCpu();
        return { ...info, note: `unavailable: ${unavailable.join('; ')}` };
      } catch (e) {
        throw new BackendError(`no tfjs backend could be initialised: ${unavailable.join('; ')}; cpu (${reason(e)})`, {
          cause: e,
        });
      }
    }
    default: {
      const never: never = preference;
      throw new BackendError(`unknown backend '${String(never)}' (expected auto, wasm, cpu or tensorflow)`);
    }
  }
}

/**
 * Selects and initialises a tfjs backend, registers the double-backprop gradients and, for 'wasm', the
 * kernel fixes. 'auto' tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order and says in `note` what was
 * unavailable; an explicit preference that cannot be loaded throws `BackendError` (never a silent fallback).
 * Idempotent: a repeated (or concurrent) call with the same preference returns the same info without
 * re-initialising, re-selecting the backend if something switched it meanwhile.
 */
export async function initBackend(preference: BackendPreference = 'auto'): Promise<BackendInfo> {
  registerGradients();
  let pending = initialised.get(preference);
  if (pending === undefined) {
    pending = choose(preference);
    initialised.set(preference, pending);
    pending.catch(() => initialised.delete(preference));
  }
  const info = await pending;
  if (tf.getBackend() !== info.name) {
    // Something switched backends since (e.g. another preference); select this one again.
    if (info.name === 'wasm') registerWasmKernels();
    if (info.name === 'tensorflow') registerNativeKernels();
    await activate(info.name);
  }
  return { ...info };
}
