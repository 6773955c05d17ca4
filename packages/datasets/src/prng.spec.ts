import { describe, expect, it } from 'vitest';
import { deriveSeed, hashString, mix32, Rng } from './prng.js';

describe('Rng', () => {
  it('repeats its stream for a seed, and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(new Rng(43).next()).not.toBe(xs[0]);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });

  it('is mulberry32: pins the first values (every folder split depends on them)', () => {
    const r = new Rng(0);
    expect([r.next(), r.next(), r.next()].map((x) => Math.round(x * 1e9))).toEqual([266_429_209, 329_746, 223_272_027]);
  });

  it('has roughly uniform and normal moments', () => {
    const r = new Rng(1);
    const n = 20_000;
    let s = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      s += z;
      s2 += z * z;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.03);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.05);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[r.int(4)]++;
    for (const c of counts) expect(Math.abs(c / n - 0.25)).toBeLessThan(0.02);
  });

  it('shuffles into a permutation without touching the input', () => {
    const items = Array.from({ length: 50 }, (_, i) => i);
    const shuffled = new Rng(5).shuffle(items);
    expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled).not.toEqual(items);
    expect(new Rng(5).shuffle(items)).toEqual(shuffled);
  });
});

describe('seed helpers', () => {
  it('are deterministic 32-bit values that depend on order and content', () => {
    expect(hashString('cat')).toBe(hashString('cat'));
    expect(hashString('cat')).not.toBe(hashString('act'));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    for (const v of [mix32(0), hashString(''), deriveSeed(7, 3, 9)]) expect(Number.isInteger(v) && v >= 0 && v < 2 ** 32).toBe(true);
  });
});
