/**
 * NumPy `.npy` (format 1.0/2.0/3.0) read and write for float32/float64/int32 little-endian C-order arrays,
 * so caches and exported matrices open in NumPy as they are.
 */
import { closeSync, openSync, promises as fs, renameSync, rmSync, writeSync } from 'node:fs';
import { FormatError } from './errors.js';
import { releaseTemporary, temporaryFor } from './temporaries.js';

/** What `encodeNpy` writes. */
export type NpyDtype = '<f4' | '<f8' | '<i4' | '<u1';

/** Every NumPy bool, integer and float dtype `decodeNpy` reads (little-endian names; big-endian files are swapped). */
export type NpyReadDtype = NpyDtype | '<f2' | '<i1' | '<i2' | '<i8' | '<u2' | '<u4' | '<u8' | '|b1';

export interface NpyArray {
  readonly dtype: NpyReadDtype;
  readonly shape: readonly number[];
  /** int64/uint64 arrive as float64 (exact within ±2^53, refused beyond); float16 as float32. */
  readonly data:
    Float32Array | Float64Array | Int32Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;
}

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

function dtypeOf(data: Float32Array | Float64Array | Int32Array | Uint8Array): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  return '<u1';
}

/** Encodes an array as `.npy` bytes (version 1.0; header padded to a multiple of 64). */
export function encodeNpy(
  data: Float32Array | Float64Array | Int32Array | Uint8Array,
  shape: readonly number[],
): Buffer {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length)
    throw new FormatError(`npy: shape [${shape.join(', ')}] needs ${count} values, got ${data.length}`);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.concat([npyHeader(dtypeOf(data), shape), body]);
}

/** Decodes `.npy` bytes; `source` names the file in errors. */
export function decodeNpy(buf: Buffer, source = '<buffer>'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC))
    throw new FormatError(`${source}: not a .npy file (bad magic)`);
  const major = buf[6];
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = buf.readUInt16LE(8);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = buf.readUInt32LE(8);
    offset = 12;
  } else {
    throw new FormatError(`${source}: unsupported .npy version ${major}`);
  }
  const header = buf.subarray(offset, offset + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new FormatError(`${source}: malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True')
    throw new FormatError(`${source}: Fortran-order .npy arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const bytes = buf.subarray(start);
  const copy = (n: number): ArrayBuffer => {
    if (bytes.length < count * n)
      throw new FormatError(`${source}: truncated .npy data (${bytes.length} bytes, expected ${count * n})`);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * n) as ArrayBuffer;
  };
  const m = /^([<>|=])([fiub])(\d+)$/.exec(descr);
  const kind = m ? `${m[2]}${m[3]}` : '';
  const size = m ? Number(m[3]) : 0;
  if (!m || !SUPPORTED.has(kind)) {
    throw new FormatError(
      `${source}: unsupported .npy dtype '${descr}' (expected a bool, integer or float dtype: b1, i1–i8, ` +
        `u1–u8, f2, f4, f8)`,
    );
  }
  const raw = copy(size);
  // '>' is big-endian; '=' (native) is little-endian on every platform Node runs on here
  if (m[1] === '>' && size > 1) {
    const b = new Uint8Array(raw);
    for (let i = 0; i < b.length; i += size) b.subarray(i, i + size).reverse();
  }
  const dtype = (kind === 'b1' ? '|b1' : kind === 'u1' ? '<u1' : `<${kind}`) as NpyReadDtype;
  switch (kind) {
    case 'f4':
      return { dtype, shape, data: new Float32Array(raw) };
    case 'f8':
      return { dtype, shape, data: new Float64Array(raw) };
    case 'f2':
      return { dtype, shape, data: Float32Array.from(new Uint16Array(raw), halfToFloat) };
    case 'i1':
      return { dtype, shape, data: new Int8Array(raw) };
    case 'i2':
      return { dtype, shape, data: new Int16Array(raw) };
    case 'i4':
      return { dtype, shape, data: new Int32Array(raw) };
    case 'u2':
      return { dtype, shape, data: new Uint16Array(raw) };
    case 'u4':
      return { dtype, shape, data: new Uint32Array(raw) };
    case 'i8':
    case 'u8': {
      const big = kind === 'i8' ? new BigInt64Array(raw) : new BigUint64Array(raw);
      const out = new Float64Array(big.length);
      for (let i = 0; i < big.length; i++) {
        const v = big[i];
        if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
          throw new FormatError(
            `${source}: ${kind === 'i8' ? 'int64' : 'uint64'} value ${v} at index ${i} is beyond ±2^53 and ` +
              `cannot be read exactly; convert the array (e.g. to float64) in NumPy`,
          );
        }
        out[i] = Number(v);
      }
      return { dtype, shape, data: out };
    }
    default:
      return { dtype, shape, data: new Uint8Array(raw) };
  }
}

const SUPPORTED = new Set(['b1', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8']);

/** IEEE 754 half → float. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

export async function readNpy(file: string): Promise<NpyArray> {
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    throw new FormatError(`${file}: cannot read .npy file`, { cause: e });
  }
  return decodeNpy(buf, file);
}

/** Writes atomically (temp file + rename) so a killed process never leaves a truncated cache. */
export async function writeNpy(
  file: string,
  data: Float32Array | Float64Array | Int32Array | Uint8Array,
  shape: readonly number[],
): Promise<void> {
  const tmp = temporaryFor(file);
  try {
    await fs.writeFile(tmp, encodeNpy(data, shape));
    await fs.rename(tmp, file);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  } finally {
    releaseTemporary(tmp);
  }
}

/** Streams rows into a `.npy` of known shape; the file appears (atomically) only when complete. */
export interface NpyWriter {
  append(rows: Float32Array): void;
  /** Checks the row count, then renames the file into place. */
  close(): void;
  /** Deletes the partial file. */
  abort(): void;
}

export function createNpyWriter(file: string, shape: readonly number[]): NpyWriter {
  const tmp = temporaryFor(file);
  const fd = openSync(tmp, 'w');
  const head = npyHeader('<f4', shape);
  writeSync(fd, head);
  const total = shape.reduce((a, b) => a * b, 1);
  let written = 0;
  return {
    append(rows) {
      writeSync(fd, Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength));
      written += rows.length;
    },
    close() {
      closeSync(fd);
      if (written !== total) {
        rmSync(tmp, { force: true });
        releaseTemporary(tmp);
        throw new FormatError(`${file}: wrote ${written} values, the shape [${shape.join(', ')}] needs ${total}`);
      }
      renameSync(tmp, file);
      releaseTemporary(tmp);
    },
    abort() {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      rmSync(tmp, { force: true });
      releaseTemporary(tmp);
    },
  };
}

/** The `.npy` 1.0 header for a dtype and shape (padded so the data starts on a 64-byte boundary). */
function npyHeader(dtype: NpyDtype, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let text = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  text += ' '.repeat((64 - ((MAGIC.length + 4 + text.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(MAGIC.length + 4);
  MAGIC.copy(head, 0);
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(text.length, 8);
  return Buffer.concat([head, Buffer.from(text, 'latin1')]);
}
