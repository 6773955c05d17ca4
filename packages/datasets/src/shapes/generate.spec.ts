import { spawnSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '@niwt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashTree } from '../../test/hash-tree.js';
import { tempDir } from '../../test/fixtures.js';
import { publishDirectory } from '../atomic-dir.js';
import { loadFolderDataset } from '../folder/load.js';
import { valueSupport } from './class-choice.js';
import { generateShapes, type ShapesManifest } from './generate.js';
import { makeClass } from './vocabulary.js';

const SMALL = {
  seed: 3,
  imageSize: 20,
  imagesPerClass: 5,
  seenClasses: 6,
  unseenClasses: 3,
  testFraction: 0.2,
} as const;

describe('generateShapes', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir('niwt-shapes-');
  });
  afterAll(() => tmp.cleanup());

  it('is byte-identical for the same options, and differs for another seed', async () => {
    const a = await generateShapes(SMALL, path.join(tmp.dir, 'a'));
    const b = await generateShapes(SMALL, path.join(tmp.dir, 'b'));
    const c = await generateShapes({ ...SMALL, seed: 4 }, path.join(tmp.dir, 'c'));
    expect(a.generated && b.generated && c.generated).toBe(true);
    const [ha, hb, hc] = await Promise.all([a, b, c].map((r) => hashTree(r.root)));
    expect(ha.files).toBe(9 * 5 + 5); // images + 4 folder-format files + shapes.json
    expect(hb).toEqual(ha);
    expect(hc.hash).not.toBe(ha.hash);
  });

  it('writes the folder format, read back by the folder loader', async () => {
    const { root, manifest } = await generateShapes(SMALL, path.join(tmp.dir, 'a'));
    const ds = await loadFolderDataset(root);
    expect(ds.classes).toHaveLength(9);
    expect(ds.samples).toHaveLength(45);
    expect(ds.split.seen).toHaveLength(6);
    expect(ds.split.unseen).toHaveLength(3);
    expect(ds.split.testSeen).toHaveLength(6); // round(5 × 0.2) = 1 per seen class
    expect(ds.split.trainval).toHaveLength(24);
    expect(ds.split.testUnseen).toHaveLength(15);
    expect(ds.split.seen.map((i) => ds.classes[i].name).sort()).toEqual([...manifest.seen].sort());
    expect(ds.split.unseen.map((i) => ds.classes[i].name).sort()).toEqual([...manifest.unseen].sort());
    expect(ds.attributes?.names).toEqual([
      'shape:circle',
      'shape:square',
      'shape:triangle',
      'shape:cross',
      'shape:star',
      'colour:red',
      'colour:green',
      'colour:blue',
      'colour:yellow',
      'fill:solid',
      'fill:stripes',
      'fill:outline',
      'size:small',
      'size:large',
    ]);
    const [batch] = await ds
      .readImages([0, 1], { height: 20, width: 20, channels: 3 }, 2)
      [Symbol.asyncIterator]()
      .next()
      .then((r) => [r.value]);
    expect(batch?.pixels).toHaveLength(2 * 20 * 20 * 3);
  });

  it('writes a continuous attribute table: own values 60–100, others 0–25 and mostly 0', async () => {
    const { root } = await generateShapes(SMALL, path.join(tmp.dir, 'a'));
    const ds = await loadFolderDataset(root);
    const m = ds.attributes?.matrix;
    if (!m) throw new Error('no attributes');
    let zeros = 0;
    let off = 0;
    ds.classes.forEach((c, i) => {
      const [size, colour, fill, shape] = c.name.split('-');
      const own = new Set([`shape:${shape}`, `colour:${colour}`, `fill:${fill}`, `size:${size}`]);
      ds.attributes?.names.forEach((name, j) => {
        const v = m.data[i * m.cols + j];
        if (own.has(name)) expect(v).toBeGreaterThanOrEqual(60);
        else {
          expect(v).toBeGreaterThanOrEqual(0);
          expect(v).toBeLessThanOrEqual(25);
          off++;
          if (v === 0) zeros++;
        }
        expect(v).toBeLessThanOrEqual(100);
      });
    });
    expect(zeros / off).toBeGreaterThan(0.4);
    expect(zeros / off).toBeLessThan(0.9);
  });

  it('puts only recombinations of seen values in the unseen set', async () => {
    const { manifest } = await generateShapes(SMALL, path.join(tmp.dir, 'a'));
    const parse = (name: string) => {
      const [size, colour, fill, shape] = name.split('-') as [never, never, never, never];
      return makeClass(shape, colour, fill, size);
    };
    const support = valueSupport(manifest.seen.map(parse));
    for (const u of manifest.unseen.map(parse))
      for (const a of u.attributes) expect(support[a]).toBeGreaterThanOrEqual(1);
  });

  it('reuses a complete folder of the same options without writing', async () => {
    const dir = path.join(tmp.dir, 'a');
    const before = await hashTree(dir);
    const mtime = (await stat(path.join(dir, 'classes.txt'))).mtimeMs;
    const again = await generateShapes(SMALL, dir);
    expect(again.generated).toBe(false);
    expect(await hashTree(dir)).toEqual(before);
    expect((await stat(path.join(dir, 'classes.txt'))).mtimeMs).toBe(mtime);
  });

  it('refuses a folder generated with other options, or not by the generator', async () => {
    const dir = path.join(tmp.dir, 'a');
    const error = await generateShapes({ ...SMALL, imagesPerClass: 6 }, dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetError);
    const opts = (n: number) =>
      `{"seed":3,"imageSize":20,"imagesPerClass":${n},"seenClasses":6,"unseenClasses":3,"testFraction":0.2}`;
    expect((error as Error).message).toBe(
      `${dir}/shapes.json: generated with other options (version 1 ${opts(5)}); expected version 1 ` +
        `${opts(6)} (delete the folder or choose another root)`,
    );
    const plain = path.join(tmp.dir, 'plain');
    await mkdir(plain);
    const error2 = await generateShapes(SMALL, plain).catch((e: unknown) => e);
    expect(error2).toBeInstanceOf(DatasetError);
    expect((error2 as Error).message).toBe(
      `${plain}: exists but has no shapes.json; expected a folder written by the shapes generator (delete ` +
        `the folder or choose another root)`,
    );
  });

  it('records the options and classes in shapes.json', async () => {
    const manifest = JSON.parse(await readFile(path.join(tmp.dir, 'a', 'shapes.json'), 'utf8')) as ShapesManifest;
    expect(manifest.generator).toBe('niwt-shapes');
    expect(manifest.options).toEqual(SMALL);
    expect(manifest.seen).toHaveLength(6);
    expect(manifest.unseen).toHaveLength(3);
  });
});

describe('publishDirectory', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    tmp = await tempDir('niwt-atomic-');
  });
  afterAll(() => tmp.cleanup());

  it('leaves nothing behind when the build fails midway', async () => {
    const dir = path.join(tmp.dir, 'out');
    await expect(
      publishDirectory(dir, async (t) => {
        await writeFile(path.join(t, 'half.txt'), 'x');
        throw new Error('interrupted');
      }),
    ).rejects.toThrow('interrupted');
    expect(await readdir(tmp.dir)).toEqual([]);
  });

  it('removes leftovers of a dead process, keeps the winner of a race', async () => {
    const dir = path.join(tmp.dir, 'out');
    const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(child.stdout.toString());
    await mkdir(`${dir}.tmp-${deadPid}-abcd`);
    await writeFile(`${dir}.tmp-${deadPid}-abcd/partial`, 'x');
    expect(await publishDirectory(dir, (t) => writeFile(path.join(t, 'done'), '1'))).toBe('created');
    expect((await readdir(tmp.dir)).sort()).toEqual(['out']);
    expect(await publishDirectory(dir, (t) => writeFile(path.join(t, 'done'), '2'))).toBe('existing');
    expect(await readFile(path.join(dir, 'done'), 'utf8')).toBe('1');
    expect((await readdir(tmp.dir)).sort()).toEqual(['out']);
    await rm(dir, { recursive: true });
  });
});
