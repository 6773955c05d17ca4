import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Dataset } from '@niwt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASSES, IMAGES_PER_CLASS, tempDir, writeValidDataset } from '../../test/fixtures.js';
import { loadFolderDataset } from './load.js';
import { heldOutCount } from './split.js';

describe('loadFolderDataset', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let root: string;
  let ds: Dataset;
  beforeAll(async () => {
    tmp = await tempDir();
    root = path.join(tmp.dir, 'animals');
    await writeValidDataset(root);
    ds = await loadFolderDataset(root);
  });
  afterAll(() => tmp.cleanup());

  it('reads classes, attributes and samples in class then file-name order', () => {
    expect(ds.name).toBe('animals');
    expect(ds.root).toBe(root);
    expect(ds.classes).toEqual(CLASSES.map((name, index) => ({ index, name })));
    expect(ds.attributes?.names).toEqual(['furry', 'flies', 'size']);
    expect(ds.attributes?.source).toBe(path.join(root, 'class-attributes.txt'));
    expect(ds.attributes?.matrix.rows).toBe(5);
    expect(Array.from(ds.attributes?.matrix.data ?? [])).toEqual([
      90, 0, 40, 95, 0, 50, 80.5, 0, 45, 60, 100, 30, 10, 100, 1.5,
    ]);
    expect(ds.samples).toHaveLength(CLASSES.length * IMAGES_PER_CLASS);
    ds.samples.forEach((s, i) => {
      expect(s.index).toBe(i);
      expect(s.classIndex).toBe(Math.floor(i / IMAGES_PER_CLASS));
      expect(s.path).toBe(path.join(root, 'images', CLASSES[s.classIndex], `img${i % IMAGES_PER_CLASS}.png`));
    });
  });

  it('splits classes and samples disjointly with the right counts', () => {
    const { seen, unseen, trainval, testSeen, testUnseen } = ds.split;
    expect(seen).toEqual([0, 1, 2]);
    expect(unseen).toEqual([3, 4]);
    // test_fraction 0.4 of 5 images: 2 held out per seen class.
    expect(testSeen).toHaveLength(3 * 2);
    expect(trainval).toHaveLength(3 * 3);
    expect(testUnseen).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
    const all = [...trainval, ...testSeen, ...testUnseen];
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort((a, b) => a - b)).toEqual(ds.samples.map((s) => s.index));
    for (const i of [...trainval, ...testSeen]) expect(seen).toContain(ds.samples[i].classIndex);
    for (const list of [trainval, testSeen, testUnseen]) expect([...list]).toEqual([...list].sort((a, b) => a - b));
    for (const c of seen) expect(testSeen.filter((i) => ds.samples[i].classIndex === c)).toHaveLength(2);
  });

  it('holds out the same files on every load, and per class whatever the class order', async () => {
    const again = await loadFolderDataset(root);
    expect(again.split).toEqual(ds.split);
    const heldOut = (d: Dataset): string[] => d.split.testSeen.map((i) => d.samples[i].path).sort();

    const reordered = path.join(tmp.dir, 'reordered');
    await writeValidDataset(reordered);
    await writeFile(path.join(reordered, 'classes.txt'), 'bee\nowl\nfox\ndog\ncat\n');
    await writeFile(path.join(reordered, 'class-attributes.txt'), '1 1 1\n1 1 1\n1 1 1\n1 1 1\n1 1 1\n');
    const other = await loadFolderDataset(reordered, { name: 'custom' });
    expect(other.name).toBe('custom');
    expect(heldOut(other).map((p) => path.relative(reordered, p))).toEqual(
      heldOut(ds).map((p) => path.relative(root, p)),
    );
  });

  it('draws a different held-out set for another seed', async () => {
    const reseeded = path.join(tmp.dir, 'reseeded');
    await writeValidDataset(reseeded);
    const picks = new Set<string>();
    for (const seed of [0, 1, 2, 3, 4]) {
      await writeFile(
        path.join(reseeded, 'split.yaml'),
        `seen: [cat, dog, fox]\nunseen: [owl, bee]\ntest_fraction: 0.4\nseed: ${seed}\n`,
      );
      picks.add(JSON.stringify((await loadFolderDataset(reseeded)).split.testSeen));
    }
    expect(picks.size).toBeGreaterThan(1);
  });

  it('uses test_fraction 0.2 and seed 0 by default', async () => {
    const defaults = path.join(tmp.dir, 'defaults');
    await writeValidDataset(defaults);
    await writeFile(path.join(defaults, 'split.yaml'), 'seen: [cat, dog, fox]\nunseen: [owl, bee]\n');
    const d = await loadFolderDataset(defaults);
    expect(d.split.testSeen).toHaveLength(3); // round(5 × 0.2) = 1 per seen class
    await writeFile(
      path.join(defaults, 'split.yaml'),
      'seen: [cat, dog, fox]\nunseen: [owl, bee]\ntest_fraction: 0.2\nseed: 0\n',
    );
    expect((await loadFolderDataset(defaults)).split).toEqual(d.split);
  });

  it.each([
    [2, 0.2, 1],
    [5, 0.2, 1],
    [10, 0.2, 2],
    [60, 0.2, 12],
    [3, 0.99, 2],
    [100, 0.001, 1],
    [7, 0.5, 4],
  ])('holds out heldOutCount(%i, %f) = %i', (n, f, k) => {
    expect(heldOutCount(n, f)).toBe(k);
  });
});
