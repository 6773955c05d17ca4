/**
 * A minimal protobuf wire-format reader: enough to walk an ONNX ModelProto (varints, fixed32/64,
 * length-delimited fields). Fields are visited in order; sub-messages are read as views (no copies).
 */
import { FormatError } from '@niwt/core';

export interface ProtoField {
  readonly field: number;
  readonly wire: number;
  /** varint / fixed64 value (wire 0, 1). */
  readonly int: bigint;
  /** fixed32 as float (wire 5). */
  readonly f32: number;
  /** length-delimited payload (wire 2). */
  readonly bytes: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const decoder = new TextDecoder();

export class ProtoReader {
  private pos = 0;
  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {}

  private fail(why: string): never {
    throw new FormatError(`${this.what}: not a valid ONNX protobuf (${why} at byte ${this.pos})`);
  }

  private varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) this.fail('truncated varint');
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) this.fail('varint too long');
    }
  }

  /** Every field of the message, in order. */
  *fields(): Generator<ProtoField> {
    const view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    while (this.pos < this.buf.length) {
      const key = this.varint();
      const field = Number(key >> 3n);
      const wire = Number(key & 7n);
      switch (wire) {
        case 0:
          yield { field, wire, int: this.varint(), f32: 0, bytes: EMPTY };
          break;
        case 1:
          if (this.pos + 8 > this.buf.length) this.fail('truncated fixed64');
          yield {
            field,
            wire,
            int: view.getBigUint64(this.pos, true),
            f32: view.getFloat64(this.pos, true),
            bytes: EMPTY,
          };
          this.pos += 8;
          break;
        case 2: {
          const len = Number(this.varint());
          if (this.pos + len > this.buf.length) this.fail(`field ${field} runs past the end`);
          const bytes = this.buf.subarray(this.pos, this.pos + len);
          this.pos += len;
          yield { field, wire, int: 0n, f32: 0, bytes };
          break;
        }
        case 5:
          if (this.pos + 4 > this.buf.length) this.fail('truncated fixed32');
          yield { field, wire, int: 0n, f32: view.getFloat32(this.pos, true), bytes: EMPTY };
          this.pos += 4;
          break;
        default:
          this.fail(`unknown wire type ${wire}`);
      }
    }
  }
}

export function str(b: Uint8Array): string {
  return decoder.decode(b);
}

/** A signed int64 from a varint field. */
export function signed(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** Repeated varints: one unpacked value, or a packed run. */
export function varints(f: ProtoField, what: string): number[] {
  if (f.wire === 0) return [signed(f.int)];
  const out: number[] = [];
  for (const g of new ProtoReader(concatTag(f.bytes), what).fields()) out.push(signed(g.int));
  return out;
}

/** A packed varint run re-read as a sequence of field-1 varints (the reader's own loop decodes it). */
function concatTag(packed: Uint8Array): Uint8Array {
  // Each value gets a 0x08 tag byte (field 1, varint) in front of it.
  const out: number[] = [];
  let i = 0;
  while (i < packed.length) {
    out.push(0x08);
    do out.push(packed[i]);
    while ((packed[i++] & 0x80) !== 0 && i < packed.length);
  }
  return Uint8Array.from(out);
}

/** Repeated floats: one fixed32, or a packed run. */
export function floats(f: ProtoField): number[] {
  if (f.wire === 5) return [f.f32];
  const v = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  return Array.from({ length: f.bytes.length / 4 }, (_, i) => v.getFloat32(i * 4, true));
}

/** Protobuf bytes of a length-delimited field (tag + length + payload) and of a varint field. */
export function encodeField(field: number, payload: Uint8Array): Uint8Array {
  const head = [...encodeVarint((field << 3) | 2), ...encodeVarint(payload.length)];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}

export function encodeVarintField(field: number, value: number): Uint8Array {
  return Uint8Array.from([...encodeVarint(field << 3), ...encodeVarint(value)]);
}

function encodeVarint(v: number): number[] {
  const out: number[] = [];
  let x = v;
  do {
    let b = x & 0x7f;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    out.push(b);
  } while (x > 0);
  return out;
}
