/**
 * What `niwt weights inspect model.onnx` shows: the opset, the image input, the detected features value,
 * and every value that can be a tap with its shape (NCHW, from one onnxruntime pass on a blank image) and
 * whether the tfjs head supports everything after it.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { FormatError } from '@niwt/core';
import { OrtProgram } from '@niwt/compute';
import { OnnxGraphView } from './graph.js';
import { readModel, withOutputs } from './model.js';

export interface OnnxTap {
  readonly name: string;
  /** The node that produces it and its op. */
  readonly node: string;
  readonly op: string;
  /** [N, C, H, W] with N = 1. */
  readonly shape: readonly number[];
  /** The first head op the tfjs head lacks, if any ('' when every op is supported). */
  readonly unsupported: string;
}

export interface OnnxInspection {
  readonly file: string;
  readonly opset: number;
  readonly producer: string;
  readonly input: { readonly name: string; readonly dims: readonly (number | string)[] };
  readonly features?: { readonly name: string; readonly dim: number };
  readonly taps: readonly OnnxTap[];
  readonly nodes: number;
  readonly parameters: number;
}

/** Inspects a `.onnx` file; `inputSize` is used when the model's H, W are dynamic (default 224). */
export async function inspectOnnx(file: string, inputSize = 224): Promise<OnnxInspection> {
  const abs = path.resolve(file);
  const model = readModel(abs, statSync(abs));
  const g = new OnnxGraphView(model);
  const input = model.inputs[0];
  if (!input || input.dims.length !== 4) throw new FormatError(`${abs}: expected one image input [N, 3, H, W]`);
  const features = g.defaultFeatures;
  const candidates = features ? g.separators(features) : [];
  const size = typeof input.dims[2] === 'number' ? input.dims[2] : inputSize;
  const batch = typeof input.dims[0] === 'number' ? input.dims[0] : 1;
  const values = [...candidates, ...(features ? [features] : [])];
  const extra = values.filter((v) => !model.outputs.some((o) => o.name === v));
  const prog = await OrtProgram.create(withOutputs(model.bytes, extra), { threads: 1 });
  let out: Record<string, { dims: number[] }>;
  try {
    out = await prog.run({
      [input.name]: { data: new Float32Array(batch * 3 * size * size), dims: [batch, 3, size, size] },
    });
  } finally {
    await prog.dispose();
  }
  const taps: OnnxTap[] = [];
  for (const v of candidates) {
    const dims = out[v]?.dims;
    if (!dims || dims.length !== 4) continue;
    const bad = features ? g.unsupported(g.headNodes(v, features) ?? []) : undefined;
    const p = g.producer.get(v)!;
    taps.push({
      name: v,
      node: p.name,
      op: p.opType,
      shape: [1, ...dims.slice(1)],
      unsupported: bad ? `${bad.opType} (${bad.name})` : '',
    });
  }
  let parameters = 0;
  for (const t of model.initializers.values()) if (t.kind === 'float') parameters += t.data.length;
  const fd = features ? out[features]?.dims : undefined;
  return {
    file: abs,
    opset: model.opset,
    producer: model.producer,
    input: { name: input.name, dims: input.dims },
    features: features && fd ? { name: features, dim: fd.slice(1).reduce((a, b) => a * b, 1) } : undefined,
    taps,
    nodes: model.nodes.length,
    parameters,
  };
}
