/**
 * Writers of the word2vec binary and text formats, byte for byte as `word2vec.c` writes them (checked
 * against `scripts/word2vec-write.py`). Streamed, so tests and users can write files larger than memory.
 */
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export interface WriteWord2VecOptions {
  readonly format: 'binary' | 'text';
  /** gzip the output (`.bin.gz`). */
  readonly gzip?: boolean;
  /** Binary: write `\n` after each vector as word2vec.c does (default true). */
  readonly newline?: boolean;
  /** Text: write the `"<vocab> <dim>"` header (default true; GloVe files have none). */
  readonly header?: boolean;
}

export type Word2VecEntry = readonly [word: string, vector: ArrayLike<number>];

async function put(out: Writable, data: Buffer | string): Promise<void> {
  if (!out.write(data)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}

/** Encodes one binary record: word, space, little-endian float32 values, optional newline. */
export function binaryRecord(word: string, vector: ArrayLike<number>, newline = true): Buffer {
  const w = Buffer.from(word, 'utf8');
  const buf = Buffer.alloc(w.length + 1 + vector.length * 4 + (newline ? 1 : 0));
  w.copy(buf, 0);
  buf[w.length] = 0x20;
  for (let i = 0; i < vector.length; i++) buf.writeFloatLE(vector[i], w.length + 1 + i * 4);
  if (newline) buf[buf.length - 1] = 0x0a;
  return buf;
}

/** Formats a float32 value for the text format (shortest round-trip of the float32). */
function textValue(x: number): string {
  return String(Math.fround(x));
}

/**
 * Writes `vocab` entries of `dim` values. `entries` may be a generator, so nothing but one record is
 * held in memory; the count must match the header.
 */
export async function writeWord2Vec(
  file: string,
  header: { vocab: number; dim: number },
  entries: Iterable<Word2VecEntry>,
  opts: WriteWord2VecOptions,
): Promise<void> {
  const fileStream = createWriteStream(file);
  const gz = opts.gzip ? createGzip() : undefined;
  if (gz) gz.pipe(fileStream);
  const out: Writable = gz ?? fileStream;
  try {
    await writeRecords(out, header, entries, opts);
  } catch (e) {
    out.destroy();
    fileStream.destroy();
    throw e;
  }
  out.end();
  await finished(fileStream);
}

async function writeRecords(
  out: Writable,
  header: { vocab: number; dim: number },
  entries: Iterable<Word2VecEntry>,
  opts: WriteWord2VecOptions,
): Promise<void> {
  const writeHeader = opts.format === 'binary' || (opts.header ?? true);
  if (writeHeader) await put(out, `${header.vocab} ${header.dim}\n`);
  let n = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for (const [word, vec] of entries) {
    if (vec.length !== header.dim)
      throw new RangeError(`word "${word}" has ${vec.length} values, header dim is ${header.dim}`);
    const rec =
      opts.format === 'binary'
        ? binaryRecord(word, vec, opts.newline ?? true)
        : Buffer.from(`${word} ${Array.from(vec, textValue).join(' ')}\n`, 'utf8');
    pending.push(rec);
    pendingBytes += rec.length;
    if (pendingBytes >= 1 << 20) {
      await put(out, Buffer.concat(pending));
      pending = [];
      pendingBytes = 0;
    }
    n++;
  }
  if (pendingBytes > 0) await put(out, Buffer.concat(pending));
  if (n !== header.vocab) throw new RangeError(`${n} entries written, header says ${header.vocab}`);
}
