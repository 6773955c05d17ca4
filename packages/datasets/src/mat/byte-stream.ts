/**
 * A pull reader over a stream of byte chunks (a file region, or its zlib inflation). Small reads are
 * copied out; big payloads are handed over chunk by chunk, so a 600 MB variable never sits in one
 * Buffer next to its compressed bytes.
 */
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import zlib from 'node:zlib';

const CHUNK = 1 << 20;

/** Thrown when the stream ends before `need` more bytes; the MAT reader turns it into a FormatError. */
export class EndOfData extends Error {
  constructor(readonly at: number) {
    super(`unexpected end of data at byte ${at}`);
  }
}

export class ByteStream {
  private readonly queue: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  /** Bytes consumed so far. */
  position = 0;

  constructor(
    private readonly source: AsyncIterator<Buffer>,
    private readonly stop: () => void,
  ) {}

  /** Exactly `n` bytes (a copy when they span chunks). */
  async read(n: number): Promise<Buffer> {
    if (n === 0) return Buffer.alloc(0);
    while (this.buffered < n) await this.pull(n);
    const first = this.queue[0];
    let out: Buffer;
    if (first.length - this.head >= n) {
      out = first.subarray(this.head, this.head + n);
    } else {
      out = Buffer.allocUnsafe(n);
      let k = 0;
      for (let i = 0; k < n; i++) {
        const c = this.queue[i];
        const from = i === 0 ? this.head : 0;
        const take = Math.min(c.length - from, n - k);
        c.copy(out, k, from, from + take);
        k += take;
      }
    }
    this.consume(n);
    return out;
  }

  /** Calls `sink` with consecutive pieces that total `n` bytes, without gathering them. */
  async take(n: number, sink: (piece: Buffer) => void): Promise<void> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0) await this.pull(left);
      const first = this.queue[0];
      const piece = first.subarray(this.head, this.head + Math.min(left, first.length - this.head));
      sink(piece);
      this.consume(piece.length);
      left -= piece.length;
    }
  }

  async skip(n: number): Promise<void> {
    await this.take(n, () => undefined);
  }

  /** Consumes the rest of the stream (so zlib verifies its checksum); returns how many bytes were left. */
  async drain(): Promise<number> {
    let left = this.buffered;
    this.queue.length = 0;
    this.head = 0;
    this.buffered = 0;
    for (let r = await this.source.next(); !r.done; r = await this.source.next()) left += r.value.length;
    return left;
  }

  close(): void {
    this.stop();
  }

  private async pull(need: number): Promise<void> {
    const r = await this.source.next();
    if (r.done) throw new EndOfData(this.position + Math.min(need, this.buffered));
    if (r.value.length === 0) return;
    this.queue.push(r.value);
    this.buffered += r.value.length;
  }

  private consume(n: number): void {
    this.buffered -= n;
    this.position += n;
    this.head += n;
    while (this.queue.length > 0 && this.head >= this.queue[0].length) {
      this.head -= this.queue[0].length;
      this.queue.shift();
    }
  }
}

/** `length` bytes of `file` from `start`, optionally zlib-inflated on the way. */
export function fileRegion(file: string, start: number, length: number, inflate: boolean): ByteStream {
  if (length === 0) return new ByteStream([][Symbol.iterator]() as unknown as AsyncIterator<Buffer>, () => undefined);
  const raw = createReadStream(file, { start, end: start + length - 1, highWaterMark: CHUNK });
  let stream: Readable = raw;
  if (inflate) {
    const z = zlib.createInflate({ chunkSize: CHUNK });
    stream = pipeline(raw, z, () => undefined);
  }
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ByteStream(iterator, () => {
    raw.destroy();
    stream.destroy();
  });
}
