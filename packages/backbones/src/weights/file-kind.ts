/**
 * What a file is, from its first bytes (not its name): HDF5 (with its end-of-file address, to catch
 * truncated copies before h5wasm prints its diagnostics), zip (a Keras 3 `.keras` archive), gzip, JSON,
 * NumPy, text or unknown binary, for messages that say what a wrong file looks like.
 */
import { promises as fs } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { FormatError } from '@niwt/core';

const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export type FileKind =
  | { readonly kind: 'hdf5'; readonly offset: number; readonly eof?: number }
  | { readonly kind: 'zip' | 'gzip' | 'json' | 'npy' | 'text' | 'binary' | 'empty' };

/** A short phrase for messages: what the file looks like. */
export function describeKind(k: FileKind): string {
  switch (k.kind) {
    case 'hdf5':
      return 'an HDF5 file';
    case 'zip':
      return 'a zip archive (a Keras 3 .keras file is one)';
    case 'gzip':
      return 'gzip-compressed data';
    case 'json':
      return 'JSON text';
    case 'npy':
      return 'a NumPy .npy array';
    case 'text':
      return 'a text file';
    case 'empty':
      return 'an empty file';
    default:
      return 'binary data of an unknown kind';
  }
}

function readUint(buf: Buffer, at: number, size: number): number | undefined {
  if (at + size > buf.length) return undefined;
  let v = 0;
  for (let i = size - 1; i >= 0; i--) v = v * 256 + buf[at + i];
  return v;
}

/** Detects the kind of `file` from its first bytes (HDF5 also at the user-block offsets 512, 1024, 2048). */
export async function detectFileKind(file: string): Promise<FileKind> {
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(2048 + 64);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const b = head.subarray(0, bytesRead);
    if (bytesRead === 0) return { kind: 'empty' };
    for (const offset of [0, 512, 1024, 2048]) {
      if (b.length >= offset + 8 && b.subarray(offset, offset + 8).equals(HDF5_SIGNATURE)) {
        // superblock v0/v1: offsets size at +13, EOF address at +24 (+28 for v1) + 2·O; v2/v3: size at +9, EOF at +12 +
        // 2·O
        const version = b[offset + 8];
        const O = version <= 1 ? b[offset + 13] : b[offset + 9];
        const at = version <= 1 ? offset + (version === 1 ? 28 : 24) + 2 * O : offset + 12 + 2 * O;
        const eof = O > 0 && O <= 8 ? readUint(b, at, O) : undefined;
        return { kind: 'hdf5', offset, eof: eof === undefined ? undefined : eof + offset };
      }
    }
    if (b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6))
      return { kind: 'zip' };
    if (b[0] === 0x1f && b[1] === 0x8b) return { kind: 'gzip' };
    if (b.subarray(0, 6).toString('latin1') === '\x93NUMPY') return { kind: 'npy' };
    const sample = b.subarray(0, 512);
    const printable = sample.every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c !== 127));
    if (printable) return /^\s*[[{]/.test(sample.toString('utf8')) ? { kind: 'json' } : { kind: 'text' };
    return { kind: 'binary' };
  } finally {
    await fh.close();
  }
}

export interface ZipEntry {
  readonly name: string;
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localOffset: number;
}

/** The central directory of a zip file (no zip64: a `.keras` archive over 4 GB is refused with a message). */
export async function zipEntries(file: string): Promise<ZipEntry[]> {
  const stat = await fs.stat(file);
  const fh = await fs.open(file, 'r');
  try {
    const tailLen = Math.min(stat.size, 65_557);
    const tail = Buffer.alloc(tailLen);
    await fh.read(tail, 0, tailLen, stat.size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--)
      if (tail.readUInt32LE(i) === 0x06054b50) {
        eocd = i;
        break;
      }
    if (eocd < 0)
      throw new FormatError(
        `${file}: zip archive without an end-of-central-directory record (truncated?); expected a complete .keras file`,
      );
    const count = tail.readUInt16LE(eocd + 10);
    const cdSize = tail.readUInt32LE(eocd + 12);
    const cdOffset = tail.readUInt32LE(eocd + 16);
    if (cdOffset === 0xffffffff || count === 0xffff)
      throw new FormatError(
        `${file}: zip64 archives are not supported; save the weights with model.save_weights('x.weights.h5')`,
      );
    if (cdOffset + cdSize > stat.size)
      throw new FormatError(
        `${file}: zip central directory beyond the end of the file (truncated copy?); expected a complete .keras file`,
      );
    const cd = Buffer.alloc(cdSize);
    await fh.read(cd, 0, cdSize, cdOffset);
    const out: ZipEntry[] = [];
    for (let at = 0, k = 0; k < count && at + 46 <= cd.length; k++) {
      if (cd.readUInt32LE(at) !== 0x02014b50)
        throw new FormatError(`${file}: damaged zip central directory; expected a complete .keras file`);
      const nameLen = cd.readUInt16LE(at + 28);
      const extraLen = cd.readUInt16LE(at + 30);
      const commentLen = cd.readUInt16LE(at + 32);
      out.push({
        name: cd.subarray(at + 46, at + 46 + nameLen).toString('utf8'),
        method: cd.readUInt16LE(at + 10),
        compressedSize: cd.readUInt32LE(at + 20),
        size: cd.readUInt32LE(at + 24),
        localOffset: cd.readUInt32LE(at + 42),
      });
      at += 46 + nameLen + extraLen + commentLen;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** The bytes of one entry (stored or deflated). */
export async function readZipEntry(file: string, e: ZipEntry): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const local = Buffer.alloc(30);
    await fh.read(local, 0, 30, e.localOffset);
    if (local.readUInt32LE(0) !== 0x04034b50)
      throw new FormatError(`${file}: damaged zip entry '${e.name}'; expected a complete .keras file`);
    const start = e.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const data = Buffer.alloc(e.compressedSize);
    const { bytesRead } = await fh.read(data, 0, e.compressedSize, start);
    if (bytesRead < e.compressedSize)
      throw new FormatError(
        `${file}: zip entry '${e.name}' is cut short (truncated copy?); expected a complete .keras file`,
      );
    if (e.method === 0) return data;
    if (e.method === 8) return inflateRawSync(data);
    throw new FormatError(
      `${file}: zip entry '${e.name}' uses compression method ${e.method}; expected stored or deflate (as ` +
        `Keras writes)`,
    );
  } finally {
    await fh.close();
  }
}
