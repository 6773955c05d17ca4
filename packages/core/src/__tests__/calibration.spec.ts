import { describe, expect, it } from 'vitest';
import { Rng, bestGamma, calibrate, evaluateGzsl, matrix, seenUnseenCurve, thinCurve } from '../index.js';

// classes 0, 1 seen; 2, 3 unseen
const seen = [0, 1];
const unseen = [2, 3];
// seen test images: A (0) threshold 1, B (0) wrong among seen, C (1) threshold 1, G (1) threshold 0.5
const seenScores = matrix(4, 4, Float32Array.from([3, 1, 2, 0, 1, 2, 0, 0, 0, 4, 1, 3, 0, 2, 1.5, 0]));
const seenLabels = [0, 0, 1, 1];
// unseen test images: D (2) threshold 0.5, E (3) threshold 3, F (3) wrong among unseen
const unseenScores = matrix(3, 4, Float32Array.from([3.5, 0, 3, 2, 5, 0, 1, 2, 0, 0, 4, 1]));
const unseenLabels = [2, 3, 3];

describe('seenUnseenCurve (calibrated stacking, Chao et al. 2016)', () => {
  it('matches the hand-computed curve, AUSUC and best γ', () => {
    const c = seenUnseenCurve(seenScores, seenLabels, unseenScores, unseenLabels, seen, unseen);
    // per-class weights: every image 1/(2 images · 2 classes) = 0.25
    // γ < 0.5: s = A + C + G = 0.75, u = 0; (0.5, 1): G leaves, D enters → s 0.5, u 0.5;
    // (1, 3): A and C leave → s 0, u 0.5; γ > 3: E enters → s 0, u 0.75
    expect(c.points.map((p) => [p.u, p.s])).toEqual([
      [0, 0.75],
      [0.5, 0.5],
      [0.5, 0],
      [0.75, 0],
    ]);
    expect(c.points.map((p) => p.gamma)).toEqual([0.5 - 1, 0.75, 2, 3 + 3]);
    // one trapezoid: Δu 0.5 × (0.75 + 0.5) / 2
    expect(c.ausuc).toBeCloseTo(0.3125, 12);
    const best = bestGamma(c);
    expect(best.gamma).toBe(0.75);
    expect(best.H).toBeCloseTo(0.5, 12);
    // at γ = 0 the plain evaluation: s 0.75, u 0 (D needs γ > 0.5)
    const r0 = evaluateGzsl(seenScores, seenLabels, unseenScores, unseenLabels, seen, unseen);
    expect([r0.s, r0.u]).toEqual([0.75, 0]);
  });

  it(
    'every point equals evaluateGzsl on scores calibrated at its γ, and the area a dense sweep (random ' + 'scores)',
    () => {
      const rng = new Rng(3);
      const C = 9;
      const sn = [0, 1, 2, 3, 4];
      const un = [5, 6, 7, 8];
      const make = (n: number, classes: number[]): { m: ReturnType<typeof matrix>; y: number[] } => {
        const y = Array.from({ length: n }, (_, i) => classes[i % classes.length]);
        // quantised scores so that ties between thresholds occur
        const d = Float32Array.from(
          { length: n * C },
          (_, k) => Math.round(4 * rng.normal()) / 2 + (k % C === y[Math.floor(k / C)] ? 1 : 0),
        );
        return { m: matrix(n, C, d), y };
      };
      const a = make(60, sn);
      const b = make(50, un);
      const curve = seenUnseenCurve(a.m, a.y, b.m, b.y, sn, un);
      expect(curve.points.length).toBeGreaterThan(5);
      for (const p of curve.points) {
        const r = evaluateGzsl(calibrate(a.m, sn, p.gamma), a.y, calibrate(b.m, sn, p.gamma), b.y, sn, un);
        expect(p.s).toBeCloseTo(r.s, 10);
        expect(p.u).toBeCloseTo(r.u, 10);
      }
      // independent area: evaluate on a fine γ grid (every half-step of the quantised scores ± ¼ lies inside an
      // interval), keep distinct (u, s) in γ order, trapezoids
      const grid: { u: number; s: number }[] = [];
      for (let g = -40.25; g <= 40.25; g += 0.25) {
        const r = evaluateGzsl(calibrate(a.m, sn, g), a.y, calibrate(b.m, sn, g), b.y, sn, un);
        const last = grid[grid.length - 1];
        if (!last || last.u !== r.u || last.s !== r.s) grid.push({ u: r.u, s: r.s });
      }
      let area = 0;
      for (let k = 1; k < grid.length; k++) area += ((grid[k].u - grid[k - 1].u) * (grid[k].s + grid[k - 1].s)) / 2;
      expect(curve.ausuc).toBeCloseTo(area, 10);
      expect(curve.points[0].u).toBe(0);
      expect(curve.points[curve.points.length - 1].s).toBe(0);
      expect(curve.points[curve.points.length - 1].u).toBeCloseTo(evaluateGzsl(a.m, a.y, b.m, b.y, sn, un).zslT1, 10);
    },
  );

  it('thins a curve to at most n points, keeping both ends', () => {
    const pts = Array.from({ length: 10 }, (_, k) => ({ gamma: k, s: 1 - k / 9, u: k / 9, H: 0 }));
    expect(thinCurve(pts, 4).map((p) => p.gamma)).toEqual([0, 3, 6, 9]);
    expect(thinCurve(pts, 20)).toHaveLength(10);
  });
});
