import { describe, expect, it } from 'vitest';
import { DatasetError, matrix, type Dataset } from '@niwt/core';
import { attributesOptions, encodeAttributes } from '../index.js';

const ds = (m: number[]): Dataset =>
  ({
    name: 't',
    root: '/t',
    classes: [],
    samples: [],
    split: { seen: [], unseen: [], trainval: [], testSeen: [], testUnseen: [] },
    attributes: { names: ['a', 'b'], matrix: matrix(2, 2, m), source: '/t/class-attributes.txt' },
    readImages: () => (async function* () {})(),
  }) as Dataset;

describe('attributes encoder', () => {
  it('replaces missing (negative) values and keeps names', () => {
    const e = encodeAttributes(ds([-1, 50, 30, 40]), attributesOptions.parse({}));
    expect(Array.from(e.matrix.data)).toEqual([0, 50, 30, 40]);
    expect(e.dimNames).toEqual(['a', 'b']);
    expect(e.description).toBe('attributes from /t/class-attributes.txt, missing→0, normalize=none');
  });

  it('normalises per class to unit L2 or by the global max (hand computed)', () => {
    const l2 = encodeAttributes(ds([3, 4, 0, 2]), attributesOptions.parse({ normalize: 'l2' }));
    [0.6, 0.8, 0, 1].forEach((v, i) => expect(l2.matrix.data[i]).toBeCloseTo(v, 6));
    const mx = encodeAttributes(ds([3, 4, -1, 2]), attributesOptions.parse({ normalize: 'max' }));
    expect(Array.from(mx.matrix.data)).toEqual([0.75, 1, 0, 0.5]);
  });

  it('refuses a dataset without attributes', () => {
    const d = { ...ds([1, 2, 3, 4]), attributes: undefined } as Dataset;
    expect(() => encodeAttributes(d, attributesOptions.parse({}))).toThrow(DatasetError);
    expect(() => encodeAttributes(d, attributesOptions.parse({}))).toThrow(
      "/t: dataset 't' ships no class attributes; choose another knowledge encoder",
    );
  });
});
