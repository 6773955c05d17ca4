/**
 * SAE — Semantic Autoencoder (Kodirov, Xiang & Gong, CVPR 2017): W (E × D) minimising
 * ‖X − WᵀS‖² + λ‖WX − S‖² (X: D × N features, S: E × N class embeddings of the images), in closed form as
 * the Sylvester equation S Sᵀ W + λ W X Xᵀ = (1 + λ) S Xᵀ. Scores: cosine between the encoded image W x and
 * each class embedding ('encoder', the paper's F → S mode) or between x and the decoded class Wᵀ s ('decoder').
 */
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { TOKENS, type FitSummary, type Matrix, type ZeroShotContext, type ZeroShotMethod } from '@niwt/core';
import { closedFormScores, fitClosedForm, type ClosedFormFitted, type ClosedFormProblem } from './closed-form.js';
import { dense, mul, solveSylvesterSymmetric, transpose, type Dense } from './linalg.js';

export const saeOptions = z.strictObject({
  /** λ values tried (class-disjoint validation). */
  lambdas: z.array(z.number().positive()).min(1).default([0.01, 0.1, 1, 10, 100, 1000, 1e4, 1e5]),
  /** 'encoder': cos(W x, s_c) (semantic space); 'decoder': cos(x, Wᵀ s_c) (feature space). */
  mode: z.enum(['encoder', 'decoder']).default('encoder'),
  /** The SAE code L2-normalises each image's features. */
  featureNorm: z.enum(['xian', 'l2', 'none']).default('l2'),
  valFraction: z.number().gt(0).lt(1).default(0.25),
});
export type SaeOptions = z.infer<typeof saeOptions>;

/** W (E × D) of the Sylvester equation. */
export function saeWeights(p: ClosedFormProblem, lambda: number): Dense {
  const { x, classEmb, labels } = p;
  const E = classEmb.cols;
  const s = dense(x.rows, E); // N × E: each image's class row
  for (let i = 0; i < x.rows; i++) s.data.set(classEmb.data.subarray(labels[i] * E, (labels[i] + 1) * E), i * E);
  const a = mul(s, s, true); // S Sᵀ (E × E)
  const b = mul(x, x, true); // X Xᵀ (D × D)
  for (let k = 0; k < b.data.length; k++) b.data[k] *= lambda;
  const c = mul(s, x, true); // S Xᵀ (E × D)
  for (let k = 0; k < c.data.length; k++) c.data[k] *= 1 + lambda;
  return solveSylvesterSymmetric(a, b, c);
}

/** Row-wise cosine between the rows of `u` (N × K) and `v` (C × K): N × C. */
export function cosineScores(u: Dense, v: Dense): Float32Array {
  const norms = (m: Dense): Float64Array =>
    Float64Array.from({ length: m.rows }, (_, i) => Math.hypot(...m.data.subarray(i * m.cols, (i + 1) * m.cols)) || 1);
  const nu = norms(u);
  const nv = norms(v);
  const dots = mul(u, transpose(v));
  const out = new Float32Array(u.rows * v.rows);
  for (let i = 0; i < u.rows; i++)
    for (let c = 0; c < v.rows; c++) out[i * v.rows + c] = dots.data[i * v.rows + c] / (nu[i] * nv[c]);
  return out;
}

export function saeScores(x: Dense, w: Dense, classEmb: Dense, mode: 'encoder' | 'decoder'): Float32Array {
  return mode === 'encoder' ? cosineScores(mul(x, transpose(w)), classEmb) : cosineScores(x, mul(classEmb, w));
}

@injectable()
export class Sae implements ZeroShotMethod {
  private fitted?: ClosedFormFitted;

  constructor(@inject(TOKENS.options) private readonly opts: SaeOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const mode = this.opts.mode;
    const { fitted, summary } = fitClosedForm(ctx, {
      name: 'sae',
      featureNorm: this.opts.featureNorm,
      valFraction: this.opts.valFraction,
      grid: this.opts.lambdas,
      describe: (l) => `lambda_${l}`,
      fit: (p, l) => {
        const w = saeWeights(p, l);
        return { score: (x, emb) => saeScores(x, w, emb, mode) };
      },
    });
    this.fitted = fitted;
    return summary;
  }

  scores(features: Matrix): Matrix {
    return closedFormScores('sae', this.fitted, features);
  }
}
