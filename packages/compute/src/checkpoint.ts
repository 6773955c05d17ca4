/**
 * Checkpoint files: one file holds everything a training loop needs to continue (a JSON header and raw
 * typed arrays), so committing a checkpoint is one rename. It is written under a registered temporary name
 * (`temporaryFor`), flushed to disk, then renamed over the previous one: a kill at any moment leaves either
 * the previous checkpoint or the new one, never a torn file that a resume trusts. A checkpoint written for
 * other inputs (its fingerprint differs) or unreadable is reported, not thrown: the caller starts afresh.
 *
 * Layout: `NIWTCKP1`, header length (uint32 LE), header JSON { fingerprint, meta, arrays: [{ name, dtype,
 * length }] }, then each array's bytes (little-endian, as in memory), then `NIWTEND1`.
 */
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { releaseTemporary, removeStaleTemporaries, temporaryFor } from '@niwt/core';
import type { AdamState } from './adam.js';

const MAGIC = Buffer.from('NIWTCKP1');
const END = Buffer.from('NIWTEND1');

export type CheckpointArray = Float32Array | Float64Array | Int32Array | Uint32Array;

const DTYPES = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  uint32: Uint32Array,
} as const;
type Dtype = keyof typeof DTYPES;

function dtypeOf(a: CheckpointArray): Dtype {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  return 'uint32';
}

/** What a checkpoint holds: JSON-safe `meta` (finite numbers, strings) and named arrays (bit-exact). */
export interface CheckpointContent<M> {
  /** Identifies the inputs and settings the checkpoint was written for (e.g. `hashOf` of them). */
  readonly fingerprint: string;
  readonly meta: M;
  readonly arrays: ReadonlyMap<string, CheckpointArray>;
}

export type CheckpointRead<M> =
  | { readonly status: 'absent' }
  /** There is a file, but not one to resume from: another fingerprint, or unreadable (`reason` says which). */
  | { readonly status: 'ignored'; readonly reason: string }
  | { readonly status: 'ok'; readonly content: CheckpointContent<M> };

interface Header {
  readonly fingerprint: string;
  readonly meta: unknown;
  readonly arrays: readonly { readonly name: string; readonly dtype: Dtype; readonly length: number }[];
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

function readExactly(fd: number, into: Uint8Array, position: number): void {
  let off = 0;
  while (off < into.length) {
    const n = readSync(fd, into, off, into.length - off, position + off);
    if (n === 0) throw new Error('truncated');
    off += n;
  }
}

/**
 * Writes `content` to `file` atomically (temporary name, fsync, rename). Synchronous, so a synchronous
 * training loop can call it too; arrays are written from their own memory (no copy of large weights).
 */
export function writeCheckpoint<M>(file: string, content: CheckpointContent<M>): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const arrays = [...content.arrays];
  const header: Header = {
    fingerprint: content.fingerprint,
    meta: content.meta,
    arrays: arrays.map(([name, a]) => ({ name, dtype: dtypeOf(a), length: a.length })),
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length);
  const tmp = temporaryFor(file);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    // the folder was removed meanwhile (a caller cleaning up empty checkpoint folders): recreate it once
    try {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(path.dirname(file), { recursive: true });
      fd = openSync(tmp, 'w');
    } catch (again) {
      releaseTemporary(tmp);
      throw again;
    }
  }
  try {
    writeAll(fd, MAGIC);
    writeAll(fd, len);
    writeAll(fd, json);
    for (const [, a] of arrays) writeAll(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    writeAll(fd, END);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw e;
  } finally {
    releaseTemporary(tmp);
  }
}

/**
 * Reads the checkpoint at `file` if it was written for `fingerprint`. Temporaries of dead processes beside it
 * (an interrupted write) are removed first; they are never read.
 */
export function readCheckpoint<M>(file: string, fingerprint: string): CheckpointRead<M> {
  removeStaleTemporaries(path.dirname(file), 0);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'absent' };
    return { status: 'ignored', reason: `cannot open it (${(e as Error).message})` };
  }
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(12);
    readExactly(fd, head, 0);
    if (!Buffer.from(head.subarray(0, 8)).equals(MAGIC)) return { status: 'ignored', reason: 'not a checkpoint file' };
    const jsonLength = Buffer.from(head.subarray(8, 12)).readUInt32LE(0);
    const json = new Uint8Array(jsonLength);
    readExactly(fd, json, 12);
    const header = JSON.parse(Buffer.from(json).toString('utf8')) as Header;
    if (header.fingerprint !== fingerprint) {
      const found = header.fingerprint;
      const reason = `written for other inputs or settings (fingerprint ${found}, expected ${fingerprint})`;
      return { status: 'ignored', reason };
    }
    let pos = 12 + jsonLength;
    const body = header.arrays.reduce((s, a) => s + a.length * DTYPES[a.dtype].BYTES_PER_ELEMENT, 0);
    const expected = pos + body + END.length;
    if (size !== expected) return { status: 'ignored', reason: `${size} bytes, its header describes ${expected}` };
    const arrays = new Map<string, CheckpointArray>();
    for (const a of header.arrays) {
      const out = new DTYPES[a.dtype](a.length);
      readExactly(fd, new Uint8Array(out.buffer), pos);
      pos += out.byteLength;
      arrays.set(a.name, out);
    }
    const end = new Uint8Array(END.length);
    readExactly(fd, end, pos);
    if (!Buffer.from(end).equals(END)) return { status: 'ignored', reason: 'its end marker is missing' };
    return { status: 'ok', content: { fingerprint: header.fingerprint, meta: header.meta as M, arrays } };
  } catch (e) {
    return { status: 'ignored', reason: `unreadable (${(e as Error).message})` };
  } finally {
    closeSync(fd);
  }
}

/** Adam's state as checkpoint arrays under `prefix` (`<prefix>m<i>`, `<prefix>v<i>`), and its step count. */
export function adamStateArrays(
  state: AdamState,
  prefix = 'adam/',
): { step: number; arrays: [string, Float32Array][] } {
  const named = (kind: 'm' | 'v', list: readonly Float32Array[]): [string, Float32Array][] =>
    list.map((a, i) => [`${prefix}${kind}${i}`, a]);
  return { step: state.step, arrays: [...named('m', state.m), ...named('v', state.v)] };
}

/** The inverse of `adamStateArrays`; undefined when an array is missing or not float32. */
export function adamStateFrom(
  arrays: ReadonlyMap<string, CheckpointArray>,
  step: number,
  count: number,
  prefix = 'adam/',
): AdamState | undefined {
  const m: Float32Array[] = [];
  const v: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const a = arrays.get(`${prefix}m${i}`);
    const b = arrays.get(`${prefix}v${i}`);
    if (!(a instanceof Float32Array) || !(b instanceof Float32Array)) return undefined;
    m.push(a);
    v.push(b);
  }
  return { step, m, v };
}

/** Float32 arrays `<prefix><i>` for i < count, or undefined when one is missing. */
export function float32List(
  arrays: ReadonlyMap<string, CheckpointArray>,
  prefix: string,
  count: number,
): Float32Array[] | undefined {
  const out: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const a = arrays.get(`${prefix}${i}`);
    if (!(a instanceof Float32Array)) return undefined;
    out.push(a);
  }
  return out;
}
