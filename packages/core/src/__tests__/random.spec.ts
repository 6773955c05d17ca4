import { describe, expect, it } from 'vitest';
import { Rng, canonicalJson, deriveSeed, hashOf } from '../index.js';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Rng(1)),
    );
    const b = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Rng(1)),
    );
    const c = Array.from(
      { length: 5 },
      (
        (r) => () =>
          r.next()
      )(new Rng(2)),
    );
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('draws normals with mean ≈ 0 and variance ≈ 1', () => {
    const r = new Rng(3);
    const xs = Array.from({ length: 20000 }, () => r.normal());
    const m = xs.reduce((s, x) => s + x, 0) / xs.length;
    const v = xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length;
    expect(Math.abs(m)).toBeLessThan(0.03);
    expect(Math.abs(v - 1)).toBeLessThan(0.05);
  });

  it('shuffles into a permutation', () => {
    const s = new Rng(4).shuffle([0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...s].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(s).not.toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('derives purpose seeds independent of call order', () => {
    expect(deriveSeed(7, 'a')).toBe(deriveSeed(7, 'a'));
    expect(deriveSeed(7, 'a')).not.toBe(deriveSeed(7, 'b'));
  });
});

describe('hashOf', () => {
  it('ignores key order and sees value changes', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: 3 } })).toBe('{"a":{"c":3,"d":2},"b":1}');
    expect(hashOf({ a: 1, b: 2 })).toBe(hashOf({ b: 2, a: 1 }));
    expect(hashOf({ a: 1 })).not.toBe(hashOf({ a: 2 }));
  });
});

describe('seed mixing', () => {
  it('hashString is FNV-1a (known vectors)', async () => {
    const { hashString } = await import('../index.js');
    expect(hashString('')).toBe(0x811c9dc5);
    expect(hashString('a')).toBe(0xe40c292c);
    expect(hashString('foobar')).toBe(0xbf9cf968);
  });

  it('mixSeeds depends on every part and on their order', async () => {
    const { mixSeeds } = await import('../index.js');
    expect(mixSeeds(1, 2)).toBe(mixSeeds(1, 2));
    expect(mixSeeds(1, 2)).not.toBe(mixSeeds(2, 1));
    expect(mixSeeds(1, 2)).not.toBe(mixSeeds(1, 3));
  });
});
