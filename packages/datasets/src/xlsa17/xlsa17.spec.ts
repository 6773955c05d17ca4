/** xlsa17: the REAL AWA2 att_splits.mat, and SciPy-written fixtures in the release layout with its quirks. */
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, FormatError } from '@niwt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/fixtures.js';
import { writeMat } from '../../test/scipy.js';
import { writeAwa2Fixture, type RawFixture } from '../fixtures/raw-fixtures.js';
import { readAttSplits } from './att-splits.js';
import { loadXlsa17, readXlsa17 } from './load.js';
import { relativeImagePath } from './res101.js';

const REAL = path.join(process.env.NIWT_SHARED_DIR ?? '../shared', 'data/xlsa17/AWA2');
const errorOf = (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => new Error('no error'),
    (e: unknown) => e as Error,
  );

describe('the real xlsa17 AWA2 att_splits.mat', () => {
  it('loads: 85×50 attributes, 50 class names, 23,527 / 5,882 / 7,913 images', async () => {
    const a = await readAttSplits(REAL);
    expect([a.att.cols, a.att.rows]).toEqual([85, 50]); // E × C in the file
    expect(a.classNames).toHaveLength(50);
    expect(a.classNames.slice(0, 3)).toEqual(['antelope', 'grizzly+bear', 'killer+whale']);
    expect(a.locs.trainval_loc).toHaveLength(23527);
    expect(a.locs.test_seen_loc).toHaveLength(5882);
    expect(a.locs.test_unseen_loc).toHaveLength(7913);
    expect(a.locs.train_loc).toHaveLength(20218);
    expect(a.locs.val_loc).toHaveLength(9191);
    // quirk: class double stored as miUINT16, 1-based → 0-based
    expect(a.locs.test_unseen_loc[0]).toBe(1046);
    // quirk: antelope's first four predicates are −1 in original_att; att has unit-L2 columns (rows here)
    expect(Array.from(a.originalAtt!.data.subarray(0, 5))).toEqual([-1, -1, -1, -1, expect.any(Number)]);
    const norm = Math.hypot(...a.att.data.subarray(0, 85));
    expect(norm).toBeCloseTo(1, 5);
    // class lists next to it
    expect(a.lists.trainval?.names).toHaveLength(40);
    expect(a.lists.test?.names).toHaveLength(10);
    expect(a.lists.train1?.names.length).toBe(27);
    expect(a.lists.val1?.names.length).toBe(13);
  });

  it('quirk: every variable is miCOMPRESSED; loc vectors are class double stored as miUINT16', async () => {
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(path.join(REAL, 'att_splits.mat'));
    expect(bytes.readUInt32LE(128)).toBe(15);
    const { readMat } = await import('../mat/reader.js');
    const mat = await readMat(path.join(REAL, 'att_splits.mat'), { variables: ['trainval_loc'] });
    const v = mat.variables.get('trainval_loc')!;
    expect(v.kind === 'numeric' && [v.class, v.data.constructor.name, v.dims]).toEqual([
      'double',
      'Float64Array',
      [23527, 1],
    ]);
  });

  it('quirk: train_loc ∪ val_loc overlaps test_seen_loc (4,031 + 1,851 = 5,882 images)', async () => {
    const a = await readAttSplits(REAL);
    const ts = new Set(a.locs.test_seen_loc);
    const inTrain = Array.from(a.locs.train_loc!).filter((i) => ts.has(i)).length;
    const inVal = Array.from(a.locs.val_loc!).filter((i) => ts.has(i)).length;
    expect([inTrain, inVal]).toEqual([4031, 1851]);
  });
});

describe('xlsa17 fixtures (SciPy savemat)', () => {
  let base: string;
  let cleanup: () => Promise<void>;
  let fx: RawFixture;
  beforeAll(async () => {
    ({ dir: base, cleanup } = await tempDir('niwt-xlsa17-'));
    fx = await writeAwa2Fixture(path.join(base, 'a'), writeMat);
  });
  afterAll(() => cleanup());

  it('builds the split; validation never overlaps test_seen', async () => {
    const ds = await loadXlsa17(fx.xlsa17.dir);
    const { split } = ds;
    expect(split.trainval).toHaveLength(fx.xlsa17.counts.trainval);
    expect(split.testSeen).toHaveLength(fx.xlsa17.counts.testSeen);
    expect(split.testUnseen).toHaveLength(fx.xlsa17.counts.testUnseen);
    const ts = new Set(split.testSeen);
    expect([...split.train!, ...split.val!].some((i) => ts.has(i))).toBe(false);
    expect(new Set([...split.train!, ...split.val!])).toEqual(new Set(split.trainval));
    expect(ds.xlsa17.split.validation).toBe('train_loc/val_loc');
    expect(ds.xlsa17.split.droppedFromValidation).toBe(fx.xlsa17.counts.testSeen);
    expect(ds.features?.dim).toBe(64);
    const rows = await ds.features!.read([0, 5]);
    expect([rows.rows, rows.cols]).toEqual([2, 64]);
    expect(() => ds.readImages([0], { height: 8, width: 8, channels: 3 }, 1)).toThrow(
      /has precomputed features only, no images; expected backbone: \{ name: features \}/,
    );
  });

  it.each([true, false])(
    'derives train/val from trainclasses1.txt/valclasses1.txt when the copy lacks train_loc/val_loc (compressed %s)',
    async (compress) => {
      const f = await writeAwa2Fixture(path.join(base, `noloc-${compress}`), writeMat, {
        withTrainValLoc: false,
        compress,
      });
      const info = await readXlsa17(f.xlsa17.dir);
      expect(info.split.validation).toBe('trainclasses1.txt/valclasses1.txt');
      const { split } = info.split;
      expect(new Set([...split.train!, ...split.val!])).toEqual(new Set(split.trainval));
      const valClasses = new Set(split.val!.map((i) => info.meta.labels[i]));
      expect([...valClasses].map((c) => info.att.classNames[c]).sort()).toEqual(['horse', 'persian+cat']);
    },
  );

  it(
    'quirk: image_files are author-machine absolute paths with // ; joined by the part after JPEGImages/ or ' +
      'images/',
    () => {
      expect(
        relativeImagePath('/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg'),
      ).toBe('antelope/antelope_10001.jpg');
      expect(
        relativeImagePath(
          '/BS/Deep_Fragments/work/MSc/CUB_200_2011/CUB_200_2011/images/001.Black_footed_Albatross/B_0046_18.jpg',
        ),
      ).toBe('001.Black_footed_Albatross/B_0046_18.jpg');
      expect(relativeImagePath('C:\\data\\JPEGImages\\zebra\\zebra_11170.jpg')).toBe('zebra/zebra_11170.jpg');
    },
  );

  it('checks sizes against the published table when the folder is named like a release (AWA2)', async () => {
    const dir = path.join(base, 'AWA2');
    await mkdir(dir);
    for (const f of ['att_splits.mat', 'res101.mat']) await copyFile(path.join(fx.xlsa17.dir, f), path.join(dir, f));
    const e = await errorOf(readXlsa17(dir));
    expect(e).toBeInstanceOf(DatasetError);
    expect(e.message).toBe(
      `${dir}/att_splits.mat: allclasses_names has 8; expected 50 for xlsa17 AWA2 (published proposed split; ` +
        `set checkSizes: false for a modified copy)`,
    );
    await expect(readXlsa17(dir, { checkSizes: false })).resolves.toBeDefined();
  });

  it('a class list naming an unknown class is an error naming file and line', async () => {
    const dir = path.join(base, 'badlist');
    await mkdir(dir);
    for (const f of ['att_splits.mat', 'res101.mat']) await copyFile(path.join(fx.xlsa17.dir, f), path.join(dir, f));
    await writeFile(path.join(dir, 'testclasses.txt'), 'killer+whale\nzebra\n');
    const e = await errorOf(readXlsa17(dir));
    expect(e.message).toBe(
      `${dir}/testclasses.txt:2: "zebra" is not a class of att_splits.mat allclasses_names; expected one of ` +
        `its 8 names`,
    );
  });

  it('allclasses.txt in another order than allclasses_names is an error naming both', async () => {
    const dir = path.join(base, 'order');
    await mkdir(dir);
    for (const f of ['att_splits.mat', 'res101.mat']) await copyFile(path.join(fx.xlsa17.dir, f), path.join(dir, f));
    await writeFile(path.join(dir, 'allclasses.txt'), 'grizzly+bear\nantelope\n');
    const e = await errorOf(readXlsa17(dir));
    expect(e.message).toBe(
      `${dir}/allclasses.txt:1: "grizzly+bear" differs from allclasses_names(1) "antelope" in ` +
        `${dir}/att_splits.mat; expected the same class order`,
    );
  });

  it('a truncated att_splits.mat is a one-line FormatError naming the file', async () => {
    const dir = path.join(base, 'trunc');
    await mkdir(dir);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(path.join(fx.xlsa17.dir, 'att_splits.mat'));
    await writeFile(path.join(dir, 'att_splits.mat'), bytes.subarray(0, bytes.length - 40));
    const e = await errorOf(readXlsa17(dir));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(
      new RegExp(
        `^${dir}/att_splits.mat: (variable '\\w+' )?\\(element at offset \\d+\\): truncated MAT-file: the ` +
          `element declares \\d+ bytes but the file ends after \\d+$`,
      ),
    );
  });

  it('a missing res101.mat names the file', async () => {
    const dir = path.join(base, 'nores');
    await mkdir(dir);
    await copyFile(path.join(fx.xlsa17.dir, 'att_splits.mat'), path.join(dir, 'att_splits.mat'));
    await rm(path.join(dir, 'res101.mat'), { force: true });
    expect((await errorOf(readXlsa17(dir))).message).toBe(
      `${dir}/res101.mat: file not found; expected a MATLAB Level-5 MAT-file`,
    );
  });
});
