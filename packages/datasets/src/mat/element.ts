/**
 * Parses one miMATRIX element (and the cells, struct fields and sparse parts inside it) from a
 * byte stream. Sub-elements may use the small (4-byte) format and are padded to 8 bytes.
 */
import { FormatError } from '@niwt/core';
import type { ByteStream } from './byte-stream.js';
import { allocClass, readNumeric, smallNumbers, storageSize } from './numeric.js';
import {
  MI,
  MX_CLASS,
  type MatChar,
  type MatSparse,
  type MatValue,
  type MxClass,
  type NumericArray,
  type NumericClass,
} from './types.js';

export interface ParseContext {
  readonly file: string;
  readonly littleEndian: boolean;
  readonly float32: boolean;
  readonly stream: ByteStream;
  /** Name of the top-level variable being read (for messages), once known. */
  variable?: string;
  /** Byte offset of the top-level element in the file (for messages). */
  readonly offset: number;
}

interface Tag {
  readonly type: number;
  readonly bytes: number;
  /** Payload of a small-format element. */
  readonly small?: Buffer;
}

export const pad8 = (n: number): number => (n + 7) & ~7;

const UTF8 = new TextDecoder('utf-8');
const UTF16LE = new TextDecoder('utf-16le');

/** `file: variable 'x' (element at offset N)` for messages. */
export function where(ctx: ParseContext, path = ''): string {
  const v = ctx.variable === undefined ? '' : ` variable '${ctx.variable}${path}'`;
  return `${ctx.file}:${v} (element at offset ${ctx.offset})`;
}

export async function readTag(ctx: ParseContext): Promise<Tag> {
  const b = await ctx.stream.read(8);
  const le = ctx.littleEndian;
  const w0 = le ? b.readUInt32LE(0) : b.readUInt32BE(0);
  if (w0 >>> 16 !== 0) {
    const bytes = w0 >>> 16;
    if (bytes > 4) throw new FormatError(`${where(ctx)}: small data element claims ${bytes} bytes; expected at most 4`);
    return { type: w0 & 0xffff, bytes, small: b.subarray(4, 4 + bytes) };
  }
  return { type: w0, bytes: le ? b.readUInt32LE(4) : b.readUInt32BE(4) };
}

/** A whole small sub-element (flags, dims, names) as bytes. */
async function readSmall(ctx: ParseContext): Promise<{ type: number; data: Buffer }> {
  const tag = await readTag(ctx);
  if (tag.small) return { type: tag.type, data: tag.small };
  if (tag.bytes > 1 << 26)
    throw new FormatError(`${where(ctx)}: header sub-element of ${tag.bytes} bytes; the file is corrupt`);
  const data = Buffer.from(await ctx.stream.read(tag.bytes));
  await ctx.stream.skip(pad8(tag.bytes) - tag.bytes);
  return { type: tag.type, data };
}

/** Reads an miMATRIX payload of `bytes` bytes (its tag already read). `want` may skip a top-level variable by name. */
export async function parseMatrix(
  ctx: ParseContext,
  bytes: number,
  path: string,
  want?: (name: string) => boolean,
): Promise<{ name: string; dims?: readonly number[]; value?: MatValue }> {
  const start = ctx.stream.position;
  if (bytes === 0)
    return {
      name: '',
      value: { kind: 'numeric', class: 'double', dims: [0, 0], data: new Float64Array(0), logical: false },
    };
  const flags = await readSmall(ctx);
  if (flags.type !== MI.UINT32 || flags.data.length !== 8) {
    throw new FormatError(
      `${where(ctx, path)}: array flags of type ${flags.type} and ${flags.data.length} bytes; expected 8 ` +
        `bytes of miUINT32`,
    );
  }
  const w0 = ctx.littleEndian ? flags.data.readUInt32LE(0) : flags.data.readUInt32BE(0);
  const nzmax = ctx.littleEndian ? flags.data.readUInt32LE(4) : flags.data.readUInt32BE(4);
  const code = w0 & 0xff;
  const cls: MxClass | undefined = (MX_CLASS as Record<number, MxClass>)[code];
  if (cls === undefined)
    throw new FormatError(`${where(ctx, path)}: unknown array class ${code}; expected a MATLAB class 1–15`);
  const complex = (w0 & 0x800) !== 0;
  const logical = (w0 & 0x200) !== 0;
  const dimsEl = await readSmall(ctx);
  const dims = smallNumbers(dimsEl.data, dimsEl.type, ctx.littleEndian, where(ctx, path));
  if (dims.length < 2 || dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new FormatError(
      `${where(ctx, path)}: bad dimensions [${dims.join(', ')}]; expected at least 2 non-negative integers`,
    );
  }
  const nameEl = await readSmall(ctx);
  const name = nameEl.data.toString('utf8').replace(/\0+$/, '');
  if (path === '') ctx.variable = name;
  if (want && !want(name)) return { name, dims };
  const count = dims.reduce((a, b) => a * b, 1);
  let value: MatValue;
  switch (cls) {
    case 'cell': {
      const items: MatValue[] = [];
      for (let i = 0; i < count; i++) items.push(await nested(ctx, `${path}{${i + 1}}`));
      value = { kind: 'cell', dims, items };
      break;
    }
    case 'struct':
      value = await parseStruct(ctx, dims, count, path);
      break;
    case 'object':
      throw new FormatError(
        `${where(ctx, path)}: MATLAB objects (class "object") are not supported; expected numeric, char, ` +
          `cell, struct or sparse arrays`,
      );
    case 'char':
      value = await parseChar(ctx, dims, path);
      break;
    case 'sparse':
      value = await parseSparse(ctx, dims, nzmax, complex, logical, path);
      break;
    default: {
      const data = await numericPart(ctx, cls, count, path);
      const imag = complex ? await numericPart(ctx, cls, count, path) : undefined;
      value = { kind: 'numeric', class: cls, dims, data, ...(imag ? { imag } : {}), logical };
    }
  }
  const used = ctx.stream.position - start;
  if (used > bytes)
    throw new FormatError(
      `${where(ctx, path)}: array data run ${used - bytes} bytes past the element's declared ${bytes} bytes`,
    );
  await ctx.stream.skip(bytes - used);
  return { name, value };
}

/** A cell item or struct field: an miMATRIX sub-element. */
async function nested(ctx: ParseContext, path: string): Promise<MatValue> {
  const tag = await readTag(ctx);
  if (tag.type !== MI.MATRIX)
    throw new FormatError(`${where(ctx, path)}: element of type ${tag.type}; expected an miMATRIX (14)`);
  const { value } = await parseMatrix(ctx, tag.bytes, path);
  await ctx.stream.skip(pad8(tag.bytes) - tag.bytes);
  return value as MatValue;
}

async function numericPart(ctx: ParseContext, cls: NumericClass, count: number, path: string): Promise<NumericArray> {
  const out = allocClass(cls, count, ctx.float32);
  const tag = await readTag(ctx);
  if (storageSize(tag.type) === undefined || tag.type === MI.UTF8 || tag.type === MI.UTF16 || tag.type === MI.UTF32) {
    throw new FormatError(
      `${where(ctx, path)}: ${cls} data stored as element type ${tag.type}; expected a numeric miXXX type`,
    );
  }
  if (tag.small) {
    const values = smallNumbers(tag.small, tag.type, ctx.littleEndian, where(ctx, path));
    if (values.length !== count)
      throw new FormatError(
        `${where(ctx, path)}: ${values.length} values stored; expected ${count} (the product of the dimensions)`,
      );
    out.set(values);
    return out;
  }
  await readNumeric(ctx.stream, tag.type, tag.bytes, out, ctx.littleEndian, where(ctx, path));
  await ctx.stream.skip(pad8(tag.bytes) - tag.bytes);
  return out;
}

async function parseChar(ctx: ParseContext, dims: readonly number[], path: string): Promise<MatChar> {
  const tag = await readTag(ctx);
  let data: Buffer;
  if (tag.small) data = tag.small;
  else {
    data = Buffer.from(await ctx.stream.read(tag.bytes));
    await ctx.stream.skip(pad8(tag.bytes) - tag.bytes);
  }
  const le = ctx.littleEndian;
  // Fast path for the common 1×L row (cells of file names, class names): decode without per-character arrays.
  if (dims[0] === 1 && dims.length === 2) {
    if (tag.type === MI.UTF8) return { kind: 'char', dims, rows: [UTF8.decode(data)] };
    if ((tag.type === MI.UINT16 || tag.type === MI.UTF16) && le)
      return { kind: 'char', dims, rows: [UTF16LE.decode(data)] };
  }
  let points: number[];
  switch (tag.type) {
    case MI.UTF8:
      points = Array.from(UTF8.decode(data), (c) => c.codePointAt(0) ?? 0);
      break;
    case MI.UINT16:
    case MI.UTF16: {
      points = [];
      for (let i = 0; i + 1 < data.length; i += 2) points.push(le ? data.readUInt16LE(i) : data.readUInt16BE(i));
      break;
    }
    case MI.UINT8:
    case MI.INT8:
      points = Array.from(data);
      break;
    case MI.UTF32:
    case MI.UINT32:
    case MI.INT32: {
      points = [];
      for (let i = 0; i + 3 < data.length; i += 4) points.push(le ? data.readUInt32LE(i) : data.readUInt32BE(i));
      break;
    }
    default:
      throw new FormatError(
        `${where(ctx, path)}: char data stored as element type ${tag.type}; expected miUINT16, miUTF8, ` +
          `miUTF16 or miUTF32`,
      );
  }
  const rows = dims[0];
  const cols = dims.slice(1).reduce((a, b) => a * b, 1);
  if (rows * cols === 0) return { kind: 'char', dims, rows: rows === 0 ? [] : Array.from({ length: rows }, () => '') };
  if (points.length !== rows * cols) {
    // UTF-8 text of a single row may hold a different number of code points than characters (surrogates).
    if (rows === 1)
      return { kind: 'char', dims, rows: [codeString(points, tag.type !== MI.UTF8 && tag.type !== MI.UTF32)] };
    throw new FormatError(
      `${where(ctx, path)}: ${points.length} characters stored; expected ${rows * cols} (${rows}×${cols})`,
    );
  }
  const utf16 = tag.type === MI.UINT16 || tag.type === MI.UTF16;
  const out: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row: number[] = [];
    for (let c = 0; c < cols; c++) row.push(points[r + rows * c]);
    out.push(codeString(row, utf16));
  }
  return { kind: 'char', dims, rows: out };
}

/** UTF-16 code units (pairs recombine) or code points, as a string. */
function codeString(values: readonly number[], utf16: boolean): string {
  let s = '';
  for (let i = 0; i < values.length; i += 8192) {
    const part = values.slice(i, i + 8192);
    s += utf16 ? String.fromCharCode(...part) : String.fromCodePoint(...part.map((p) => (p > 0x10ffff ? 0xfffd : p)));
  }
  return s;
}

async function parseStruct(ctx: ParseContext, dims: readonly number[], count: number, path: string): Promise<MatValue> {
  const lenEl = await readSmall(ctx);
  const [fieldLength] = smallNumbers(lenEl.data, lenEl.type, ctx.littleEndian, where(ctx, path));
  const namesEl = await readSmall(ctx);
  if (!(fieldLength > 0) || namesEl.data.length % fieldLength !== 0) {
    throw new FormatError(
      `${where(ctx, path)}: struct field names of ${namesEl.data.length} bytes do not split into names of ` +
        `${fieldLength} bytes`,
    );
  }
  const fields: string[] = [];
  for (let i = 0; i < namesEl.data.length; i += fieldLength) {
    fields.push(
      namesEl.data
        .subarray(i, i + fieldLength)
        .toString('utf8')
        .replace(/\0.*$/s, ''),
    );
  }
  const items: Record<string, MatValue>[] = [];
  for (let i = 0; i < count; i++) {
    const item: Record<string, MatValue> = {};
    for (const f of fields) item[f] = await nested(ctx, `${path}(${i + 1}).${f}`);
    items.push(item);
  }
  return { kind: 'struct', dims, fields, items };
}

async function parseSparse(
  ctx: ParseContext,
  dims: readonly number[],
  nzmax: number,
  complex: boolean,
  logical: boolean,
  path: string,
): Promise<MatSparse> {
  const cols = dims[1];
  const intPart = async (n: number, what: string): Promise<Int32Array> => {
    const tag = await readTag(ctx);
    const raw = tag.small ?? Buffer.from(await ctx.stream.read(tag.bytes));
    if (!tag.small) await ctx.stream.skip(pad8(tag.bytes) - tag.bytes);
    const values = smallNumbers(raw, tag.type, ctx.littleEndian, where(ctx, path));
    if (values.length < n)
      throw new FormatError(`${where(ctx, path)}: sparse ${what} has ${values.length} values; expected ${n}`);
    return Int32Array.from(values.slice(0, Math.max(n, values.length)));
  };
  const ir = await intPart(0, 'ir');
  const jc = await intPart(cols + 1, 'jc');
  const nnz = jc[cols];
  const realPart = async (): Promise<Float64Array> => {
    const tag = await readTag(ctx);
    const size = storageSize(tag.type) ?? 8;
    const n = tag.bytes / size;
    const out = new Float64Array(n);
    if (tag.small) out.set(smallNumbers(tag.small, tag.type, ctx.littleEndian, where(ctx, path)));
    else {
      await readNumeric(ctx.stream, tag.type, tag.bytes, out, ctx.littleEndian, where(ctx, path));
      await ctx.stream.skip(pad8(tag.bytes) - tag.bytes);
    }
    return out.subarray(0, nnz);
  };
  void nzmax;
  const data = await realPart();
  const imag = complex ? await realPart() : undefined;
  return { kind: 'sparse', dims, ir: ir.subarray(0, nnz), jc, data, ...(imag ? { imag } : {}), logical };
}
