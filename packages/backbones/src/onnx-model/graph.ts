/**
 * The parts of an ONNX graph the `onnx` backbone splits it into: the features value (by default the input
 * of the last Gemm/MatMul: the penultimate features of a classifier), the head (the nodes from a tap to the
 * features), and the values that can be taps (every path from the image to the features passes through
 * them, so the head is a function of the tap alone).
 */
import type { OnnxModel, OnnxNode, OnnxTensor } from './model.js';

/** Ops the tfjs head implements (constant subgraphs of shape arithmetic included). */
export const HEAD_OPS: ReadonlySet<string> = new Set([
  'Conv',
  'BatchNormalization',
  'Relu',
  'LeakyRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'ReduceMean',
  'Flatten',
  'Reshape',
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Concat',
  'Identity',
  'Dropout',
  'Constant',
  'Shape',
  'Gather',
  'Unsqueeze',
  'Squeeze',
  'Cast',
]);

export class OnnxGraphView {
  readonly producer = new Map<string, OnnxNode>();
  readonly consumers = new Map<string, OnnxNode[]>();
  readonly input: string;
  /** The last Gemm/MatMul (the classifier) and the value it reads. */
  readonly classifier?: OnnxNode;
  readonly defaultFeatures?: string;

  constructor(readonly model: OnnxModel) {
    for (const n of model.nodes) {
      for (const o of n.outputs) this.producer.set(o, n);
      for (const i of n.inputs) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
    }
    this.input = model.inputs[0]?.name ?? '';
    const last = [...model.nodes].reverse().find((n) => n.opType === 'Gemm' || n.opType === 'MatMul');
    this.classifier = last;
    this.defaultFeatures = last?.inputs[0];
  }

  constant(name: string): OnnxTensor | undefined {
    const init = this.model.initializers.get(name);
    if (init) return init;
    const p = this.producer.get(name);
    const v = p?.opType === 'Constant' ? p.attrs.get('value') : undefined;
    return v !== undefined && typeof v === 'object' && 'dims' in v ? v : undefined;
  }

  /** Whether a value is produced by a node (or is the graph input). */
  has(name: string): boolean {
    return this.producer.has(name) || name === this.input;
  }

  /**
   * The nodes from `tap` to `features`, in graph (topological) order; undefined when a path from the
   * image input reaches the features without passing through the tap.
   */
  headNodes(tap: string, features: string): OnnxNode[] | undefined {
    const seen = new Set<string>();
    const nodes = new Set<OnnxNode>();
    const stack = [features];
    while (stack.length) {
      const v = stack.pop()!;
      if (v === tap || v === '' || seen.has(v)) continue;
      seen.add(v);
      if (v === this.input) return undefined;
      if (this.model.initializers.has(v)) continue;
      const p = this.producer.get(v);
      if (!p) continue; // a second graph input or an unknown value: not the image
      nodes.add(p);
      stack.push(...p.inputs);
    }
    return this.model.nodes.filter((n) => nodes.has(n));
  }

  /**
   * Values that can be taps, in graph order: node outputs on every path from the input to the features,
   * the features themselves excluded. Rank is not checked here (shapes come from onnxruntime).
   */
  separators(features: string): string[] {
    const out: string[] = [];
    const ancestors = this.ancestors(features);
    for (const n of this.model.nodes) {
      const v = n.outputs[0];
      if (!v || v === features || !ancestors.has(v) || this.constantValue(v)) continue;
      if (this.headNodes(v, features)) out.push(v);
    }
    return out;
  }

  /** Values the features depend on. */
  private ancestors(v: string): Set<string> {
    const seen = new Set<string>();
    const stack = [v];
    while (stack.length) {
      const x = stack.pop()!;
      if (seen.has(x)) continue;
      seen.add(x);
      const p = this.producer.get(x);
      if (p) stack.push(...p.inputs.filter(Boolean));
    }
    return seen;
  }

  /** A value computed from constants only (shape arithmetic), never a tap. */
  private constantValue(v: string, memo = new Map<string, boolean>()): boolean {
    if (memo.has(v)) return memo.get(v)!;
    if (this.model.initializers.has(v)) return true;
    const p = this.producer.get(v);
    let r = false;
    if (p)
      r =
        p.opType === 'Constant' ||
        p.opType === 'Shape' ||
        (p.inputs.length > 0 && p.inputs.every((i) => !i || this.constantValue(i, memo)));
    memo.set(v, r);
    return r;
  }

  /** The first head node whose op the tfjs head lacks. */
  unsupported(nodes: readonly OnnxNode[]): OnnxNode | undefined {
    return nodes.find((n) => !HEAD_OPS.has(n.opType) || (n.domain !== '' && n.domain !== 'ai.onnx'));
  }

  /** The node that produces `v`, for messages (`/layer4/layer4.0/relu_1/Relu (Relu)`). */
  describe(v: string): string {
    const p = this.producer.get(v);
    return p ? `${p.name} (${p.opType})` : v;
  }
}
