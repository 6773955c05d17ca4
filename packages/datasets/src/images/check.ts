/**
 * The bad-image pre-check: every image a dataset will read is probed (exists, non-empty, a JPEG or
 * PNG header sharp can parse) BEFORE training, so a broken file fails the run in seconds instead of
 * hours in. With `skipBadImages` the bad samples are dropped instead and counted.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { DatasetError, type Sample, type ZslSplit } from '@niwt/core';
import sharp from 'sharp';

export interface BadImage {
  readonly file: string;
  readonly reason: string;
}

/** Probes each file's header (sharp metadata); returns the bad ones in input order. */
export async function findBadImages(
  files: readonly string[],
  concurrency = Math.max(2, 2 * os.availableParallelism()),
): Promise<BadImage[]> {
  const reasons: (string | undefined)[] = new Array<string | undefined>(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      reasons[i] = await probe(files[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return files.flatMap((file, i) => (reasons[i] === undefined ? [] : [{ file, reason: reasons[i] }]));
}

async function probe(file: string): Promise<string | undefined> {
  try {
    const s = await stat(file);
    if (!s.isFile()) return 'not a file';
    if (s.size === 0) return 'empty file';
  } catch (e) {
    return e instanceof Error && 'code' in e && e.code === 'ENOENT' ? 'file not found' : `cannot read (${String(e)})`;
  }
  try {
    const m = await sharp(file).metadata();
    if (m.format !== 'jpeg' && m.format !== 'png') return `unsupported image format ${m.format}`;
    if (!m.width || !m.height) return 'no image size in the header';
    return undefined;
  } catch (e) {
    return `cannot decode image (${(e instanceof Error ? e.message : String(e)).split('\n')[0]})`;
  }
}

/** One line: the first bad file first (so the message names it), then the count and a few more. */
export function badImagesError(bad: readonly BadImage[], total: number, listedIn: string): DatasetError {
  const more = bad.slice(1, 4).map((b) => `${b.file} (${b.reason})`);
  const tail = bad.length > 4 ? `, … ${bad.length - 4} more` : '';
  return new DatasetError(
    `${bad[0].file}: ${bad[0].reason}; expected a JPEG or PNG image listed in ${listedIn} ` +
      (`(${bad.length} bad image${bad.length === 1 ? '' : 's'} of ` +
        `${total}${more.length ? `: also ${more.join(', ')}${tail}` : ''}; `) +
      `set the dataset option skipBadImages: true (--skip-bad-images) to skip them)`,
  );
}

export interface Dropped {
  readonly samples: Sample[];
  readonly split: ZslSplit;
  /** Original index of each kept sample (for feature rows). */
  readonly original: Int32Array;
}

/** Removes samples, renumbering the rest and the split (a class left without images is an error). */
export function dropSamples(
  samples: readonly Sample[],
  split: ZslSplit,
  drop: ReadonlySet<number>,
  classNames: readonly string[],
): Dropped {
  const remap = new Int32Array(samples.length).fill(-1);
  const kept: Sample[] = [];
  const original: number[] = [];
  for (const s of samples) {
    if (drop.has(s.index)) continue;
    remap[s.index] = kept.length;
    original.push(s.index);
    kept.push({ index: kept.length, classIndex: s.classIndex, path: s.path });
  }
  const map = (xs: readonly number[]): number[] => xs.filter((i) => remap[i] >= 0).map((i) => remap[i]);
  const out: ZslSplit = {
    seen: split.seen,
    unseen: split.unseen,
    trainval: map(split.trainval),
    testSeen: map(split.testSeen),
    testUnseen: map(split.testUnseen),
    ...(split.train && split.val ? { train: map(split.train), val: map(split.val) } : {}),
  };
  const count = (xs: readonly number[], c: number): number => xs.filter((i) => kept[i].classIndex === c).length;
  for (const c of split.seen) {
    if (count(out.trainval, c) === 0)
      throw new DatasetError(
        `class "${classNames[c]}": every trainval image was skipped as bad; expected at least one readable image`,
      );
  }
  for (const c of split.unseen) {
    if (count(out.testUnseen, c) === 0)
      throw new DatasetError(
        `class "${classNames[c]}": every test_unseen image was skipped as bad; expected at least one readable image`,
      );
  }
  return { samples: kept, split: out, original: Int32Array.from(original) };
}

/**
 * Runs the pre-check over `samples`: throws the one-line error, or with `skip` drops the bad ones.
 * `listedIn` names the file that lists the images (for the message).
 */
export async function precheckImages(
  samples: readonly Sample[],
  split: ZslSplit,
  classNames: readonly string[],
  options: { readonly skip: boolean; readonly listedIn: string },
): Promise<Dropped & { readonly bad: readonly BadImage[] }> {
  const bad = await findBadImages(samples.map((s) => s.path));
  if (bad.length === 0)
    return { samples: [...samples], split, original: Int32Array.from(samples, (s) => s.index), bad };
  if (!options.skip) throw badImagesError(bad, samples.length, options.listedIn);
  const badFiles = new Set(bad.map((b) => b.file));
  const drop = new Set(samples.filter((s) => badFiles.has(s.path)).map((s) => s.index));
  return { ...dropSamples(samples, split, drop, classNames), bad };
}
