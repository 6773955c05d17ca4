/** Test helper: the Keras-made fixtures (scripts/keras-fixtures.sh; first run installs TensorFlow into .cache/). */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

/** Directory of the fixtures, generated on first use (minutes), cached under .cache/keras-fixtures. */
export function kerasFixtures(): string {
  const out = execFileSync(path.join(REPO, 'scripts/keras-fixtures.sh'), [], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 1_800_000,
  });
  return out.trim().split('\n').pop()!;
}

export function relMaxError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(a[i] - ref[i]));
    den = Math.max(den, Math.abs(ref[i]));
  }
  return num / (den || 1);
}
