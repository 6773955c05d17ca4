/**
 * Builds ONNX models (ModelProto bytes) in code: inputs, weight initializers, nodes, outputs. Used to run
 * fixed computations — a backbone's forward pass, a linearised NIWT head, a DEM training step — on
 * onnxruntime, which reaches the CPU's GEMM/conv ceiling where tfjs-wasm reaches about a quarter of it.
 */
import { ProtoMessage } from './proto.js';

/** Typed ONNX attribute values (ONNX distinguishes int and float attributes). */
export type OnnxAttr =
  { i: number } | { f: number } | { ints: readonly number[] } | { floats: readonly number[] } | { s: string };

export type OnnxType = 'float32' | 'int64' | 'bool' | 'int32' | 'uint8';

const ELEM: Record<OnnxType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9 };
const OPSET = 17;
const IR_VERSION = 8;

interface ValueInfo {
  readonly name: string;
  readonly dims: readonly (number | string)[];
  readonly type: OnnxType;
}

export class OnnxGraph {
  private readonly nodes: ProtoMessage[] = [];
  private readonly inits: ProtoMessage[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`onnx graph '${this.name}': the name '${name}' is used twice`);
    this.names.add(name);
    return name;
  }

  /** A fresh value name. */
  fresh(prefix = 't'): string {
    let n: string;
    do n = `${prefix}_${this.counter++}`;
    while (this.names.has(n));
    return n;
  }

  /** Declares a graph input; dims may be symbolic ('batch'). Returns the name. */
  input(name: string, dims: readonly (number | string)[], type: OnnxType = 'float32'): string {
    this.inputs.push({ name: this.claim(name), dims, type });
    return name;
  }

  /** A constant tensor baked into the model (weights). Returns the name. */
  initializer(
    name: string,
    data: Float32Array | BigInt64Array | Int32Array | Uint8Array,
    dims: readonly number[],
  ): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (n !== data.length)
      throw new Error(`onnx initializer '${name}': ${data.length} values for dims [${dims.join(', ')}]`);
    const type: OnnxType =
      data instanceof Float32Array
        ? 'float32'
        : data instanceof BigInt64Array
          ? 'int64'
          : data instanceof Int32Array
            ? 'int32'
            : 'uint8';
    const t = new ProtoMessage();
    for (const d of dims) t.int(1, d);
    t.int(2, ELEM[type]);
    t.string(8, this.claim(name));
    // raw_data is little-endian, as typed arrays are on every platform Node runs on here.
    t.bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.inits.push(t);
    return name;
  }

  /** A float32 constant from plain numbers (shapes, scalars). */
  constant(data: readonly number[], dims: readonly number[] = [data.length], prefix = 'c'): string {
    return this.initializer(this.fresh(prefix), Float32Array.from(data), dims);
  }

  /** An int64 constant (Reshape shapes, axes). */
  int64s(data: readonly number[], prefix = 'i'): string {
    return this.initializer(this.fresh(prefix), BigInt64Array.from(data.map((d) => BigInt(d))), [data.length]);
  }

  /** Adds a node; returns its output names (auto-named unless `outputs` gives names; a number gives a count). */
  node(
    opType: string,
    inputs: readonly string[],
    attrs: Record<string, OnnxAttr> = {},
    outputs: readonly string[] | number = 1,
  ): string[] {
    const outs =
      typeof outputs === 'number'
        ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase()))
        : [...outputs];
    for (const o of outs) if (typeof outputs !== 'number') this.claim(o);
    for (const o of outs) this.names.add(o);
    const m = new ProtoMessage();
    for (const i of inputs) m.string(1, i);
    for (const o of outs) m.string(2, o);
    m.string(3, `${opType}_${this.nodes.length}`);
    m.string(4, opType);
    for (const [key, value] of Object.entries(attrs)) m.message(5, attribute(key, value));
    this.nodes.push(m);
    return outs;
  }

  /** One-output node. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, OnnxAttr> = {}): string {
    return this.node(opType, inputs, attrs)[0];
  }

  /** Declares a graph output (an existing value). */
  output(name: string, dims: readonly (number | string)[], type: OnnxType = 'float32'): void {
    this.outputs.push({ name, dims, type });
  }

  /** ModelProto bytes (opset 17, IR version 8). */
  toBytes(): Uint8Array {
    const g = new ProtoMessage();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, this.name);
    for (const t of this.inits) g.message(5, t);
    for (const i of this.inputs) g.message(11, valueInfo(i));
    for (const o of this.outputs) g.message(12, valueInfo(o));
    const opset = new ProtoMessage().string(1, '').int(2, OPSET);
    const model = new ProtoMessage().int(1, IR_VERSION).string(2, 'niwt-lab').message(7, g).message(8, opset);
    return model.toBytes();
  }
}

function attribute(name: string, a: OnnxAttr): ProtoMessage {
  const m = new ProtoMessage().string(1, name);
  if ('f' in a) return m.float(2, a.f).int(20, 1);
  if ('i' in a) {
    if (!Number.isInteger(a.i)) throw new Error(`onnx attribute '${name}': ${a.i} is not an integer`);
    return m.int(3, a.i).int(20, 2);
  }
  if ('s' in a) return m.string(4, a.s).int(20, 3);
  if ('floats' in a) {
    for (const f of a.floats) m.float(7, f);
    return m.int(20, 6);
  }
  for (const i of a.ints) m.int(8, i);
  return m.int(20, 7);
}

function valueInfo(v: ValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.dims)
    shape.message(1, typeof d === 'number' ? new ProtoMessage().int(1, d) : new ProtoMessage().string(2, d));
  const tensor = new ProtoMessage().int(1, ELEM[v.type]).message(2, shape);
  return new ProtoMessage().string(1, v.name).message(2, new ProtoMessage().message(1, tensor));
}
