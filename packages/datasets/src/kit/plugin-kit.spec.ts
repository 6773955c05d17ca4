import { describe, expect, it } from 'vitest';
import { attributeTable, classSplit, renderedImages } from './plugin-kit.js';

const CLASSES = ['a', 'b', 'c', 'd'];
const path = (c: string, i: number): string => `mem://${c}/${i}`;
const split = (seed: number) =>
  classSplit({ classes: CLASSES, unseen: ['c'], imagesPerClass: 10, testFraction: 0.3, seed, path });

describe('plugin kit: dataset helpers', () => {
  it('classSplit: unseen images all test_unseen, 3 of 10 per seen class test_seen, disjoint and covering', () => {
    const { classes, samples, split: s } = split(1);
    expect(classes).toEqual(CLASSES.map((name, index) => ({ index, name })));
    expect(samples[13]).toEqual({ index: 13, classIndex: 1, path: 'mem://b/3' });
    expect([s.seen, s.unseen]).toEqual([[0, 1, 3], [2]]);
    expect([s.trainval.length, s.testSeen.length, s.testUnseen.length]).toEqual([21, 9, 10]);
    expect(s.testUnseen).toEqual([20, 21, 22, 23, 24, 25, 26, 27, 28, 29]);
    for (const c of [0, 1, 3]) expect(s.testSeen.filter((i) => samples[i].classIndex === c)).toHaveLength(3);
    expect(new Set([...s.trainval, ...s.testSeen, ...s.testUnseen]).size).toBe(40);
    // seeded: the same seed gives the same split, another seed another one
    expect(split(1).split).toEqual(s);
    expect(split(2).split.testSeen).not.toEqual(s.testSeen);
  });

  it('classSplit: an unseen name that is not a class is an error listing the classes', () => {
    const o = { classes: CLASSES, unseen: ['e'], imagesPerClass: 4, testFraction: 0.25, seed: 1, path: () => '' };
    expect(() => classSplit(o)).toThrow("unseen class 'e' is not a class (known: a, b, c, d)");
  });

  it('attributeTable: one row per class, in class order', () => {
    const t = attributeTable(['ab', 'b'], ['a', 'b'], (c, a) => (c.includes(a) ? 1 : 0), 'test');
    const read = [t.names, t.matrix.rows, t.matrix.cols, Array.from(t.matrix.data), t.source];
    expect(read).toEqual([['a', 'b'], 2, 2, [1, 1, 0, 1], 'test']);
  });

  it('renderedImages: batches of the asked size, in order, each image from render(index)', async () => {
    const spec = { height: 2, width: 1, channels: 3 } as const;
    const batches = [];
    for await (const b of renderedImages([5, 1, 7], spec, 2, (i) => new Float32Array(6).fill(i))) batches.push(b);
    expect(batches.map((b) => b.indices)).toEqual([[5, 1], [7]]);
    expect(Array.from(batches[0].pixels)).toEqual([5, 5, 5, 5, 5, 5, 1, 1, 1, 1, 1, 1]);
    expect(batches[1].spec).toBe(spec);
  });
});
