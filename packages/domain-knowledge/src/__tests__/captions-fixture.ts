/**
 * A Reed-layout caption fixture (`text_c10/<class folder>/<image>.txt`) over a stub dataset whose image
 * folders mix CUB_200_2011 and Reed spellings, with and without the `NNN.` prefix. The expected class
 * vectors are computed by hand in captions.spec.ts.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Dataset, Logger } from '@niwt/core';

export interface FixtureClass {
  readonly name: string;
  /** Image class folder (from Sample.path). */
  readonly imageFolder: string;
  /** Caption folder under text_c10 (undefined: no folder). */
  readonly textFolder?: string;
  /** image basename → caption file bytes (undefined: the image has no caption file). */
  readonly images: Readonly<Record<string, string | Buffer | undefined>>;
}

export const FIXTURE: readonly FixtureClass[] = [
  {
    name: '009.Brewer_Blackbird',
    imageFolder: '009.Brewer_Blackbird',
    textFolder: '009.Brewers_Blackbird', // Reed spelling
    images: {
      Brewer_Blackbird_0001_2345: 'This bird is red.\n\n   \nSmall wings!\n',
      Brewer_Blackbird_0002_6789: Buffer.concat([
        Buffer.from('the bird'),
        Buffer.from([0xff, 0xfe]), // invalid UTF-8 → \uFFFD\uFFFD → space
        Buffer.from('has blue\n'),
        Buffer.from('bird\n'.repeat(9)),
        Buffer.from('red red\nred red\n'), // captions 11 and 12: beyond maxCaptions
      ]),
    },
  },
  {
    name: '067.Anna_Hummingbird',
    imageFolder: '067.Anna_Hummingbird',
    textFolder: '067.Anna_Hummingbird', // CUB spelling
    images: { Anna_Hummingbird_0001_1: "A bird's wings.\n", Anna_Hummingbird_0002_2: undefined },
  },
  {
    name: 'Scarlet_Tanager',
    imageFolder: 'Scarlet_Tanager', // no NNN. prefix on the image side
    textFolder: '139.Scarlet_Tanager',
    images: { Scarlet_Tanager_0001_3: 'zzz qqq\nRed\n' },
  },
  {
    name: '123.Henslows_Sparrow',
    imageFolder: '123.Henslows_Sparrow', // Reed spelling on the image side
    textFolder: '123.Henslow_Sparrow',
    images: { Henslow_Sparrow_0001_4: 'this\n', Henslow_Sparrow_0002_5: 'small\r\n' },
  },
];

/** Writes text_c10 under `root` and returns a stub dataset whose sample paths follow `images/<folder>/<file>.jpg`. */
export function writeCaptionFixture(root: string, classes: readonly FixtureClass[] = FIXTURE): Dataset {
  const samples: { index: number; classIndex: number; path: string }[] = [];
  classes.forEach((c, ci) => {
    if (c.textFolder) mkdirSync(path.join(root, 'text_c10', c.textFolder), { recursive: true });
    for (const [base, content] of Object.entries(c.images)) {
      samples.push({
        index: samples.length,
        classIndex: ci,
        path: path.join(root, 'images', c.imageFolder, `${base}.jpg`),
      });
      if (content !== undefined && c.textFolder)
        writeFileSync(path.join(root, 'text_c10', c.textFolder, `${base}.txt`), content);
    }
  });
  // Reed's release also has per-class .t7 files next to the folders: they must be ignored
  mkdirSync(path.join(root, 'text_c10'), { recursive: true });
  writeFileSync(path.join(root, 'text_c10', '009.Brewers_Blackbird.t7'), 'x');
  return {
    name: 'cub-fixture',
    root,
    classes: classes.map((c, index) => ({ index, name: c.name })),
    samples,
    split: { seen: [], unseen: [], trainval: [], testSeen: [], testUnseen: [] },
    readImages: () => (async function* () {})(),
  };
}

/** A logger that records warnings and infos. */
export function recordingLogger(): Logger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return {
    warnings,
    infos,
    info: (m) => void infos.push(m),
    warn: (m) => void warnings.push(m),
    stage: () => ({ end: () => 0 }),
    progress: () => ({ tick: () => undefined, done: () => undefined }),
  };
}
