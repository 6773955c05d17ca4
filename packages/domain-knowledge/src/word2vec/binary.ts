/**
 * Incremental parser of the word2vec binary format (`word2vec.c`): an ASCII header `"<vocab> <dim>\n"`,
 * then per word its bytes, one space, `dim` little-endian float32 and an optional `\n`. Chunks may split
 * a word or a vector anywhere; unwanted vectors are skipped without copying.
 */
import { FormatError } from '@niwt/core';
import type { WordSelector } from './select.js';

/** A header longer than this is not a word2vec header. */
const MAX_HEADER_BYTES = 256;
/** No real word is this long; hitting it means the stream is out of step (a wrong dim in the header). */
const MAX_WORD_BYTES = 4096;
const SPACE = 0x20;
const NEWLINE = 0x0a;

export interface Word2VecHeader {
  readonly vocab: number;
  readonly dim: number;
}

/** Parses `"<vocab> <dim>"`; undefined when the line is not such a header. */
export function parseHeaderLine(line: string): Word2VecHeader | undefined {
  const m = /^\s*(\d+)[ \t]+(\d+)\s*$/.exec(line);
  if (!m) return undefined;
  const vocab = Number(m[1]);
  const dim = Number(m[2]);
  if (!Number.isSafeInteger(vocab) || !Number.isSafeInteger(dim) || dim < 1) return undefined;
  return { vocab, dim };
}

function printable(bytes: Buffer): string {
  const s = bytes.toString('latin1').replace(/[^\x20-\x7e]/g, '?');
  return s.length > 40 ? `${s.slice(0, 40)}…` : s;
}

export class BinaryParser {
  private state: 'header' | 'word' | 'vector' | 'done' = 'header';
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** Bytes consumed before the current chunk (offsets in messages are in the decompressed stream). */
  private base = 0;
  private word = '';
  private wordStart = 0;
  private vecBuf: Buffer | undefined;
  private vecFilled = 0;
  private vecRemaining = 0;
  header: Word2VecHeader | undefined;
  wordsRead = 0;

  constructor(
    private readonly file: string,
    private readonly select: WordSelector,
    private readonly expectedDim?: number,
  ) {}

  private fail(message: string): never {
    throw new FormatError(`${this.file}: ${message}`);
  }

  /** Consumes a chunk; returns true when nothing more is needed (all words read, or all found). */
  push(chunk: Buffer): boolean {
    let pos = 0;
    const n = chunk.length;
    while (pos < n && this.state !== 'done') {
      if (this.state === 'header') pos = this.readHeader(chunk, pos);
      else if (this.state === 'word') pos = this.readWord(chunk, pos);
      else pos = this.readVector(chunk, pos);
    }
    this.base += n;
    return this.state === 'done';
  }

  /** Called at end of stream: a file that ends mid-word, mid-vector or before `vocab` words is truncated. */
  end(): void {
    const at = this.base;
    if (this.state === 'header') {
      this.fail(
        `wrong header "${printable(Buffer.concat(this.carry))}" (file ends at byte ${at} before a newline); ` +
          `expected "<vocab size> <dim>\\n" (word2vec binary)`,
      );
    }
    if (this.state === 'vector') {
      const got = this.vecBuf ? this.vecFilled : this.header!.dim * 4 - this.vecRemaining;
      this.fail(
        `truncated vector of word "${this.word}" (word ${this.wordsRead + 1}, starting at byte ` +
          `${this.wordStart}): file ends at byte ${at} after ${got} of ${this.header!.dim * 4} bytes`,
      );
    }
    if (this.state === 'word' && this.wordsRead < this.header!.vocab) {
      this.fail(
        `truncated: the header announces ${this.header!.vocab} words but the file ends at byte ${at} after ` +
          `${this.wordsRead}`,
      );
    }
  }

  private readHeader(chunk: Buffer, pos: number): number {
    const nl = chunk.indexOf(NEWLINE, pos);
    const end = nl < 0 ? chunk.length : nl;
    this.carry.push(Buffer.from(chunk.subarray(pos, end)));
    this.carryBytes += end - pos;
    if (this.carryBytes > MAX_HEADER_BYTES) {
      this.fail(
        `wrong header "${printable(Buffer.concat(this.carry))}" (no newline in the first ${MAX_HEADER_BYTES} ` +
          `bytes); expected "<vocab size> <dim>\\n" (word2vec binary)`,
      );
    }
    if (nl < 0) return chunk.length;
    const bytes = Buffer.concat(this.carry);
    this.carry = [];
    this.carryBytes = 0;
    const header = parseHeaderLine(bytes.toString('latin1'));
    if (!header)
      this.fail(`wrong header "${printable(bytes)}" at line 1; expected "<vocab size> <dim>\\n" (word2vec binary)`);
    if (this.expectedDim !== undefined && header.dim !== this.expectedDim) {
      this.fail(`dim mismatch: the header says ${header.dim}, expected ${this.expectedDim}`);
    }
    this.header = header;
    this.state = header.vocab === 0 ? 'done' : 'word';
    return nl + 1;
  }

  private readWord(chunk: Buffer, pos: number): number {
    if (this.carryBytes === 0) {
      while (pos < chunk.length && chunk[pos] === NEWLINE) pos++;
      if (pos === chunk.length) return pos;
      this.wordStart = this.base + pos;
    }
    const sp = chunk.indexOf(SPACE, pos);
    const end = sp < 0 ? chunk.length : sp;
    if (this.carryBytes + (end - pos) > MAX_WORD_BYTES) this.outOfStep(`no space within ${MAX_WORD_BYTES} bytes`);
    if (chunk.subarray(pos, end).includes(0)) this.outOfStep('a NUL byte inside a word');
    if (sp < 0) {
      // copied: a stream may reuse its buffers
      this.carry.push(Buffer.from(chunk.subarray(pos)));
      this.carryBytes += chunk.length - pos;
      return chunk.length;
    }
    if (this.carryBytes === 0) {
      this.word = chunk.toString('utf8', pos, sp);
    } else {
      this.carry.push(chunk.subarray(pos, sp));
      this.word = Buffer.concat(this.carry).toString('utf8');
      this.carry = [];
      this.carryBytes = 0;
    }
    const bytes = this.header!.dim * 4;
    if (this.select.wants(this.word)) {
      this.vecBuf = Buffer.allocUnsafe(bytes);
      this.vecFilled = 0;
    } else {
      this.vecBuf = undefined;
      this.vecRemaining = bytes;
    }
    this.state = 'vector';
    return sp + 1;
  }

  private outOfStep(what: string): never {
    this.fail(
      `word ${this.wordsRead + 1} starting at byte ${this.wordStart} is not text (${what}); ` +
        `the file is corrupt, or its vectors do not have the ${this.header!.dim} values the header says (dim mismatch)`,
    );
  }

  private readVector(chunk: Buffer, pos: number): number {
    const available = chunk.length - pos;
    if (this.vecBuf) {
      const take = Math.min(available, this.vecBuf.length - this.vecFilled);
      chunk.copy(this.vecBuf, this.vecFilled, pos, pos + take);
      this.vecFilled += take;
      if (this.vecFilled < this.vecBuf.length) return pos + take;
      const v = new Float32Array(this.header!.dim);
      for (let i = 0; i < v.length; i++) v[i] = this.vecBuf.readFloatLE(i * 4);
      this.select.accept(this.word, v);
      this.vecBuf = undefined;
      this.finishWord();
      return pos + take;
    }
    const take = Math.min(available, this.vecRemaining);
    this.vecRemaining -= take;
    if (this.vecRemaining === 0) this.finishWord();
    return pos + take;
  }

  private finishWord(): void {
    this.wordsRead++;
    this.state = this.wordsRead >= this.header!.vocab || this.select.complete() ? 'done' : 'word';
  }
}
