/**
 * `niwt datasets check <config or root>`: loads a dataset the way a run would (every file checked,
 * every image probed) and prints per-split image and class counts next to the published xlsa17
 * numbers. A folder is recognised by its files: att_splits.mat (xlsa17), JPEGImages/ +
 * predicates.txt (AWA2), images.txt + image_class_labels.txt (CUB), classes.txt + split.yaml (folder).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import {
  DatasetError,
  UsageError,
  checkContract,
  datasetViolation,
  pluginLabel,
  silentLogger,
  type Dataset,
  type DatasetAdapter,
} from '@niwt/core';
import {
  XLSA17_PUBLISHED,
  missingOriginalAtt,
  loadAwa2,
  loadCub,
  loadFolderDataset,
  loadXlsa17,
  publishedFor,
  readAttSplits,
  type PublishedSplit,
} from '@niwt/datasets';
import { composeExperiment } from '../compose.js';

export interface SplitCount {
  readonly split: string;
  readonly images: number;
  readonly classes: number;
  readonly expectedImages?: number;
  readonly expectedClasses?: number;
}

export interface DatasetCheck {
  readonly target: string;
  readonly kind: string;
  readonly name: string;
  readonly classes?: number;
  readonly attributes?: number;
  readonly images?: number;
  readonly skippedImages?: number;
  /** The published table entry compared with (AWA2, CUB, …). */
  readonly published?: string;
  readonly rows: readonly SplitCount[];
  readonly notes: readonly string[];
  readonly ok: boolean;
}

export interface CheckOptions {
  readonly xlsa17?: string;
  readonly skipBadImages?: boolean;
  readonly cwd?: string;
}

const has = (dir: string, ...names: string[]): boolean => names.every((n) => existsSync(path.join(dir, n)));

/** The xlsa17 folder for a raw release: --xlsa17, else the usual places next to it. */
function findXlsa17(root: string, key: string, given: string | undefined, cwd: string): string {
  if (given) return path.resolve(cwd, given);
  const parent = path.dirname(root);
  const candidates = [
    path.join(parent, 'xlsa17', 'data', key),
    path.join(parent, 'xlsa17', key),
    path.join(parent, key),
  ];
  const found = candidates.find((c) => has(c, 'att_splits.mat'));
  if (!found)
    throw new UsageError(
      `${root}: no xlsa17 ${key} folder found (looked in ${candidates.join(', ')}); pass --xlsa17 <dir>`,
    );
  return found;
}

function rowsOf(ds: Dataset, p: PublishedSplit | undefined): SplitCount[] {
  const classes = (idx: readonly number[]): number => new Set(idx.map((i) => ds.samples[i].classIndex)).size;
  const row = (
    split: string,
    idx: readonly number[],
    expectedImages?: number,
    expectedClasses?: number,
  ): SplitCount => ({
    split,
    images: idx.length,
    classes: classes(idx),
    ...(expectedImages !== undefined ? { expectedImages } : {}),
    ...(expectedClasses !== undefined ? { expectedClasses } : {}),
  });
  const s = ds.split;
  return [
    row('trainval', s.trainval, p?.trainval, p?.seen),
    row('test_seen', s.testSeen, p?.testSeen, p?.seen),
    row('test_unseen', s.testUnseen, p?.testUnseen, p?.unseen),
    ...(s.train && s.val
      ? [row('train', s.train, undefined, p?.trainClasses), row('val', s.val, undefined, p?.valClasses)]
      : []),
  ];
}

function fromDataset(
  target: string,
  kind: string,
  ds: Dataset,
  key: string | undefined,
  notes: string[],
): DatasetCheck {
  // the gate `niwt run` applies before a run opens: a dataset that fails it is not reported as loading
  checkContract(pluginLabel('dataset', kind), datasetViolation(ds));
  const p = key ? XLSA17_PUBLISHED[key] : undefined;
  const rows = rowsOf(ds, p);
  const ok = rows.every(
    (r) =>
      (r.expectedImages === undefined || r.images === r.expectedImages) &&
      (r.expectedClasses === undefined || r.classes === r.expectedClasses),
  );
  return {
    target,
    kind,
    name: ds.name,
    classes: ds.classes.length,
    attributes: ds.attributes?.names.length,
    images: ds.samples.length,
    ...(ds.skippedImages !== undefined ? { skippedImages: ds.skippedImages } : {}),
    ...(p && key ? { published: key } : {}),
    rows,
    notes: [...notes, ...(ds.features ? [`features: ${ds.features.dim}-d from ${ds.features.source}`] : [])],
    ok,
  };
}

/** An xlsa17 folder without res101.mat: counts from att_splits.mat and the class lists only. */
async function attSplitsOnly(dir: string): Promise<DatasetCheck> {
  const att = await readAttSplits(dir);
  const key = publishedFor(path.basename(dir))?.key;
  const p = key ? XLSA17_PUBLISHED[key] : undefined;
  const seen = att.lists.trainval?.names.length ?? NaN;
  const unseen = att.lists.test?.names.length ?? NaN;
  const row = (split: string, images: number, classes: number, ei?: number, ec?: number): SplitCount => ({
    split,
    images,
    classes,
    ...(ei !== undefined ? { expectedImages: ei } : {}),
    ...(ec !== undefined ? { expectedClasses: ec } : {}),
  });
  const rows = [
    row('trainval', att.locs.trainval_loc.length, seen, p?.trainval, p?.seen),
    row('test_seen', att.locs.test_seen_loc.length, seen, p?.testSeen, p?.seen),
    row('test_unseen', att.locs.test_unseen_loc.length, unseen, p?.testUnseen, p?.unseen),
    ...(att.locs.train_loc && att.locs.val_loc
      ? [
          row('train_loc', att.locs.train_loc.length, att.lists.train1?.names.length ?? NaN, p?.train, p?.trainClasses),
          row('val_loc', att.locs.val_loc.length, att.lists.val1?.names.length ?? NaN, p?.val, p?.valClasses),
        ]
      : []),
  ];
  const ok = rows.every(
    (r) =>
      (r.expectedImages === undefined || r.images === r.expectedImages) &&
      (r.expectedClasses === undefined || Number.isNaN(r.classes) || r.classes === r.expectedClasses),
  );
  return {
    target: dir,
    kind: 'xlsa17',
    name: `xlsa17-${path.basename(dir)}`,
    classes: att.classNames.length,
    attributes: att.att.cols,
    ...(key ? { published: key } : {}),
    rows,
    notes: [
      'res101.mat not found: counts from att_splits.mat; class counts from trainvalclasses.txt / ' +
        'testclasses.txt / trainclasses1.txt / valclasses1.txt',
      'train_loc/val_loc as stored (they overlap test_seen_loc; a run keeps only their trainval images)',
      att.originalAtt ? "attributes: 'original_att' (attributes: original, the default)" : missingOriginalAtt(att.file),
    ],
    ok,
  };
}

/** Loads the dataset named by a config file or found in a folder, and compares its counts with the published table. */
export async function checkDataset(target: string, options: CheckOptions = {}): Promise<DatasetCheck> {
  const cwd = options.cwd ?? process.cwd();
  const abs = path.resolve(cwd, target);
  if (!existsSync(abs))
    throw new UsageError(`${abs}: not found; expected an experiment config (.yaml) or a dataset folder`);
  const skipBadImages = options.skipBadImages ?? false;
  if (statSync(abs).isFile()) {
    const exp = await composeExperiment(abs, {
      cwd,
      logger: silentLogger,
      overrides: skipBadImages ? ['dataset.skipBadImages=true'] : [],
    });
    const ds = await (exp.registry.create(exp.dataset.spec, exp.dataset.options) as DatasetAdapter).load();
    const kind = exp.dataset.spec.name;
    // the same checks as `niwt run` with the same options: checkSizes: false compares with nothing published
    // (the loaders compare with the table entry named by the xlsa17 folder, as here)
    const dsOptions = exp.dataset.options as { checkSizes?: boolean; xlsa17?: string };
    const checkSizes = dsOptions.checkSizes !== false;
    const xlsa17Dir = kind === 'xlsa17' ? ds.root : dsOptions.xlsa17;
    const key = checkSizes && xlsa17Dir ? publishedFor(path.basename(xlsa17Dir))?.key : undefined;
    const notes = [
      `dataset block of ${abs}`,
      ...(checkSizes ? [] : ['checkSizes: false — counts not compared with the published split (as niwt run)']),
      ...(ds.warnings ?? []),
    ];
    return fromDataset(abs, kind, ds, key, notes);
  }
  if (has(abs, 'att_splits.mat')) {
    if (!has(abs, 'res101.mat')) return attSplitsOnly(abs);
    const ds = await loadXlsa17(abs, { checkSizes: false }, cwd);
    const v = ds.xlsa17.split;
    const notes = [
      `validation from ` +
        `${v.validation}${
          v.droppedFromValidation
            ? ` (${v.droppedFromValidation} test_seen images dropped from ` + `train_loc/val_loc)`
            : ''
        }`,
      ...(ds.warnings ?? []),
    ];
    return fromDataset(abs, 'xlsa17', ds, publishedFor(path.basename(abs))?.key, notes);
  }
  if (has(abs, 'JPEGImages', 'predicates.txt')) {
    const xlsa17 = findXlsa17(abs, 'AWA2', options.xlsa17, cwd);
    const ds = await loadAwa2(abs, {
      xlsa17,
      attributes: 'continuous',
      checkSizes: false,
      resize: 'stretch',
      skipBadImages,
      features: has(xlsa17, 'res101.mat'),
    });
    return fromDataset(abs, 'awa2', ds, 'AWA2', [`split from ${xlsa17}`]);
  }
  if (has(abs, 'images.txt', 'image_class_labels.txt')) {
    const xlsa17 = findXlsa17(abs, 'CUB', options.xlsa17, cwd);
    const ds = await loadCub(abs, { xlsa17, checkSizes: false, resize: 'stretch', skipBadImages, features: false });
    return fromDataset(abs, 'cub', ds, 'CUB', [`split from ${xlsa17}`]);
  }
  if (has(abs, 'classes.txt', 'split.yaml')) {
    return fromDataset(abs, 'folder', await loadFolderDataset(abs, { skipBadImages }), undefined, []);
  }
  throw new UsageError(
    `${abs}: not a dataset folder this command knows; expected att_splits.mat (xlsa17), JPEGImages/ + ` +
      `predicates.txt (AWA2), ` +
      'images.txt + image_class_labels.txt (CUB) or classes.txt + split.yaml (folder format)',
  );
}

const n = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '—' : x.toLocaleString('en-US'));

/** The human-readable report. */
export function formatCheck(c: DatasetCheck): string {
  const head =
    `${c.kind} dataset ${c.name} at ${c.target}: ${n(c.classes)} classes, ${n(c.images)} images, ` +
    `${n(c.attributes)} attributes` +
    (c.skippedImages !== undefined ? `, ${c.skippedImages} bad images skipped` : '');
  const exp = c.published ? `xlsa17 ${c.published}` : 'expected';
  const lines = [
    head,
    '',
    `| split        |  images | ${exp.padStart(12)} | classes | expected |`,
    '|--------------|--------:|-------------:|--------:|---------:|',
    ...c.rows.map((r) => {
      const mark = (found: number, want: number | undefined): string =>
        want === undefined || Number.isNaN(found) ? ' ' : found === want ? '✓' : '✗';
      return (
        `| ${r.split.padEnd(12)} | ${n(r.images).padStart(7)} | ` +
        `${`${n(r.expectedImages)} ${mark(r.images, r.expectedImages)}`.padStart(12)} | ` +
        `${n(r.classes).padStart(7)} | ` +
        `${`${n(r.expectedClasses)} ${mark(r.classes, r.expectedClasses)}`.padStart(8)} |`
      );
    }),
    '',
    ...c.notes.map((x) => `- ${x}`),
    c.published
      ? c.ok
        ? `✓ counts match the published xlsa17 ${c.published} split`
        : `✗ counts differ from the published xlsa17 ${c.published} split`
      : '✓ dataset loads (no published counts to compare)',
  ];
  return lines.join('\n') + '\n';
}

export function registerDatasetsCommands(program: Command): void {
  const datasets = program.command('datasets').description('inspect datasets on disk');
  datasets
    .command('check')
    .description(
      'validate a dataset (from a config, or a folder) and print per-split image/class counts next to the ' +
        'published xlsa17 numbers',
    )
    .argument(
      '<config-or-root>',
      'experiment config (.yaml) or dataset folder (xlsa17, Animals_with_Attributes2, CUB_200_2011, folder format)',
    )
    .option('--xlsa17 <dir>', 'xlsa17 folder for a raw AWA2/CUB root (default: found next to it)')
    .option('--skip-bad-images', 'skip and count missing or corrupt images instead of failing')
    .option('--json', 'print the report as JSON')
    .action(async (target: string, flags: { xlsa17?: string; skipBadImages?: boolean; json?: boolean }) => {
      const result = await checkDataset(target, { xlsa17: flags.xlsa17, skipBadImages: flags.skipBadImages });
      process.stdout.write(flags.json ? `${JSON.stringify(result, null, 2)}\n` : formatCheck(result));
      if (!result.ok) {
        const bad = result.rows.find(
          (r) =>
            (r.expectedImages !== undefined && r.images !== r.expectedImages) ||
            (r.expectedClasses !== undefined && !Number.isNaN(r.classes) && r.classes !== r.expectedClasses),
        )!;
        throw new DatasetError(
          `${result.target}: ${bad.split} has ${n(bad.images)} images / ${n(bad.classes)} classes; expected ` +
            `${n(bad.expectedImages)} / ${n(bad.expectedClasses)} (published xlsa17 ${result.published})`,
        );
      }
    });
}
