/**
 * The awa2 and cub adapters on SciPy-written fixtures in the exact raw layouts: every documented quirk, every bad
 * input.
 */
import { cp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '@niwt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/fixtures.js';
import { writeMat } from '../../test/scipy.js';
import { readMat } from '../mat/reader.js';
import { matStrings } from '../mat/values.js';
import { loadAwa2, type Awa2LoadOptions } from '../awa2/load.js';
import { loadCub, type CubLoadOptions } from '../cub/load.js';
import { writeAwa2Fixture, writeCubFixture, type RawFixture } from '../fixtures/raw-fixtures.js';

const errorOf = (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => new Error('no error'),
    (e: unknown) => e as Error,
  );
let base: string;
let cleanup: () => Promise<void>;
let awa2: RawFixture;
let cub: RawFixture;
beforeAll(async () => {
  ({ dir: base, cleanup } = await tempDir('niwt-raw-'));
  awa2 = await writeAwa2Fixture(path.join(base, 'awa2'), writeMat);
  cub = await writeCubFixture(path.join(base, 'cub'), writeMat, { compress: false });
});
afterAll(() => cleanup());

/** A private copy of a fixture's top folder, to break. */
async function copyOf(fx: RawFixture, name: string): Promise<{ root: string; xlsa17: string }> {
  const top = path.dirname(fx.root);
  const to = path.join(base, name);
  await cp(top, to, { recursive: true });
  return { root: path.join(to, path.basename(fx.root)), xlsa17: path.join(to, path.relative(top, fx.xlsa17.dir)) };
}

const awaOpts = (xlsa17: string, o: Partial<Awa2LoadOptions> = {}): Awa2LoadOptions => ({
  xlsa17,
  attributes: 'continuous',
  checkSizes: true,
  resize: 'stretch',
  skipBadImages: false,
  features: false,
  ...o,
});
const cubOpts = (xlsa17: string, o: Partial<CubLoadOptions> = {}): CubLoadOptions => ({
  xlsa17,
  checkSizes: true,
  resize: 'stretch',
  skipBadImages: false,
  features: false,
  ...o,
});

/** Rewrites a copy's res101.mat (with SciPy) with label j (0-based) set to the 1-based `label`. */
async function relabel(xlsa17: string, j: number, label: number): Promise<void> {
  const file = path.join(xlsa17, 'res101.mat');
  const mat = await readMat(file);
  const f = mat.variables.get('features')!;
  const l = mat.variables.get('labels')!;
  if (f.kind !== 'numeric' || l.kind !== 'numeric') throw new Error('fixture');
  const labels = Array.from(l.data);
  labels[j] = label;
  writeMat(file, {
    features: { dtype: 'float64', shape: [...f.dims], data: Array.from(f.data) },
    image_files: { cellstr: matStrings(mat, 'image_files') },
    labels: { dtype: 'uint8', shape: [labels.length, 1], data: labels },
  });
}

describe('awa2', () => {
  it(
    'reads classes/predicates in the padded "<index>\\t<name>" layout, keeps + in names, joins xlsa17 ' + 'paths',
    async () => {
      const ds = await loadAwa2(awa2.root, awaOpts(awa2.xlsa17.dir));
      expect(ds.classes.map((c) => c.name)).toEqual(awa2.classes);
      expect(ds.classes[1].name).toBe('grizzly+bear');
      expect(ds.attributes?.names).toEqual(awa2.attributes);
      expect(ds.samples).toHaveLength(awa2.xlsa17.images);
      // xlsa17 order: class folders alphabetically → antelope, beaver, dalmatian, … (not classes.txt order)
      expect(ds.samples[0].path).toBe(path.join(awa2.root, 'JPEGImages/antelope/antelope_10001.jpg'));
      expect(ds.classes[ds.samples[6].classIndex].name).toBe('beaver');
      // the extra raw image not in xlsa17 is ignored
      expect(ds.samples.some((s) => s.path.endsWith('antelope_10007.jpg'))).toBe(false);
      expect(ds.split.trainval).toHaveLength(awa2.xlsa17.counts.trainval);
      const batches = [];
      for await (const b of ds.readImages([0, 1], { height: 8, width: 8, channels: 3 }, 2)) batches.push(b);
      expect(batches[0].pixels).toHaveLength(2 * 8 * 8 * 3);
    },
  );

  it("quirk: antelope's four missing predicates stay −1 in the continuous matrix; binary is 0/1", async () => {
    const ds = await loadAwa2(awa2.root, awaOpts(awa2.xlsa17.dir));
    expect(Array.from(ds.attributes!.matrix.data.subarray(0, 4))).toEqual([-1, -1, -1, -1]);
    const bin = await loadAwa2(awa2.root, awaOpts(awa2.xlsa17.dir, { attributes: 'binary' }));
    expect(new Set(bin.attributes!.matrix.data)).toEqual(new Set([0, 1]));
    expect(bin.attributes!.source).toBe(path.join(awa2.root, 'predicate-matrix-binary.txt'));
  });

  it('features: true exposes res101.mat rows aligned with the samples', async () => {
    const ds = await loadAwa2(awa2.root, awaOpts(awa2.xlsa17.dir, { features: true }));
    expect(ds.features?.dim).toBe(64);
    expect((await ds.features!.read([3])).cols).toBe(64);
  });

  it('wrong attribute count: a row with too few values names file and line', async () => {
    const c = await copyOf(awa2, 'awa2-attr');
    const f = path.join(c.root, 'predicate-matrix-continuous.txt');
    const lines = (await readFile(f, 'utf8')).split('\n');
    lines[2] = lines[2].split(/\s+/).filter(Boolean).slice(0, 5).join(' ');
    await writeFile(f, lines.join('\n'));
    const e = await errorOf(loadAwa2(c.root, awaOpts(c.xlsa17)));
    expect(e).toBeInstanceOf(DatasetError);
    expect(e.message).toBe(
      `${f}:3: 5 values in the row of class "killer+whale", expected 6 (one per attribute in predicates.txt)`,
    );
  });

  it('predicates.txt with a different count than att_splits.mat is an error naming the file', async () => {
    const c = await copyOf(awa2, 'awa2-pred');
    const f = path.join(c.root, 'predicates.txt');
    await writeFile(f, (await readFile(f, 'utf8')) + '    7\tstripes\n');
    await writeFile(
      path.join(c.root, 'predicate-matrix-continuous.txt'),
      (await readFile(path.join(c.root, 'predicate-matrix-continuous.txt'), 'utf8')).replace(/\n/g, ' 1.00\n'),
    );
    const e = await errorOf(loadAwa2(c.root, awaOpts(c.xlsa17)));
    expect(e.message).toBe(
      `${f}: 7 predicates but ${c.xlsa17}/att_splits.mat has 6 attributes; expected the same count`,
    );
  });

  it('classes.txt in another order than allclasses_names is an error naming both files', async () => {
    const c = await copyOf(awa2, 'awa2-order');
    const f = path.join(c.root, 'classes.txt');
    await writeFile(f, (await readFile(f, 'utf8')).replace('antelope', 'ANTELOPE'));
    const e = await errorOf(loadAwa2(c.root, awaOpts(c.xlsa17)));
    expect(e.message).toBe(
      `${f}:1: class "ANTELOPE" but allclasses_names(1) in ${c.xlsa17}/att_splits.mat is "antelope"; ` +
        `expected the same 8 classes in the same order`,
    );
  });

  it("an xlsa17 image whose folder is not its label's class is an error naming res101.mat", async () => {
    const c = await copyOf(awa2, 'awa2-label');
    await relabel(c.xlsa17, 0, 2);
    const e = await errorOf(loadAwa2(c.root, awaOpts(c.xlsa17)));
    expect(e.message).toBe(
      `${c.xlsa17}/res101.mat: image_files{1} ` +
        `"/BS/xian/work/data/Animals_with_Attributes2//JPEGImages/antelope/antelope_10001.jpg" is in folder ` +
        `"antelope" but labels(1) is class "grizzly+bear"; expected its images under grizzly+bear/`,
    );
  });

  it('image listed but missing, and a corrupt image: fail before training with the list of bad files', async () => {
    const c = await copyOf(awa2, 'awa2-missing');
    const missing = path.join(c.root, 'JPEGImages/beaver/beaver_10003.jpg');
    const corrupt = path.join(c.root, 'JPEGImages/sheep/sheep_10002.jpg');
    await rm(missing);
    await writeFile(corrupt, (await readFile(corrupt)).subarray(0, 10));
    const e = await errorOf(loadAwa2(c.root, awaOpts(c.xlsa17)));
    expect(e).toBeInstanceOf(DatasetError);
    expect(e.message).toMatch(
      new RegExp(
        `^${missing}: file not found; expected a JPEG or PNG image listed in ${c.xlsa17}/res101.mat ` +
          `\\(image_files\\) ` +
          (`\\(2 bad images of 48: also ${corrupt} \\(cannot decode image \\(.+\\)\\); set the dataset option ` +
            `skipBadImages: true \\(--skip-bad-images\\) to skip them\\)$`),
      ),
    );
    expect(e.message).not.toContain('\n');
    // skipBadImages: skipped, counted, split renumbered, features still aligned
    const ds = await loadAwa2(c.root, awaOpts(c.xlsa17, { skipBadImages: true, features: true }));
    expect(ds.skippedImages).toBe(2);
    expect(ds.samples).toHaveLength(46);
    expect(ds.samples.every((s, i) => s.index === i)).toBe(true);
    const all = [...ds.split.trainval, ...ds.split.testSeen, ...ds.split.testUnseen].sort((a, b) => a - b);
    expect(all).toEqual(ds.samples.map((s) => s.index));
    const full = await loadAwa2(awa2.root, awaOpts(awa2.xlsa17.dir, { features: true }));
    const k = ds.samples.findIndex((s) => s.path.endsWith('beaver_10004.jpg'));
    const j = full.samples.findIndex((s) => s.path.endsWith('beaver_10004.jpg'));
    expect(Array.from((await ds.features!.read([k])).data)).toEqual(Array.from((await full.features!.read([j])).data));
  });
});

describe('cub', () => {
  it('quirk: attribute names from the top-level attributes.txt next to CUB_200_2011/', async () => {
    const ds = await loadCub(cub.root, cubOpts(cub.xlsa17.dir));
    expect(ds.attributes?.names).toEqual(cub.attributes);
  });

  it(
    'quirk: xlsa17 class order is not numeric; attribute rows follow it; images joined by path, not ' + 'image_id',
    async () => {
      const ds = await loadCub(cub.root, cubOpts(cub.xlsa17.dir));
      expect(ds.classes.map((c) => c.name)).toEqual([
        '002.Laysan_Albatross',
        '003.Sooty_Albatross',
        '005.Crested_Auklet',
        '006.Least_Auklet',
        '001.Black_footed_Albatross',
        '004.Groove_billed_Ani',
      ]);
      const raw = (await readFile(path.join(cub.root, 'attributes/class_attribute_labels_continuous.txt'), 'utf8'))
        .trim()
        .split('\n');
      expect(Array.from(ds.attributes!.matrix.data.subarray(0, 5))).toEqual(
        raw[1].split(' ').map((v) => Math.fround(Number(v))),
      );
      expect(Array.from(ds.attributes!.matrix.data.subarray(4 * 5, 5 * 5))).toEqual(
        raw[0].split(' ').map((v) => Math.fround(Number(v))),
      );
      // images.txt lists a class's files in reverse; samples follow xlsa17 (sorted) order and still carry the right
      // class
      for (const s of ds.samples) expect(path.basename(path.dirname(s.path))).toBe(ds.classes[s.classIndex].name);
      const first = ds.samples.filter((s) => s.classIndex === 4).map((s) => path.basename(s.path));
      expect(first).toEqual([...first].sort());
    },
  );

  it(
    'attributes/attributes.txt inside the folder is used when present; neither place is an error naming ' + 'both',
    async () => {
      const c = await copyOf(cub, 'cub-attr');
      const top = path.join(path.dirname(c.root), 'attributes.txt');
      await rename(top, path.join(c.root, 'attributes/attributes.txt'));
      await expect(loadCub(c.root, cubOpts(c.xlsa17))).resolves.toBeDefined();
      await rm(path.join(c.root, 'attributes/attributes.txt'));
      const e = await errorOf(loadCub(c.root, cubOpts(c.xlsa17)));
      expect(e.message).toBe(
        `${c.root}/attributes/attributes.txt: file not found (nor ${top}, where the CUB archive puts it); ` +
          `expected 312 lines "<id> <group>::<value>"`,
      );
    },
  );

  it(
    'an xlsa17 image missing from images.txt, and a label disagreeing with image_class_labels.txt, name the ' + 'files',
    async () => {
      const c = await copyOf(cub, 'cub-join');
      const imagesTxt = path.join(c.root, 'images.txt');
      const lines = (await readFile(imagesTxt, 'utf8')).trim().split('\n');
      await writeFile(imagesTxt, lines.map((l, i) => (i === 0 ? l.replace('.jpg', '_x.jpg') : l)).join('\n') + '\n');
      const e = await errorOf(loadCub(c.root, cubOpts(c.xlsa17)));
      expect(e.message).toMatch(
        new RegExp(
          `^${c.xlsa17}/res101.mat: image_files\\{\\d+\\} "001\\.Black_footed_Albatross/.+\\.jpg" is not ` +
            `listed in ${imagesTxt}; expected the xlsa17 copy for this CUB release$`,
        ),
      );
      await writeFile(imagesTxt, lines.join('\n') + '\n');
      const labels = path.join(c.root, 'image_class_labels.txt');
      await writeFile(labels, (await readFile(labels, 'utf8')).replace(/^1 1$/m, '1 2'));
      const e2 = await errorOf(loadCub(c.root, cubOpts(c.xlsa17)));
      expect(e2.message).toMatch(
        new RegExp(
          `^${imagesTxt}:1: ".+" is not in the folder of its class "002.Laysan_Albatross" \\(${labels}:1\\); ` +
            `expected <class folder>/<file>$`,
        ),
      );
    },
  );

  it('a res101.mat label disagreeing with image_class_labels.txt names both files', async () => {
    const c = await copyOf(cub, 'cub-label');
    await relabel(c.xlsa17, 0, 1);
    const e = await errorOf(loadCub(c.root, cubOpts(c.xlsa17)));
    expect(e.message).toMatch(
      new RegExp(
        `^${c.xlsa17}/res101.mat: labels\\(1\\) is "002.Laysan_Albatross" but ${c.root}/images.txt puts ` +
          `"001.Black_footed_Albatross/.+" in "001.Black_footed_Albatross"$`,
      ),
    );
  });

  it('image listed in images.txt but missing on disk: fails before training; skipBadImages counts it', async () => {
    const c = await copyOf(cub, 'cub-missing');
    const line = (await readFile(path.join(c.root, 'images.txt'), 'utf8')).split('\n')[7].split(' ')[1];
    const file = path.join(c.root, 'images', line);
    await rm(file);
    const e = await errorOf(loadCub(c.root, cubOpts(c.xlsa17)));
    expect(
      e.message.startsWith(
        `${file}: file not found; expected a JPEG or PNG image listed in ${c.xlsa17}/res101.mat ` +
          `(image_files) (1 bad image of 36;`,
      ),
    ).toBe(true);
    const ds = await loadCub(c.root, cubOpts(c.xlsa17, { skipBadImages: true }));
    expect(ds.skippedImages).toBe(1);
    expect(ds.samples).toHaveLength(35);
  });
});
