/**
 * Test helper (not exported from the package index): makes the native 'tensorflow' backend available by
 * running scripts/tfjs-native.sh (builds tfjs-node's addon against PyPI's TensorFlow on first use, about
 * 1.5 min; later only re-places the cached package, seconds). Throws, never skips, when it cannot.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Runs scripts/tfjs-native.sh; returns the placed package directory. */
export function ensureNativeBackend(): string {
  const out = execFileSync(path.join(REPO, 'scripts/tfjs-native.sh'), [], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 900_000,
  });
  return out.trim().split('\n').pop() ?? '';
}
