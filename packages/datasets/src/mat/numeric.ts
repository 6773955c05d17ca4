/**
 * Decodes numeric payloads by their STORAGE type into arrays of their CLASS type (MATLAB stores
 * e.g. class double as miUINT16 when the values fit). Chunks are copied into an aligned scratch
 * buffer, byte-swapped for big-endian files, viewed as the storage type and converted by
 * `TypedArray.set`: no number is boxed.
 */
import { FormatError } from '@niwt/core';
import type { ByteStream } from './byte-stream.js';
import { MI, type NumericArray, type NumericClass } from './types.js';

type StorageArray = NumericArray | BigInt64Array | BigUint64Array;
interface Storage {
  readonly size: number;
  readonly view: (buf: ArrayBuffer, count: number) => StorageArray;
}

const STORAGE: Readonly<Record<number, Storage>> = {
  [MI.INT8]: { size: 1, view: (b, n) => new Int8Array(b, 0, n) },
  [MI.UINT8]: { size: 1, view: (b, n) => new Uint8Array(b, 0, n) },
  [MI.UTF8]: { size: 1, view: (b, n) => new Uint8Array(b, 0, n) },
  [MI.INT16]: { size: 2, view: (b, n) => new Int16Array(b, 0, n) },
  [MI.UINT16]: { size: 2, view: (b, n) => new Uint16Array(b, 0, n) },
  [MI.UTF16]: { size: 2, view: (b, n) => new Uint16Array(b, 0, n) },
  [MI.INT32]: { size: 4, view: (b, n) => new Int32Array(b, 0, n) },
  [MI.UINT32]: { size: 4, view: (b, n) => new Uint32Array(b, 0, n) },
  [MI.UTF32]: { size: 4, view: (b, n) => new Uint32Array(b, 0, n) },
  [MI.SINGLE]: { size: 4, view: (b, n) => new Float32Array(b, 0, n) },
  [MI.DOUBLE]: { size: 8, view: (b, n) => new Float64Array(b, 0, n) },
  [MI.INT64]: { size: 8, view: (b, n) => new BigInt64Array(b, 0, n) },
  [MI.UINT64]: { size: 8, view: (b, n) => new BigUint64Array(b, 0, n) },
};

export function storageSize(type: number): number | undefined {
  return STORAGE[type]?.size;
}

/** A new array of the class's type (or Float32Array when asked), `count` long. */
export function allocClass(cls: NumericClass, count: number, float32: boolean): NumericArray {
  switch (cls) {
    case 'double':
      return float32 ? new Float32Array(count) : new Float64Array(count);
    case 'single':
      return new Float32Array(count);
    case 'int8':
      return new Int8Array(count);
    case 'uint8':
      return new Uint8Array(count);
    case 'int16':
      return new Int16Array(count);
    case 'uint16':
      return new Uint16Array(count);
    case 'int32':
      return new Int32Array(count);
    case 'uint32':
      return new Uint32Array(count);
    case 'int64':
    case 'uint64':
      return new Float64Array(count);
  }
}

/**
 * Streams `bytes` bytes of `type` storage from `stream` into `out` (converted to its type).
 * `where` names the file and variable for errors.
 */
export async function readNumeric(
  stream: ByteStream,
  type: number,
  bytes: number,
  out: NumericArray,
  littleEndian: boolean,
  where: string,
): Promise<void> {
  const st = STORAGE[type];
  if (!st)
    throw new FormatError(
      `${where}: numeric data stored as unknown type ${type}; expected an miINT*/miUINT*/miSINGLE/miDOUBLE element`,
    );
  const count = bytes / st.size;
  if (!Number.isInteger(count) || count !== out.length) {
    throw new FormatError(
      `${where}: ${bytes} data bytes hold ${bytes / st.size} values of ${st.size} bytes; expected ` +
        `${out.length} (the product of the dimensions)`,
    );
  }
  const scratchBytes = Math.min(bytes, 1 << 20) + 8;
  const scratch = new ArrayBuffer(scratchBytes - (scratchBytes % 8));
  const scratchU8 = new Uint8Array(scratch);
  let filled = 0;
  let written = 0;
  const flush = (): void => {
    const n = Math.floor(filled / st.size);
    if (n === 0) return;
    const used = n * st.size;
    const whole = Buffer.from(scratch, 0, used);
    if (!littleEndian && st.size > 1) {
      if (st.size === 2) whole.swap16();
      else if (st.size === 4) whole.swap32();
      else whole.swap64();
    }
    const view = st.view(scratch, n);
    if (view instanceof BigInt64Array || view instanceof BigUint64Array) {
      for (let i = 0; i < n; i++) out[written + i] = Number(view[i]);
    } else {
      out.set(view, written);
    }
    written += n;
    scratchU8.copyWithin(0, used, filled);
    filled -= used;
  };
  await stream.take(bytes, (piece) => {
    let k = 0;
    while (k < piece.length) {
      const m = Math.min(piece.length - k, scratch.byteLength - filled);
      piece.copy(scratchU8, filled, k, k + m);
      filled += m;
      k += m;
      if (filled === scratch.byteLength) flush();
    }
  });
  flush();
}

/** Small payloads (names, dims, flags) as an array of numbers, whatever their storage type. */
export function smallNumbers(data: Buffer, type: number, littleEndian: boolean, where: string): number[] {
  const st = STORAGE[type];
  if (!st) throw new FormatError(`${where}: unexpected element type ${type}`);
  const n = Math.floor(data.length / st.size);
  const out = new Float64Array(n);
  const copy = new ArrayBuffer(n * st.size);
  const bytes = Buffer.from(copy);
  data.copy(bytes, 0, 0, n * st.size);
  if (!littleEndian && st.size > 1) {
    if (st.size === 2) bytes.swap16();
    else if (st.size === 4) bytes.swap32();
    else bytes.swap64();
  }
  const view = st.view(copy, n);
  for (let i = 0; i < n; i++) out[i] = Number(view[i]);
  return Array.from(out);
}
