/**
 * `readMat`: a MATLAB Level-5 MAT-file reader written for this project (see the package README).
 * Each top-level element is read from its own file stream (inflated on the fly when it is
 * miCOMPRESSED), so memory holds the decoded variables plus about two 1 MB chunks.
 */
import { open, stat } from 'node:fs/promises';
import { FormatError, NiwtError } from '@niwt/core';
import { EndOfData, fileRegion } from './byte-stream.js';
import { pad8, parseMatrix, readTag, where, type ParseContext } from './element.js';
import { HEADER_BYTES, parseHeader } from './header.js';
import { isV73, readMatV73 } from './v73.js';
import { MI, type MatFile, type MatHeader, type MatValue, type ReadMatOptions } from './types.js';

/** Reads the variables of a Level-5 MAT-file. Problems are `FormatError`s naming the file, variable and offset. */
export async function readMat(file: string, options: ReadMatOptions = {}): Promise<MatFile> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (e) {
    const code = e instanceof Error && 'code' in e ? String(e.code) : '';
    throw new FormatError(
      `${file}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${String(e)})`}; expected a MATLAB ` +
        `Level-5 MAT-file`,
      { cause: e },
    );
  }
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(size, 520));
    await fh.read(head, 0, head.length, 0);
    if (isV73(head)) return await readMatV73(file, head, options);
    const header = parseHeader(file, head, size);
    const wanted = options.variables ? new Set(options.variables) : undefined;
    const variables = new Map<string, MatValue>();
    const dims = new Map<string, readonly number[]>();
    let offset = HEADER_BYTES;
    while (offset < size) {
      if (size - offset < 8) {
        if (isZero(await readAt(fh, offset, size - offset))) break;
        throw new FormatError(
          `${file}: truncated MAT-file: ${size - offset} stray bytes at offset ${offset}; expected an 8-byte ` +
            `element tag`,
        );
      }
      const tagBytes = await readAt(fh, offset, 8);
      const type = header.littleEndian ? tagBytes.readUInt32LE(0) : tagBytes.readUInt32BE(0);
      const small = type >>> 16 !== 0;
      const bytes = small ? 0 : header.littleEndian ? tagBytes.readUInt32LE(4) : tagBytes.readUInt32BE(4);
      const next = small ? offset + 8 : offset + 8 + (type === MI.COMPRESSED ? bytes : pad8(bytes));
      if (type === MI.COMPRESSED || type === MI.MATRIX) {
        const got = await readVariable(file, header, offset, type, bytes, size, options, wanted);
        if (got.dims) dims.set(got.name, got.dims);
        else if (got.value) dims.set(got.name, got.value.dims);
        if (got.value !== undefined) {
          if (variables.has(got.name))
            throw new FormatError(`${file}: variable '${got.name}' appears twice (second at offset ${offset})`);
          variables.set(got.name, got.value);
        }
      }
      offset = next;
    }
    if (wanted) {
      const missing = [...wanted].filter((v) => !variables.has(v));
      if (missing.length > 0) {
        throw new FormatError(
          `${file}: no variable ${missing.map((m) => `'${m}'`).join(', ')}; found ` +
            `${[...variables.keys()].map((k) => `'${k}'`).join(', ') || 'none of them'}`,
        );
      }
    }
    return { file, header, variables, dims };
  } finally {
    await fh.close();
  }
}

async function readVariable(
  file: string,
  header: MatHeader,
  offset: number,
  type: number,
  bytes: number,
  size: number,
  options: ReadMatOptions,
  wanted: ReadonlySet<string> | undefined,
): Promise<{ name: string; dims?: readonly number[]; value?: MatValue }> {
  const available = Math.max(0, Math.min(bytes, size - offset - 8));
  const truncated = available < bytes;
  const compressed = type === MI.COMPRESSED;
  const stream = fileRegion(file, offset + 8, available, compressed);
  const ctx: ParseContext = {
    file,
    littleEndian: header.littleEndian,
    float32: options.float32 ?? false,
    stream,
    offset,
  };
  const fail = (what: string, cause?: unknown): FormatError =>
    new FormatError(
      truncated
        ? `${where(ctx)}: truncated MAT-file: the element declares ${bytes} bytes but the file ends after ${available}`
        : `${where(ctx)}: ${what}`,
      { cause },
    );
  try {
    let inner = bytes;
    if (compressed) {
      const tag = await readTag(ctx);
      if (tag.type !== MI.MATRIX)
        throw new FormatError(`${where(ctx)}: compressed element holds type ${tag.type}; expected an miMATRIX (14)`);
      inner = tag.bytes;
    }
    const got = await parseMatrix(ctx, inner, '', wanted ? (n) => wanted.has(n) : undefined);
    if (truncated) throw fail('');
    if (compressed && got.value !== undefined) await stream.drain();
    return got;
  } catch (e) {
    if (e instanceof EndOfData)
      throw fail(`data ends early at byte ${e.at} of the ${compressed ? 'inflated ' : ''}element`, e);
    if (e instanceof NiwtError) throw truncated ? fail('', e) : e;
    const msg = e instanceof Error ? e.message : String(e);
    if (compressed) throw fail(`corrupt compressed data (zlib: ${msg})`, e);
    throw e;
  } finally {
    stream.close();
  }
}

async function readAt(fh: import('node:fs/promises').FileHandle, position: number, length: number): Promise<Buffer> {
  const b = Buffer.alloc(length);
  await fh.read(b, 0, length, position);
  return b;
}

function isZero(b: Buffer): boolean {
  return b.every((x) => x === 0);
}
