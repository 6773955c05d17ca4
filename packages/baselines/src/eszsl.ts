/**
 * ESZSL — Embarrassingly Simple Zero-Shot Learning (Romera-Paredes & Torr, ICML 2015): the bilinear map
 * V = (XᵀX + γI)⁻¹ Xᵀ Y S (SᵀS + λI)⁻¹ in closed form, with Y ∈ {−1, 1}^{N×C} (+1 at the true class),
 * X the N × D features and S the C × E class embeddings; scores x·V·sᵀ.
 */
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { TOKENS, type FitSummary, type Matrix, type ZeroShotContext, type ZeroShotMethod } from '@niwt/core';
import {
  closedFormScores,
  fitClosedForm,
  type ClosedFormFitted,
  type ClosedFormModel,
  type ClosedFormProblem,
} from './closed-form.js';
import { addDiagonal, dense, mul, solveSpd, transpose, type Dense } from './linalg.js';

const GRID = [1e-3, 1e-2, 1e-1, 1, 10, 100, 1000];

export const eszslOptions = z.strictObject({
  /** γ (feature-side ridge) values tried; the ESZSL / xlsa17 grid 10^-3 … 10^3. */
  gammas: z.array(z.number().positive()).min(1).default(GRID),
  /** λ (embedding-side ridge) values tried. */
  lambdas: z.array(z.number().positive()).min(1).default(GRID),
  featureNorm: z.enum(['xian', 'l2', 'none']).default('l2'),
  /** Fraction of the seen classes held out (class-disjoint) to choose γ and λ. */
  valFraction: z.number().gt(0).lt(1).default(0.25),
});
export type EszslOptions = z.infer<typeof eszslOptions>;

/** The ESZSL map V (D × E) on a problem. */
export function eszslWeights(p: ClosedFormProblem, gamma: number, lambda: number): Dense {
  const { x, classEmb: s, labels } = p;
  const D = x.cols;
  const C = s.rows;
  // XᵀY: column c = 2·Σ_{i∈c} x_i − Σ_i x_i
  const xty = dense(D, C);
  const total = new Float64Array(D);
  for (let i = 0; i < x.rows; i++) {
    const c = labels[i];
    for (let d = 0; d < D; d++) {
      const v = x.data[i * D + d];
      total[d] += v;
      xty.data[d * C + c] += 2 * v;
    }
  }
  for (let d = 0; d < D; d++) for (let c = 0; c < C; c++) xty.data[d * C + c] -= total[d];
  const left = solveSpd(addDiagonal(mul(x, x, true), gamma), mul(xty, s)); // D × E
  return transpose(solveSpd(addDiagonal(mul(s, s, true), lambda), transpose(left))); // (SᵀS + λI) symmetric
}

export function bilinearScores(x: Dense, v: Dense, classEmb: Dense): Float32Array {
  return Float32Array.from(mul(mul(x, v), transpose(classEmb)).data);
}

@injectable()
export class Eszsl implements ZeroShotMethod {
  private fitted?: ClosedFormFitted;

  constructor(@inject(TOKENS.options) private readonly opts: EszslOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const grid = this.opts.gammas.flatMap((gamma) => this.opts.lambdas.map((lambda) => ({ gamma, lambda })));
    const { fitted, summary } = fitClosedForm(ctx, {
      name: 'eszsl',
      featureNorm: this.opts.featureNorm,
      valFraction: this.opts.valFraction,
      grid,
      describe: (h) => `gamma_${h.gamma}_lambda_${h.lambda}`,
      fit: (p, h): ClosedFormModel => {
        const v = eszslWeights(p, h.gamma, h.lambda);
        return { score: (x, emb) => bilinearScores(x, v, emb) };
      },
    });
    this.fitted = fitted;
    return summary;
  }

  scores(features: Matrix): Matrix {
    return closedFormScores('eszsl', this.fitted, features);
  }
}
