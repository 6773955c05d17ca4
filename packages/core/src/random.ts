/** Seeded pseudo-random numbers (splitmix32-seeded mulberry32): every random choice of a run derives from its seed. */
export class Rng {
  private state: number;

  constructor(seed: number) {
    // splitmix32 scramble so nearby seeds give unrelated streams
    let z = (seed >>> 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.state = (z ^ (z >>> 16)) >>> 0;
  }

  /** The generator's whole state (one uint32), for a checkpoint; `Rng.fromState` continues the same stream. */
  getState(): number {
    return this.state;
  }

  /** A generator that continues exactly where the one whose `getState()` gave `state` was. */
  static fromState(state: number): Rng {
    if (!Number.isInteger(state) || state < 0 || state > 0xffffffff) {
      throw new RangeError(`Rng state must be a uint32, got ${state}`);
    }
    const r = new Rng(0);
    r.state = state >>> 0;
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A new array with the items in random order (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** A seed for a sub-component, derived deterministically. */
  fork(): number {
    return Math.floor(this.next() * 2 ** 31);
  }
}

/** Derives a stable seed for a named purpose from a run seed (independent of call order). */
export function deriveSeed(seed: number, purpose: string): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < purpose.length; i++) h = Math.imul(h ^ purpose.charCodeAt(i), 16777619);
  return (h >>> 0) % 2 ** 31;
}

/** splitmix32 finaliser: scrambles a 32-bit integer into a well-mixed one. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

/** FNV-1a of a string, so a seed can depend on a name (e.g. a class) instead of its position. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Combines several integers into one seed (order matters). */
export function mixSeeds(...parts: readonly number[]): number {
  let h = 0x6a09e667;
  for (const p of parts) h = mix32((h ^ (p >>> 0)) + Math.imul(h, 31));
  return h;
}
