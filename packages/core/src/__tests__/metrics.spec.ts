import { describe, expect, it } from 'vitest';
import { evaluateGzsl, harmonicMean, matrix, perClassAccuracy } from '../index.js';

describe('perClassAccuracy', () => {
  it('averages per-class accuracies, not per-image (hand computed)', () => {
    // class 0: 3 of 4 right; class 1: 1 of 1 right; class 2: 0 of 2 right
    const labels = [0, 0, 0, 0, 1, 2, 2];
    const pred = [0, 0, 0, 1, 1, 0, 1];
    const r = perClassAccuracy(pred, labels, [0, 1, 2]);
    expect(r.mean).toBeCloseTo((3 / 4 + 1 + 0) / 3, 10);
    expect(r.perClass.get(0)).toBeCloseTo(0.75, 10);
    // per-image accuracy would be 4/7 = 0.571; the per-class mean is 0.583
    expect(r.mean).not.toBeCloseTo(4 / 7, 3);
  });

  it('leaves classes without images out of the mean', () => {
    expect(perClassAccuracy([1], [1], [0, 1]).mean).toBe(1);
  });
});

describe('harmonicMean', () => {
  it('is 2us/(u+s) and 0 when both are 0', () => {
    expect(harmonicMean(0.2, 0.8)).toBeCloseTo(0.32, 10);
    expect(harmonicMean(0, 0)).toBe(0);
  });
});

describe('evaluateGzsl', () => {
  // 4 classes: 0,1 seen; 2,3 unseen
  const seen = [0, 1];
  const unseen = [2, 3];
  it('computes s, u, H, ZSL T1 and the confusion matrix by hand', () => {
    // test_seen: 3 images of class 0, 1 of class 1
    const seenScores = matrix(4, 4, [
      9,
      1,
      0,
      0, // → 0 ✓
      1,
      9,
      0,
      0, // → 1 ✗ (class 0)
      0,
      0,
      9,
      1, // → 2 ✗ (class 0)
      1,
      9,
      0,
      0, // → 1 ✓ (class 1)
    ]);
    const seenLabels = [0, 0, 0, 1];
    // test_unseen: 2 of class 2, 2 of class 3
    const unseenScores = matrix(4, 4, [
      0,
      0,
      5,
      1, // → 2 ✓ (ZSL ✓)
      9,
      0,
      5,
      1, // → 0 ✗ in GZSL; ZSL → 2 ✓
      0,
      0,
      1,
      5, // → 3 ✓
      0,
      9,
      5,
      1, // → 1 ✗; ZSL → 2 ✗
    ]);
    const unseenLabels = [2, 2, 3, 3];
    const r = evaluateGzsl(seenScores, seenLabels, unseenScores, unseenLabels, seen, unseen);
    const s = (1 / 3 + 1) / 2;
    const u = (1 / 2 + 1 / 2) / 2;
    expect(r.s).toBeCloseTo(s, 10);
    expect(r.u).toBeCloseTo(u, 10);
    expect(r.H).toBeCloseTo((2 * u * s) / (u + s), 10);
    expect(r.zslT1).toBeCloseTo((1 + 1 / 2) / 2, 10);
    expect(r.confusion[0]).toEqual([1, 1, 1, 0]);
    expect(r.confusion[2]).toEqual([1, 0, 1, 0]);
    expect(r.confusion[3]).toEqual([0, 1, 0, 1]);
  });

  it('ignores -Infinity columns of classes a method does not score', () => {
    const sc = matrix(1, 3, [-Infinity, 2, 1]);
    const r = evaluateGzsl(sc, [1], matrix(1, 3, [-Infinity, 2, 3]), [2], [0, 1], [2]);
    expect(r.s).toBe(1);
    expect(r.u).toBe(1);
  });
});
