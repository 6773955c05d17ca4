/** Test fixtures: temp folders, the independent Python word2vec writer, a tiny hand-checkable vocabulary. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
export const PY_WRITER = path.join(REPO, 'scripts/word2vec-write.py');

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `niwt-dk-${prefix}-`));
}

/** Writes a word2vec file with `scripts/word2vec-write.py` (Python `struct`, independent of our writer). */
export function pyWrite(
  out: string,
  format: 'binary' | 'text',
  words: readonly string[],
  vectors: readonly (readonly number[])[],
  flags: string[] = [],
): string {
  execFileSync('python3', [PY_WRITER, out, format, ...flags], { input: JSON.stringify({ words, vectors }) });
  return out;
}

/** Small vocabulary with values exact in float32, so means can be asserted to the last digit. */
export const VOCAB: Readonly<Record<string, readonly number[]>> = {
  this: [0, 0, 1],
  bird: [1, 0, 0],
  red: [0, 2, 0],
  wings: [0.5, 0.5, 0.5],
  has: [0, 0, -1],
  small: [2, 2, 2],
  Blue: [0, 0, 4],
  "bird's": [-1, 1, 0],
};
export const VOCAB_WORDS = Object.keys(VOCAB);
export const VOCAB_VECTORS = VOCAB_WORDS.map((w) => VOCAB[w]);
