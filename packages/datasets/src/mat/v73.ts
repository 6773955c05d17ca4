/**
 * MATLAB v7.3 MAT-files are HDF5 files behind a 512-byte header block. They are read through h5wasm
 * (libhdf5 compiled to WASM, with direct file access in Node): arrays are stored transposed (HDF5
 * row-major with the dimensions reversed = MATLAB's column-major bytes), classes in a
 * `MATLAB_class` attribute, chars as uint16, cells as object references into `#refs#`.
 * Numeric data are read in slices of the first HDF5 dimension, converted as they come.
 */
import { FormatError } from '@niwt/core';
import type { Dataset as H5Dataset, Entity, File as H5File, Group as H5Group } from 'h5wasm';
import { allocClass } from './numeric.js';
import type { MatFile, MatHeader, MatValue, NumericClass, ReadMatOptions } from './types.js';

const NUMERIC: ReadonlySet<string> = new Set([
  'double',
  'single',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
]);
const SLICE_VALUES = 1 << 22;

type H5 = typeof import('h5wasm/node');

let loaded: Promise<H5> | undefined;
async function h5wasm(): Promise<H5> {
  loaded ??= import('h5wasm/node').then(async (m) => {
    await m.ready;
    return m;
  });
  return loaded;
}

/** Is this the header of a v7.3 file? (`MATLAB 7.3` text, or the HDF5 signature at 512.) */
export function isV73(head: Buffer): boolean {
  const sig = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  return (
    head.subarray(0, 19).toString('latin1') === 'MATLAB 7.3 MAT-file' ||
    (head.length >= 520 && head.subarray(512, 520).equals(sig))
  );
}

export async function readMatV73(file: string, head: Buffer, options: ReadMatOptions): Promise<MatFile> {
  let h5: H5;
  try {
    h5 = await h5wasm();
  } catch (e) {
    throw new FormatError(
      `${file}: MATLAB v7.3 MAT-file (HDF5), and the HDF5 reader (h5wasm) could not be loaded ` +
        `(${String(e)}); re-save it with MATLAB "save(file, '-v7')"`,
      { cause: e },
    );
  }
  const header: MatHeader = {
    text: head
      .subarray(0, 116)
      .toString('latin1')
      .replace(/[\0 ]+$/, ''),
    version: 0x0200,
    littleEndian: head.subarray(126, 128).toString('latin1') !== 'MI',
  };
  let f: H5File;
  try {
    f = new h5.File(file, 'r');
  } catch (e) {
    throw new FormatError(
      `${file}: MATLAB v7.3 MAT-file (HDF5) that HDF5 cannot open (${String(e)}); the file may be truncated`,
      { cause: e },
    );
  }
  try {
    const variables = new Map<string, MatValue>();
    const dims = new Map<string, readonly number[]>();
    const wanted = options.variables ? new Set(options.variables) : undefined;
    for (const name of f.keys()) {
      if (name.startsWith('#')) continue;
      const entity = f.get(name);
      if (entity instanceof h5.Dataset) dims.set(name, [...(entity.shape ?? [])].reverse());
      if (wanted && !wanted.has(name)) continue;
      const value = convert(h5, f, entity, `${file}: variable '${name}'`, options.float32 ?? false);
      variables.set(name, value);
      dims.set(name, value.dims);
    }
    if (wanted) {
      const missing = [...wanted].filter((v) => !variables.has(v));
      if (missing.length > 0)
        throw new FormatError(
          `${file}: no variable ${missing.map((m) => `'${m}'`).join(', ')}; found ` +
            `${[...dims.keys()].map((k) => `'${k}'`).join(', ') || 'none of them'}`,
        );
    }
    return { file, header, variables, dims };
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(
      `${file}: MATLAB v7.3 MAT-file (HDF5) that HDF5 cannot read ` +
        `(${e instanceof Error ? e.message : String(e)}); the file may be truncated or corrupt`,
      { cause: e },
    );
  } finally {
    f.close();
  }
}

function classOf(entity: H5Dataset | H5Group): string | undefined {
  const v = entity.attrs['MATLAB_class']?.value;
  return typeof v === 'string' ? v : v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : undefined;
}

function convert(h5: H5, f: H5File, entity: Entity | null, where: string, float32: boolean): MatValue {
  if (entity instanceof h5.Group) {
    const fields = entity.keys().filter((k) => !k.startsWith('#'));
    const item: Record<string, MatValue> = {};
    for (const k of fields) item[k] = convert(h5, f, entity.get(k), `${where}.${k}`, float32);
    return { kind: 'struct', dims: [1, 1], fields, items: [item] };
  }
  if (!(entity instanceof h5.Dataset))
    throw new FormatError(`${where}: not an HDF5 dataset or group; expected a MATLAB array`);
  const cls = classOf(entity) ?? 'double';
  const shape = entity.shape ?? [];
  const dims = shape.length === 0 ? [1, 1] : shape.length === 1 ? [shape[0], 1] : [...shape].reverse();
  if (entity.attrs['MATLAB_empty'])
    return { kind: 'numeric', class: 'double', dims: dims.map(() => 0), data: new Float64Array(0), logical: false };
  if (cls === 'cell') {
    const refs = entity.value;
    if (!Array.isArray(refs))
      throw new FormatError(`${where}: cell without object references; expected a MATLAB v7.3 cell`);
    return {
      kind: 'cell',
      dims,
      items: refs.map((r, i) =>
        convert(
          h5,
          f,
          f.dereference(r as InstanceType<H5['Reference']>) as unknown as Entity,
          `${where}{${i + 1}}`,
          float32,
        ),
      ),
    };
  }
  if (cls === 'char') {
    const codes = entity.value;
    const units = codes instanceof Uint16Array ? codes : Uint16Array.from(codes as ArrayLike<number>);
    const rows = dims[0];
    const cols = dims.slice(1).reduce((a, b) => a * b, 1);
    const out: string[] = [];
    for (let r = 0; r < rows; r++) {
      const row: number[] = [];
      for (let c = 0; c < cols; c++) row.push(units[r + rows * c]);
      out.push(String.fromCharCode(...row));
    }
    return { kind: 'char', dims, rows: out };
  }
  const logical = cls === 'logical';
  if (!logical && !NUMERIC.has(cls))
    throw new FormatError(
      `${where}: MATLAB class "${cls}" in a v7.3 file is not supported; expected numeric, logical, char, ` +
        `cell or struct`,
    );
  if (entity.dtype && typeof entity.dtype === 'object' && 'compound_type' in entity.dtype) {
    throw new FormatError(`${where}: complex data in a v7.3 file are not supported; expected real numeric arrays`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const numericClass: NumericClass = logical ? 'uint8' : (cls as NumericClass);
  const out = allocClass(numericClass, count, float32);
  const first = shape[0] ?? 1;
  const per = count / Math.max(1, first);
  const step = Math.max(1, Math.floor(SLICE_VALUES / Math.max(1, per)));
  for (let r = 0; r < first; r += step) {
    const part = shape.length === 0 ? entity.value : entity.slice([[r, Math.min(first, r + step)]]);
    if (typeof part === 'bigint' || part === null || typeof part !== 'object')
      throw new FormatError(`${where}: unreadable numeric data`);
    const values = part as ArrayLike<number | bigint>;
    if (values instanceof BigInt64Array || values instanceof BigUint64Array)
      for (let i = 0; i < values.length; i++) out[r * per + i] = Number(values[i]);
    else out.set(values as ArrayLike<number>, r * per);
  }
  return { kind: 'numeric', class: numericClass, dims, data: out, logical };
}
