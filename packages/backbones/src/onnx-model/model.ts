/**
 * Reading an ONNX ModelProto (what `torch.onnx.export` writes): opsets, metadata, graph inputs/outputs,
 * nodes with their attributes, and initializers as typed arrays. Only what the `onnx` backbone needs;
 * external-data tensors (models over 2 GB) are refused with a message.
 */
import { readFileSync } from 'node:fs';
import { FormatError } from '@niwt/core';
import {
  ProtoReader,
  encodeField,
  encodeVarintField,
  floats,
  signed,
  str,
  varints,
  type ProtoField,
} from './proto-reader.js';

/** A constant tensor: float32 data (float/double/float16 converted) or integers (int32/int64/bool as numbers). */
export interface OnnxTensor {
  readonly dims: readonly number[];
  readonly kind: 'float' | 'int';
  readonly data: Float32Array | Float64Array;
}

export type OnnxAttrValue = number | string | readonly number[] | OnnxTensor;

export interface OnnxNode {
  readonly name: string;
  readonly opType: string;
  readonly domain: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
  readonly attrs: ReadonlyMap<string, OnnxAttrValue>;
}

export interface OnnxValueInfo {
  readonly name: string;
  /** Dimension sizes; a symbolic dimension (e.g. `batch`) is its name. */
  readonly dims: readonly (number | string)[];
}

export interface OnnxModel {
  readonly file: string;
  readonly opset: number;
  readonly producer: string;
  readonly metadata: ReadonlyMap<string, string>;
  readonly inputs: readonly OnnxValueInfo[];
  readonly outputs: readonly OnnxValueInfo[];
  readonly nodes: readonly OnnxNode[];
  readonly initializers: ReadonlyMap<string, OnnxTensor>;
  /** The raw file, for onnxruntime. */
  readonly bytes: Uint8Array;
}

function tensor(b: Uint8Array, what: string): OnnxTensor & { name: string } {
  let dims: number[] = [];
  let type = 1;
  let name = '';
  let raw: Uint8Array | undefined;
  const fl: number[] = [];
  const ints: number[] = [];
  let external = false;
  for (const f of new ProtoReader(b, what).fields()) {
    if (f.field === 1) dims = dims.concat(varints(f, what));
    else if (f.field === 2) type = Number(f.int);
    else if (f.field === 4) fl.push(...floats(f));
    else if (f.field === 5 || f.field === 7) ints.push(...varints(f, what));
    else if (f.field === 8) name = str(f.bytes);
    else if (f.field === 9) raw = f.bytes;
    else if (f.field === 10) fl.push(...doubles(f));
    else if (f.field === 14) external = Number(f.int) === 1;
  }
  if (external)
    throw new FormatError(
      `${what}: tensor '${name}' keeps its data in an external file; ` +
        `re-export with the weights inside the .onnx (models under 2 GB)`,
    );
  const size = dims.reduce((a, c) => a * c, 1);
  const isFloat = type === 1 || type === 10 || type === 11 || type === 16;
  let data: Float32Array | Float64Array;
  if (raw) {
    const copy = raw.slice(); // aligned
    const v = new DataView(copy.buffer);
    if (type === 1) data = new Float32Array(copy.buffer, 0, size);
    else if (type === 11) data = Float32Array.from(new Float64Array(copy.buffer, 0, size));
    else if (type === 10) data = Float32Array.from({ length: size }, (_, i) => half(v.getUint16(i * 2, true)));
    else if (type === 7) data = Float64Array.from({ length: size }, (_, i) => Number(v.getBigInt64(i * 8, true)));
    else if (type === 6) data = Float64Array.from(new Int32Array(copy.buffer, 0, size));
    else if (type === 9 || type === 2) data = Float64Array.from(copy.subarray(0, size));
    else
      throw new FormatError(
        `${what}: tensor '${name}' has ONNX data type ${type}, which the onnx backbone does not read`,
      );
  } else {
    data = isFloat ? Float32Array.from(fl) : Float64Array.from(ints);
  }
  return { name, dims, kind: isFloat ? 'float' : 'int', data };
}

function doubles(f: ProtoField): number[] {
  if (f.wire === 1) return [f.f32];
  const v = new DataView(f.bytes.buffer, f.bytes.byteOffset, f.bytes.byteLength);
  return Array.from({ length: f.bytes.length / 8 }, (_, i) => v.getFloat64(i * 8, true));
}

function half(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

function attribute(b: Uint8Array, what: string): [string, OnnxAttrValue] {
  let name = '';
  let value: OnnxAttrValue | undefined;
  const ints: number[] = [];
  const fl: number[] = [];
  let type = 0;
  for (const f of new ProtoReader(b, what).fields()) {
    if (f.field === 1) name = str(f.bytes);
    else if (f.field === 2) value = f.f32;
    else if (f.field === 3) value = signed(f.int);
    else if (f.field === 4) value = str(f.bytes);
    else if (f.field === 5) value = tensor(f.bytes, what);
    else if (f.field === 7) fl.push(...floats(f));
    else if (f.field === 8) ints.push(...varints(f, what));
    else if (f.field === 20) type = Number(f.int);
  }
  if (type === 6 || (value === undefined && fl.length)) value = fl;
  if (type === 7 || (value === undefined && ints.length)) value = ints;
  return [name, value ?? []];
}

function node(b: Uint8Array, what: string): OnnxNode {
  const inputs: string[] = [];
  const outputs: string[] = [];
  const attrs = new Map<string, OnnxAttrValue>();
  let name = '';
  let opType = '';
  let domain = '';
  for (const f of new ProtoReader(b, what).fields()) {
    if (f.field === 1) inputs.push(str(f.bytes));
    else if (f.field === 2) outputs.push(str(f.bytes));
    else if (f.field === 3) name = str(f.bytes);
    else if (f.field === 4) opType = str(f.bytes);
    else if (f.field === 5) {
      const [k, v] = attribute(f.bytes, what);
      attrs.set(k, v);
    } else if (f.field === 7) domain = str(f.bytes);
  }
  return { name: name || `${opType}(${outputs[0] ?? '?'})`, opType, domain, inputs, outputs, attrs };
}

function valueInfo(b: Uint8Array, what: string): OnnxValueInfo {
  let name = '';
  const dims: (number | string)[] = [];
  for (const f of new ProtoReader(b, what).fields()) {
    if (f.field === 1) name = str(f.bytes);
    else if (f.field === 2) {
      for (const t of new ProtoReader(f.bytes, what).fields()) {
        if (t.field !== 1) continue; // tensor_type
        for (const tt of new ProtoReader(t.bytes, what).fields()) {
          if (tt.field !== 2) continue; // shape
          for (const d of new ProtoReader(tt.bytes, what).fields()) {
            let dim: number | string = '?';
            for (const x of new ProtoReader(d.bytes, what).fields())
              dim = x.field === 1 ? signed(x.int) : x.field === 2 ? str(x.bytes) : dim;
            dims.push(dim);
          }
        }
      }
    }
  }
  return { name, dims };
}

/** Parses ONNX ModelProto bytes. */
export function parseModel(bytes: Uint8Array, file: string): OnnxModel {
  let opset = 0;
  let producer = '';
  let graph: Uint8Array | undefined;
  const metadata = new Map<string, string>();
  for (const f of new ProtoReader(bytes, file).fields()) {
    if (f.field === 2) producer = str(f.bytes);
    else if (f.field === 7) graph = f.bytes;
    else if (f.field === 8) {
      let domain = '';
      let version = 0;
      for (const g of new ProtoReader(f.bytes, file).fields()) {
        if (g.field === 1) domain = str(g.bytes);
        else if (g.field === 2) version = signed(g.int);
      }
      if (domain === '' || domain === 'ai.onnx') opset = version;
    } else if (f.field === 14) {
      let k = '';
      let v = '';
      for (const g of new ProtoReader(f.bytes, file).fields()) {
        if (g.field === 1) k = str(g.bytes);
        else if (g.field === 2) v = str(g.bytes);
      }
      metadata.set(k, v);
    }
  }
  if (!graph) throw new FormatError(`${file}: not an ONNX model (no graph); export one with torch.onnx.export`);
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensor>();
  const inputs: OnnxValueInfo[] = [];
  const outputs: OnnxValueInfo[] = [];
  for (const f of new ProtoReader(graph, file).fields()) {
    if (f.field === 1) nodes.push(node(f.bytes, file));
    else if (f.field === 5) {
      const t = tensor(f.bytes, file);
      initializers.set(t.name, t);
    } else if (f.field === 11) inputs.push(valueInfo(f.bytes, file));
    else if (f.field === 12) outputs.push(valueInfo(f.bytes, file));
  }
  if (nodes.length === 0) throw new FormatError(`${file}: the ONNX graph has no nodes`);
  const realInputs = inputs.filter((i) => !initializers.has(i.name));
  return { file, opset, producer, metadata, inputs: realInputs, outputs, nodes, initializers, bytes };
}

const cache = new Map<string, { mtimeMs: number; size: number; model: OnnxModel }>();

/** Reads and parses a `.onnx` file (memoised on path, size and mtime: config checks and the backbone share it). */
export function readModel(file: string, stat: { mtimeMs: number; size: number }): OnnxModel {
  const hit = cache.get(file);
  if (hit && hit.mtimeMs === stat.mtimeMs && hit.size === stat.size) return hit.model;
  const model = parseModel(new Uint8Array(readFileSync(file)), file);
  cache.clear(); // one model at a time: a ResNet's weights are tens of MB
  cache.set(file, { ...stat, model });
  return model;
}

/**
 * The model bytes with extra graph outputs (float tensors of any shape). Protobuf merges repeated fields of
 * a message that occurs twice, so appending a second `graph` field that holds only outputs adds them.
 */
export function withOutputs(bytes: Uint8Array, names: readonly string[]): Uint8Array {
  const tensorType = encodeField(1, encodeVarintField(1, 1)); // TypeProto.tensor_type { elem_type: FLOAT }
  const enc = new TextEncoder();
  const outs = names.map((n) =>
    encodeField(12, new Uint8Array([...encodeField(1, enc.encode(n)), ...encodeField(2, tensorType)])),
  );
  const graph = encodeField(7, concat(outs));
  return concat([bytes, graph]);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
