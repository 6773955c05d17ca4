/**
 * Fingerprints of the inputs a stage consumed, for content-addressed cache keys: files by relative path,
 * size and modification time (stat only — reading every image or a multi-GB word2vec file to hash it would
 * cost more than most cached stages save; a file rewritten in place keeps neither size nor mtime in practice).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { canonicalJson } from './hash.js';

/** `path size mtimeMs` of one file (relative to `base` when given); a missing file is `path missing`. */
async function statLine(file: string, base: string | undefined): Promise<string> {
  const name = base ? path.relative(base, file) : file;
  try {
    const st = await fs.stat(file);
    return `${name}\t${st.size}\t${st.mtimeMs}`;
  } catch {
    return `${name}\tmissing`;
  }
}

/**
 * SHA-256 (hex, 32 chars) of the files' relative paths, sizes and mtimes, in the order given, plus `extra`
 * (options that change what is read from them, e.g. a resize mode). Stats run 64 at a time.
 */
export async function fingerprintFiles(
  files: readonly string[],
  options: { readonly base?: string; readonly extra?: unknown } = {},
): Promise<string> {
  const lines = new Array<string>(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      lines[i] = await statLine(files[i], options.base);
    }
  };
  await Promise.all(Array.from({ length: Math.min(64, files.length) }, worker));
  const h = createHash('sha256');
  if (options.extra !== undefined) h.update(`${canonicalJson(options.extra)}\n`);
  for (const l of lines) h.update(`${l}\n`);
  return h.digest('hex').slice(0, 32);
}

/** SHA-256 (hex, 32 chars) of a value's canonical JSON (a generator's version and options). */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 32);
}

/** SHA-256 (hex, 32 chars) of a file's bytes (a plugin's module file: small, and edits must count). */
export async function fingerprintContent(file: string): Promise<string> {
  return createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex')
    .slice(0, 32);
}
