/**
 * Incremental parser of the word2vec text format: an optional header `"<vocab> <dim>"` (GloVe has
 * none; then the first line fixes dim), then `word v1 … vD` per line. Lines are found in the raw bytes
 * (a `\n` byte never occurs inside a UTF-8 sequence) and only the word is decoded, so no chunk-sized
 * strings are built; only kept words' lines are split into numbers.
 */
import { FormatError } from '@niwt/core';
import { parseHeaderLine, type Word2VecHeader } from './binary.js';
import type { WordSelector } from './select.js';

const NEWLINE = 0x0a;
const SPACE = 0x20;
/** A longer line means this is not a text word2vec file (e.g. a binary one read as text). */
const MAX_LINE_BYTES = 16 << 20;

export class TextParser {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  private line = 0;
  private done = false;
  header: Word2VecHeader | undefined;
  dim: number | undefined;
  /** Line where dim was fixed (1 for a header or the first GloVe line). */
  private dimLine = 0;
  wordsRead = 0;

  constructor(
    private readonly file: string,
    private readonly select: WordSelector,
    private readonly expectedDim?: number,
  ) {}

  private fail(line: number, message: string): never {
    throw new FormatError(`${this.file}:${line}: ${message}`);
  }

  /** Consumes a chunk; returns true when nothing more is needed. */
  push(chunk: Buffer): boolean {
    let start = 0;
    if (this.carryBytes > 0) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl < 0) {
        this.keep(chunk);
        return false;
      }
      this.carry.push(chunk.subarray(0, nl));
      const line = Buffer.concat(this.carry);
      this.carry = [];
      this.carryBytes = 0;
      this.onLine(line, 0, line.length);
      start = nl + 1;
    }
    while (!this.done) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl < 0) {
        if (start < chunk.length) this.keep(chunk.subarray(start));
        break;
      }
      this.onLine(chunk, start, nl);
      start = nl + 1;
    }
    return this.done;
  }

  private keep(part: Buffer): void {
    // copy: the stream may reuse its buffers
    this.carry.push(Buffer.from(part));
    this.carryBytes += part.length;
    if (this.carryBytes > MAX_LINE_BYTES)
      this.fail(
        this.line + 1,
        `line longer than ${MAX_LINE_BYTES >> 20} MiB; not a word2vec text file (set format: binary for a binary one)`,
      );
  }

  end(): void {
    if (!this.done && this.carryBytes > 0) {
      const line = Buffer.concat(this.carry);
      this.carry = [];
      this.carryBytes = 0;
      this.onLine(line, 0, line.length);
    }
    if (this.dim === undefined)
      this.fail(this.line, 'no vectors; expected an optional "<vocab size> <dim>" header and lines "word v1 … vD"');
    if (!this.done && this.header && this.wordsRead < this.header.vocab) {
      this.fail(
        this.line,
        `truncated: the header announces ${this.header.vocab} words but the file ends after ${this.wordsRead}`,
      );
    }
  }

  private onLine(buf: Buffer, s: number, e: number): void {
    this.line++;
    while (e > s && (buf[e - 1] === SPACE || buf[e - 1] === 0x0d || buf[e - 1] === 0x09)) e--;
    if (e === s) return;
    if (this.line === 1) {
      if (buf[s] === 0xef && buf[s + 1] === 0xbb && buf[s + 2] === 0xbf) s += 3;
      const header = e - s <= 64 ? parseHeaderLine(buf.toString('latin1', s, e)) : undefined;
      if (header) {
        this.header = header;
        this.setDim(header.dim, 1);
        if (header.vocab === 0) this.done = true;
        return;
      }
    }
    const sp = buf.indexOf(SPACE, s);
    if (sp <= s || sp >= e)
      this.fail(this.line, `"${buf.toString('utf8', s, Math.min(e, s + 40))}" is not "word v1 … vD"`);
    if (this.dim === undefined) this.setDim(countValues(buf, sp, e), this.line);
    const word = buf.toString('utf8', s, sp);
    this.wordsRead++;
    if (this.select.wants(word)) this.select.accept(word, this.parseValues(word, buf.toString('latin1', sp + 1, e)));
    if ((this.header && this.wordsRead >= this.header.vocab) || this.select.complete()) this.done = true;
  }

  private setDim(dim: number, line: number): void {
    if (this.expectedDim !== undefined && dim !== this.expectedDim) {
      this.fail(
        line,
        `dim mismatch: ${line === 1 && this.header ? 'the header says' : 'the first vector has'} ${dim}, ` +
          `expected ${this.expectedDim}`,
      );
    }
    this.dim = dim;
    this.dimLine = line;
  }

  private parseValues(word: string, rest: string): Float32Array {
    const fields = rest.split(' ');
    if (fields.length !== this.dim) {
      this.fail(
        this.line,
        `word "${word}" has ${fields.length} values, expected ${this.dim} (dim mismatch with line ${this.dimLine})`,
      );
    }
    const v = new Float32Array(fields.length);
    for (let i = 0; i < fields.length; i++) {
      const x = fields[i] === '' ? NaN : Number(fields[i]);
      if (!Number.isFinite(x))
        this.fail(this.line, `value ${i + 1} "${fields[i].slice(0, 20)}" of word "${word}" is not a number`);
      v[i] = x;
    }
    return v;
  }
}

/** Values after the word: spaces from the word's space to the (trimmed) line end. */
function countValues(buf: Buffer, firstSpace: number, end: number): number {
  let n = 1;
  for (let i = buf.indexOf(SPACE, firstSpace + 1); i >= 0 && i < end; i = buf.indexOf(SPACE, i + 1)) n++;
  return n;
}
