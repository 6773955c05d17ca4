import { describe, expect, it } from 'vitest';
import { FormatError, matrix } from '@niwt/core';
import { columnNorms, logitRms, meanLogits, meanStd } from '../index.js';

// W (D = 2 rows × C = 3 columns), row-major: columns (3, 4), (0, -2), (1, 1)
const W = matrix(2, 3, [3, 0, 1, 4, -2, 1]);
// features (N = 2 images × D = 2): h1 = (1, 0), h2 = (1, 2)
const H = matrix(2, 2, [1, 0, 1, 2]);

describe('stage D diagnostics helpers', () => {
  it('columnNorms: the Euclidean norm of each column', () => {
    expect(Array.from(columnNorms(W))).toEqual([5, 2, Math.SQRT2]);
  });

  it('meanStd: mean and population std', () => {
    expect(meanStd([1, 2, 3, 6])).toEqual({ mean: 3, std: Math.sqrt((4 + 1 + 0 + 9) / 4) });
  });

  it('logitRms: per column, sqrt(mean over images of (wᵀh)²)', () => {
    // logits: h1 → (3, 0, 1); h2 → (3 + 8, 0 − 4, 1 + 2) = (11, −4, 3)
    const r = Array.from(logitRms(H, W));
    expect(r[0]).toBeCloseTo(Math.sqrt((9 + 121) / 2), 12);
    expect(r[1]).toBeCloseTo(Math.sqrt(16 / 2), 12);
    expect(r[2]).toBeCloseTo(Math.sqrt((1 + 9) / 2), 12);
  });

  it('meanLogits: per column, the mean logit over images plus the bias', () => {
    // mean logits (7, −2, 2), plus biases (1, 0, −0.5)
    expect(Array.from(meanLogits(H, W, [1, 0, -0.5]))).toEqual([8, -2, 1.5]);
    expect(Array.from(meanLogits(H, W))).toEqual([7, -2, 2]);
  });

  it('refuses features whose width is not the weights’ height', () => {
    expect(() => logitRms(matrix(1, 3), W)).toThrow(FormatError);
    expect(() => meanLogits(matrix(1, 3), W)).toThrow(/features have 3 columns but the weights 2 rows/);
  });
});
