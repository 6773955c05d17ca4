/**
 * `niwt datasets check`: per-split counts next to the published xlsa17 numbers, on the real AWA2 att_splits.mat and on
 * fixtures.
 */
import { execFileSync } from 'node:child_process';
import { cp, rm } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadXlsa17, writeAwa2Fixture, writeCubFixture, type MatVarSpec, type RawFixture } from '@niwt/datasets';
import { checkDataset, formatCheck, registerDatasetsCommands } from '../commands/datasets.js';
import { REPO, commandCli, tempDir } from './helpers.js';

const AWA2_REAL = path.join(process.env.NIWT_SHARED_DIR ?? '../shared', 'data/xlsa17/AWA2');

let python: string | undefined;
function scipyWriteMat(file: string, vars: Readonly<Record<string, MatVarSpec>>, compress: boolean): void {
  python ??= execFileSync(path.join(REPO, 'scripts/scipy-venv.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop()!;
  execFileSync(
    python,
    [path.join(REPO, 'scripts/scipy-mat.py'), 'write', file, ...(compress ? [] : ['--no-compress'])],
    { input: JSON.stringify(vars), stdio: ['pipe', 'inherit', 'inherit'] },
  );
}

/** Runs `datasets check …` through commander, capturing stdout. */
async function cli(args: string[]): Promise<{ out: string; error?: Error }> {
  const r = await commandCli(registerDatasetsCommands, args);
  return { out: r.stdout, error: r.error };
}

describe('niwt datasets check', () => {
  let dir: string;
  let awa2: RawFixture;
  let cub: RawFixture;
  beforeAll(async () => {
    dir = tempDir('datasets-check');
    awa2 = await writeAwa2Fixture(path.join(dir, 'awa2'), scipyWriteMat);
    cub = await writeCubFixture(path.join(dir, 'cub'), scipyWriteMat);
  });

  it(
    'the real xlsa17 AWA2 folder (att_splits.mat only): 23,527 / 5,882 / 7,913 next to the published ' + 'numbers',
    async () => {
      const { out, error } = await cli(['datasets', 'check', AWA2_REAL]);
      expect(error).toBeUndefined();
      expect(out).toContain(`xlsa17 dataset xlsa17-AWA2 at ${AWA2_REAL}: 50 classes, — images, 85 attributes`);
      expect(out).toContain('| trainval     |  23,527 |     23,527 ✓ |      40 |     40 ✓ |');
      expect(out).toContain('| test_seen    |   5,882 |      5,882 ✓ |      40 |     40 ✓ |');
      expect(out).toContain('| test_unseen  |   7,913 |      7,913 ✓ |      10 |     10 ✓ |');
      expect(out).toContain('| train_loc    |  20,218 |     20,218 ✓ |      27 |     27 ✓ |');
      expect(out).toContain('✓ counts match the published xlsa17 AWA2 split');
    },
  );

  it(
    'a raw AWA2 root finds its xlsa17 folder via --xlsa17 and prints counts against AWA2 (a tiny copy differs: ' +
      'exit 2 with one line)',
    async () => {
      const { out, error } = await cli(['datasets', 'check', awa2.root, '--xlsa17', awa2.xlsa17.dir]);
      expect(out).toContain(`awa2 dataset awa2 at ${awa2.root}: 8 classes, 48 images, 6 attributes`);
      expect(out).toMatch(/\| trainval {5}\| {6}24 \| {5}23,527 ✗ \|/);
      expect(error?.message).toBe(
        `${awa2.root}: trainval has 24 images / 6 classes; expected 23,527 / 40 (published xlsa17 AWA2)`,
      );
    },
  );

  it('a CUB root and an xlsa17 folder with res101.mat (JSON)', async () => {
    const c = await checkDataset(cub.root, { xlsa17: cub.xlsa17.dir });
    expect(c.kind).toBe('cub');
    expect(c.rows.map((r) => [r.split, r.images, r.classes])).toEqual([
      ['trainval', 16, 4],
      ['test_seen', 8, 4],
      ['test_unseen', 12, 2],
      ['train', 12, 3],
      ['val', 4, 1],
    ]);
    const x = await checkDataset(cub.xlsa17.dir);
    expect(x.notes[0]).toBe('validation from train_loc/val_loc (8 test_seen images dropped from train_loc/val_loc)');
    expect(formatCheck(x)).toContain('✓ dataset loads (no published counts to compare)');
  });

  it('bad images: listed but missing fails; --skip-bad-images counts them', async () => {
    const top = path.join(dir, 'awa2-bad');
    await cp(path.dirname(awa2.root), top, { recursive: true });
    const root = path.join(top, 'Animals_with_Attributes2');
    await rm(path.join(root, 'JPEGImages/horse/horse_10002.jpg'));
    const xl = path.join(top, 'xlsa17/AWA2x');
    const e = await cli(['datasets', 'check', root, '--xlsa17', xl]);
    expect(e.error?.message).toMatch(new RegExp(`^${root}/JPEGImages/horse/horse_10002.jpg: file not found;`));
    const c = await checkDataset(root, { xlsa17: xl, skipBadImages: true });
    expect(c.skippedImages).toBe(1);
    expect(c.images).toBe(47);
  });

  it('a config file: loads its dataset block', async () => {
    const cfg = path.join(dir, 'exp.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      cfg,
      `experiment: e\ndataset: { name: cub, root: ${cub.root}, xlsa17: ${cub.xlsa17.dir} }\nknowledge: { ` +
        `name: attributes }\nbackbone: { name: small-cnn }\nmethods: [{ name: niwt }]\n`,
    );
    // the xlsa17 folder is 'CUBx': `niwt run` compares with no published entry, and neither does the check
    const c = await checkDataset(cfg);
    expect(c.kind).toBe('cub');
    expect(c.published).toBeUndefined();
    expect(c.ok).toBe(true);
  });

  it('a config: the same published-size checks as niwt run, and checkSizes: false switches both off', async () => {
    const { writeFile } = await import('node:fs/promises');
    const named = path.join(dir, 'named', 'CUB');
    await cp(cub.xlsa17.dir, named, { recursive: true });
    const cfg = path.join(dir, 'exp-cub.yaml');
    await writeFile(
      cfg,
      `experiment: e\ndataset: { name: cub, root: ${cub.root}, xlsa17: ${named} }\nknowledge: { name: ` +
        `attributes }\nbackbone: { name: small-cnn }\nmethods: [{ name: niwt }]\n`,
    );
    await expect(checkDataset(cfg)).rejects.toThrow(
      `${path.join(named, 'att_splits.mat')}: allclasses_names has 6; expected 200 for xlsa17 CUB (published ` +
        `proposed split; set checkSizes: false for a modified copy)`,
    );
    await writeFile(
      cfg,
      `experiment: e\ndataset: { name: cub, root: ${cub.root}, xlsa17: ${named}, checkSizes: false ` +
        `}\nknowledge: { name: attributes }\nbackbone: { name: small-cnn }\nmethods: [{ name: niwt }]\n`,
    );
    const c = await checkDataset(cfg);
    expect(c.published).toBeUndefined();
    expect(c.ok).toBe(true);
    expect(c.notes).toContain('checkSizes: false — counts not compared with the published split (as niwt run)');
  });

  it(
    'an att_splits.mat without original_att: the warning names the matrix used, in the check and in the ' + 'dataset',
    async () => {
      const bare = path.join(dir, 'bare', 'CUBy');
      await cp(cub.xlsa17.dir, bare, { recursive: true });
      const mat = path.join(bare, 'att_splits.mat');
      python ??= execFileSync(path.join(REPO, 'scripts/scipy-venv.sh'), {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      })
        .trim()
        .split('\n')
        .pop()!;
      const drop =
        'import scipy.io as s, sys; m = {k: v for k, v in s.loadmat(sys.argv[1]).items() if not ' +
        "k.startswith('__') and k != 'original_att'}; s.savemat(sys.argv[1], m)";
      execFileSync(python, ['-c', drop, mat]);
      const warning =
        `${mat}: no 'original_att' (0–100 attributes); using 'att' (unit-L2 columns) instead — set attributes: ` +
        `att to make this explicit`;
      const c = await checkDataset(bare);
      expect(c.notes).toContain(warning);
      const ds = await loadXlsa17(bare, { checkSizes: false });
      expect(ds.warnings).toEqual([warning]);
      expect(ds.attributes?.source).toBe(`${mat} 'att' (the file has no 'original_att')`);
      const full = await loadXlsa17(cub.xlsa17.dir, { checkSizes: false });
      expect(full.warnings).toBeUndefined();
      expect(full.attributes?.source).toBe(`${path.join(cub.xlsa17.dir, 'att_splits.mat')} 'original_att'`);
    },
  );

  it('an unknown folder is a usage error naming it', async () => {
    const e = await cli(['datasets', 'check', dir]);
    expect(e.error?.message).toMatch(
      new RegExp(`^${dir}: not a dataset folder this command knows; expected att_splits.mat \\(xlsa17\\)`),
    );
  });
});
