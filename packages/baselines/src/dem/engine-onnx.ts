/**
 * The DEM training step on onnxruntime: one ONNX graph computes, for a class-grouped batch, the data loss
 * and its gradients (hand-derived backward pass), with the parameters as graph inputs owned by JS; a fused
 * Adam loop (`FusedAdam`) then updates them in place. ORT runs the three R×H×D GEMMs of a step at the CPU's
 * GEMM ceiling on every core, where tfjs-wasm reaches about a quarter of it on one.
 *
 * Backward pass of f = relu(z₂), z₂ = h₁W₂ + b₂, h₁ = relu(aW₁ + b₁) and L = Σ_r w_r‖f_r − x̄_r‖² / 2 with
 * w_r = 2·n_r/(B·D) (the grouped MSE without its constant scatter term):
 *   g = w ⊙ (f − x̄) ⊙ [f > 0];  dW₂ = h₁ᵀg;  db₂ = Σ_r g;  gh = (g W₂ᵀ) ⊙ [h₁ > 0];  dW₁ = aᵀgh;  db₁ = Σ_r gh.
 * (tfjs's ReLU gradient is also the step at 0 from the right: [x > 0].)
 */
import { type Matrix } from '@niwt/core';
import { FusedAdam, OnnxGraph, OrtProgram } from '@niwt/compute';
import type { DemEngine } from './engine.js';
import { forwardParams, type DemBatch, type DemParams } from './model.js';

/** The step graph for E-dim class rows, H hidden units, D feature dims; the row count R is symbolic. */
export function demStepGraph(E: number, H: number, D: number): OnnxGraph {
  const g = new OnnxGraph(`dem-step-${E}x${H}x${D}`);
  const a = g.input('a', ['rows', E]);
  const means = g.input('means', ['rows', D]);
  const weight = g.input('weight', ['rows', 1]);
  const w1 = g.input('w1', [E, H]);
  const b1 = g.input('b1', [H]);
  const w2 = g.input('w2', [H, D]);
  const b2 = g.input('b2', [D]);
  const zero = g.constant([0], []);
  const axis0 = g.int64s([0]);

  const h1 = g.op('Relu', [g.op('Gemm', [a, w1, b1])]);
  const f = g.op('Relu', [g.op('Gemm', [h1, w2, b2])]);
  const diff = g.op('Sub', [f, means]);
  const wd = g.op('Mul', [diff, weight]);
  g.node('ReduceSum', [g.op('Mul', [wd, diff])], { keepdims: { i: 0 } }, ['wsse']);
  const gz2 = g.op('Where', [g.op('Greater', [f, zero]), wd, zero]);
  g.node('Gemm', [h1, gz2], { transA: { i: 1 } }, ['dw2']);
  g.node('ReduceSum', [gz2, axis0], { keepdims: { i: 0 } }, ['db2']);
  const gz1 = g.op('Where', [g.op('Greater', [h1, zero]), g.op('Gemm', [gz2, w2], { transB: { i: 1 } }), zero]);
  g.node('Gemm', [a, gz1], { transA: { i: 1 } }, ['dw1']);
  g.node('ReduceSum', [gz1, axis0], { keepdims: { i: 0 } }, ['db1']);

  g.output('wsse', []);
  g.output('dw1', [E, H]);
  g.output('db1', [H]);
  g.output('dw2', [H, D]);
  g.output('db2', [D]);
  return g;
}

/** What a DEM step returns besides updating the parameters. */
export interface DemStepGradients {
  /** Σ_r w_r‖f_r − x̄_r‖² (twice the grouped data loss without the scatter term). */
  readonly wsse: number;
  readonly grads: DemParams;
}

/** DEM training on onnxruntime: parameters and Adam moments in JS typed arrays. */
export class OnnxDemEngine {
  private readonly adam: FusedAdam;
  /** The parameters: views on the Adam kernel's memory, fed to onnxruntime without a copy. */
  private readonly theta: DemParams;
  /** ‖θ‖² of the current parameters (kept up to date by the Adam kernel). */
  private sq: number;

  private constructor(
    private readonly program: OrtProgram,
    private readonly knowledge: Matrix,
    init: DemParams,
    private readonly hidden: number,
    private readonly featureDim: number,
    private readonly opts: { readonly lr: number; readonly lambda: number },
  ) {
    this.adam = new FusedAdam([init.w1, init.b1, init.w2, init.b2], { lr: opts.lr, l2: opts.lambda });
    const [w1, b1, w2, b2] = this.adam.params;
    this.theta = { w1, b1, w2, b2 };
    this.sq = this.adam.sumSquares();
  }

  /** Compiles the step graph (throws BackendError when onnxruntime is unavailable); copies `init`. */
  static async create(
    knowledge: Matrix,
    featureDim: number,
    init: DemParams,
    opts: { readonly lr: number; readonly lambda: number; readonly threads?: number },
  ): Promise<OnnxDemEngine> {
    const H = init.b1.length;
    const program = await OrtProgram.create(demStepGraph(knowledge.cols, H, featureDim), { threads: opts.threads });
    return new OnnxDemEngine(program, knowledge, init, H, featureDim, opts);
  }

  /** The data-loss gradients of one batch at the current parameters (no update). */
  async gradients(batch: DemBatch): Promise<DemStepGradients> {
    const R = batch.classes.length;
    const E = this.knowledge.cols;
    const D = this.featureDim;
    const a = new Float32Array(R * E);
    for (let r = 0; r < R; r++)
      a.set(this.knowledge.data.subarray(batch.classes[r] * E, (batch.classes[r] + 1) * E), r * E);
    const weight = new Float32Array(R);
    for (let r = 0; r < R; r++) weight[r] = (2 * batch.counts[r]) / (batch.size * D);
    const t = this.theta;
    const H = this.hidden;
    const out = await this.program.run({
      a: { data: a, dims: [R, E] },
      means: { data: batch.means, dims: [R, D] },
      weight: { data: weight, dims: [R, 1] },
      w1: { data: t.w1, dims: [E, H] },
      b1: { data: t.b1, dims: [H] },
      w2: { data: t.w2, dims: [H, D] },
      b2: { data: t.b2, dims: [D] },
    });
    return {
      wsse: out.wsse.data[0],
      grads: { w1: out.dw1.data, b1: out.db1.data, w2: out.dw2.data, b2: out.db2.data },
    };
  }

  /** One Adam step on the batch; returns the batch loss before the update (data MSE + λ·½‖θ‖²). */
  async step(batch: DemBatch): Promise<number> {
    const { wsse, grads } = await this.gradients(batch);
    const loss = wsse / 2 + batch.scatter / (batch.size * this.featureDim) + (this.opts.lambda / 2) * this.sq;
    this.sq = this.adam.step([grads.w1, grads.b1, grads.w2, grads.b2]);
    return loss;
  }

  /** Intra-op threads of the onnxruntime session. */
  get threads(): number {
    return this.program.threads;
  }

  /** The current parameters (live views: copy before the next step if they must be kept). */
  get params(): DemParams {
    return this.theta;
  }

  async dispose(): Promise<void> {
    await this.program.dispose();
  }
}

/** The onnx engine behind the `DemEngine` interface. */
export class OrtDemEngine implements DemEngine {
  constructor(private readonly engine: OnnxDemEngine) {}

  step(batch: DemBatch): Promise<number> {
    return this.engine.step(batch);
  }

  params(): DemParams {
    const p = this.engine.params;
    return { w1: p.w1.slice(), b1: p.b1.slice(), w2: p.w2.slice(), b2: p.b2.slice() };
  }

  forward(knowledge: Matrix): Float32Array {
    return forwardParams(this.engine.params, knowledge);
  }

  dispose(): Promise<void> {
    return this.engine.dispose();
  }
}
