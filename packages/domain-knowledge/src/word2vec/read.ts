/**
 * Streams a word2vec file (`.bin`, `.bin.gz`, text, text.gz) and keeps only the requested words.
 * The file is never buffered whole: a 3.6 GB GoogleNews file is read in 1 MiB chunks and memory stays
 * at a few chunks plus the kept vectors. Reading stops early once every word has its exact vector.
 */
import { createReadStream, promises as fs } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { DatasetError, FormatError } from '@niwt/core';
import { BinaryParser, parseHeaderLine } from './binary.js';
import { TextParser } from './text.js';
import { WordSelector } from './select.js';

export type Word2VecFormat = 'binary' | 'text';

export interface ReadWord2VecOptions {
  /** `auto`: decided by the content (`detectFormat`), whatever the file is named. */
  readonly format?: Word2VecFormat | 'auto';
  /** Try a case-insensitive match when the exact word is absent (default true). */
  readonly lowercaseFallback?: boolean;
  /** Refuse a file whose dim differs (a cached or configured expectation). */
  readonly dim?: number;
  /** Called after each chunk with the bytes read from disk so far (compressed bytes for .gz). */
  readonly onProgress?: (bytesRead: number, totalBytes: number) => void;
  /** Read size; 1 MiB by default. */
  readonly chunkBytes?: number;
}

export interface Word2VecVectors {
  readonly file: string;
  readonly format: Word2VecFormat;
  readonly gzip: boolean;
  readonly dim: number;
  /** Words announced by the header (binary, or text with a header); undefined for headerless text. */
  readonly vocabSize?: number;
  /** File words looked at before stopping. */
  readonly wordsScanned: number;
  /** One vector per requested word that was found (exact or fallback), keyed by the requested word. */
  readonly vectors: ReadonlyMap<string, Float32Array>;
  readonly matchedExact: number;
  readonly matchedFallback: number;
  /** True when every requested word matched exactly before the end of the file. */
  readonly stoppedEarly: boolean;
  readonly bytesRead: number;
  readonly fileBytes: number;
  readonly seconds: number;
}

const GZIP_MAGIC = [0x1f, 0x8b];

async function isGzip(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === GZIP_MAGIC[0] && buf[1] === GZIP_MAGIC[1];
  } finally {
    await fh.close();
  }
}

/** Bytes of the (decompressed) start of a file that `detectFormat` looks at. */
const SNIFF_BYTES = 1 << 20;

async function head(file: string, gzip: boolean): Promise<Buffer> {
  const raw = createReadStream(file, { start: 0, end: gzip ? undefined : SNIFF_BYTES - 1 });
  const gunzip = gzip ? createGunzip() : undefined;
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of (gunzip ? raw.pipe(gunzip) : raw) as AsyncIterable<Buffer>) {
      chunks.push(c);
      n += c.length;
      if (n >= SNIFF_BYTES) break;
    }
  } catch {
    // a corrupt gzip stream is reported by the full read with its own message
  } finally {
    raw.destroy();
    gunzip?.destroy();
  }
  return Buffer.concat(chunks).subarray(0, SNIFF_BYTES);
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Text or binary word2vec, from the content: binary files always start with a `"<vocab> <dim>"` header and
 * then raw float32 bytes; a text file's first vector line is a word and `dim` decimal numbers. So: no header →
 * text; a header followed by a line of a word and exactly `dim` numbers → text; otherwise binary. A first line
 * that is neither a header nor a vector line falls back to the name.
 */
export async function detectFormat(file: string, gzip?: boolean): Promise<Word2VecFormat> {
  const b = await head(file, gzip ?? (await isGzip(file)));
  const nl = b.indexOf(10);
  const first = b
    .subarray(0, nl < 0 ? b.length : nl)
    .toString('latin1')
    .trim();
  const header = parseHeaderLine(first);
  if (!header) {
    // headerless text starts with a vector line; anything else is unreadable either way, and the name picks
    // the parser whose message fits ("wrong header" for a .bin)
    const tokens = first.split(/\s+/);
    return (tokens.length > 2 && tokens.slice(1).every((t) => NUMBER.test(t))) || !/\.bin(\.gz)?$/i.test(file)
      ? 'text'
      : 'binary';
  }
  const rest = b.subarray(nl + 1);
  const end = rest.indexOf(10);
  const tokens = rest
    .subarray(0, end < 0 ? rest.length : end)
    .toString('latin1')
    .trim()
    .split(/\s+/);
  return tokens.length === header.dim + 1 && tokens.slice(1).every((t) => NUMBER.test(t)) ? 'text' : 'binary';
}

export async function readWord2Vec(
  file: string,
  words: Iterable<string>,
  opts: ReadWord2VecOptions = {},
): Promise<Word2VecVectors> {
  const t0 = performance.now();
  let stat;
  try {
    stat = await fs.stat(file);
  } catch {
    throw new DatasetError(`${file}: word2vec file not found; expected a word2vec .bin, .bin.gz or text file`);
  }
  if (!stat.isFile()) throw new DatasetError(`${file}: not a file; expected a word2vec .bin, .bin.gz or text file`);
  const gzip = await isGzip(file);
  const format = !opts.format || opts.format === 'auto' ? await detectFormat(file, gzip) : opts.format;
  const select = new WordSelector(words, opts.lowercaseFallback ?? true);
  const parser =
    format === 'binary' ? new BinaryParser(file, select, opts.dim) : new TextParser(file, select, opts.dim);

  const raw = createReadStream(file, { highWaterMark: opts.chunkBytes ?? 1 << 20 });
  let bytesRead = 0;
  raw.on('data', (c: Buffer | string) => {
    bytesRead += c.length;
    opts.onProgress?.(bytesRead, stat.size);
  });
  const chunkBytes = opts.chunkBytes ?? 1 << 20;
  const gunzip = gzip ? createGunzip({ chunkSize: Math.max(64, chunkBytes) }) : undefined;
  const source = gunzip ? raw.pipe(gunzip) : raw;
  let stoppedEarly = false;
  try {
    outer: for await (const chunk of source as AsyncIterable<Buffer>) {
      // gunzip emits at least 64 bytes; slicing keeps `chunkBytes` exact (tests split words and vectors anywhere)
      for (let at = 0; at < chunk.length; at += chunkBytes) {
        if (parser.push(chunk.subarray(at, at + chunkBytes))) {
          stoppedEarly = true;
          break outer;
        }
      }
    }
    if (!stoppedEarly) parser.end();
  } catch (e) {
    if (e instanceof FormatError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (gunzip && (err.code?.startsWith('Z_') ?? false)) {
      throw new FormatError(
        `${file}: corrupt gzip data after ${bytesRead} bytes (${err.message}); expected a complete .gz file`,
        { cause: e },
      );
    }
    throw new DatasetError(`${file}: cannot read word2vec file (${err.message})`, { cause: e });
  } finally {
    raw.destroy();
    gunzip?.destroy();
  }
  const header = parser.header;
  const dim = format === 'binary' ? header!.dim : (parser as TextParser).dim!;
  const { vectors, exact, fallback } = select.resolve();
  return {
    file,
    format,
    gzip,
    dim,
    vocabSize: header?.vocab,
    wordsScanned: parser.wordsRead,
    vectors,
    matchedExact: exact,
    matchedFallback: fallback,
    stoppedEarly: stoppedEarly && select.complete(),
    bytesRead,
    fileBytes: stat.size,
    seconds: (performance.now() - t0) / 1000,
  };
}
