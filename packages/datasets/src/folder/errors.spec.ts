/** Every malformed input of the folder format, with the exact message a user sees. */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError } from '@niwt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { solidPng, tempDir, writeValidDataset } from '../../test/fixtures.js';
import { loadFolderDataset } from './load.js';

interface Case {
  readonly name: string;
  /** Breaks the valid dataset at `root`. */
  readonly breakIt: (root: string) => Promise<void>;
  readonly message: (root: string) => string;
}

const put = (file: string, text: string) => (root: string) => writeFile(path.join(root, file), text);
const remove = (rel: string) => (root: string) => rm(path.join(root, rel), { recursive: true, force: true });
const split = (text: string) => put('split.yaml', text);
const EXPECT_ROOT =
  'expected a dataset folder with classes.txt, attributes.txt, class-attributes.txt, split.yaml and images/';
const KEYS = 'expected one of seen, unseen, test_fraction, seed';
const TF = "expected the share of each seen class's images held out as test_seen, a number in (0, 1)";

const cases: readonly Case[] = [
  // ------------------------------------------------------------------ missing files
  { name: 'missing root', breakIt: remove('.'), message: (r) => `${r}: folder not found; ${EXPECT_ROOT}` },
  {
    name: 'root is a file',
    breakIt: async (r) => {
      await rm(r, { recursive: true });
      await writeFile(r, 'x');
    },
    message: (r) => `${r}: not a folder; ${EXPECT_ROOT}`,
  },
  {
    name: 'missing classes.txt',
    breakIt: remove('classes.txt'),
    message: (r) => `${r}/classes.txt: file not found; expected one class name per line`,
  },
  {
    name: 'missing attributes.txt',
    breakIt: remove('attributes.txt'),
    message: (r) => `${r}/attributes.txt: file not found; expected one attribute name per line`,
  },
  {
    name: 'missing class-attributes.txt',
    breakIt: remove('class-attributes.txt'),
    message: (r) =>
      `${r}/class-attributes.txt: file not found; expected one row of numbers per class (one number per attribute)`,
  },
  {
    name: 'missing split.yaml',
    breakIt: remove('split.yaml'),
    message: (r) => `${r}/split.yaml: file not found; expected seen: and unseen: lists of class names`,
  },
  {
    name: 'several files missing: the first in a fixed order',
    breakIt: async (r) => {
      await remove('split.yaml')(r);
      await remove('attributes.txt')(r);
    },
    message: (r) => `${r}/attributes.txt: file not found; expected one attribute name per line`,
  },
  {
    name: 'several class folders missing: the first class',
    breakIt: async (r) => {
      await remove('images/bee')(r);
      await remove('images/dog')(r);
    },
    message: (r) => `${r}/images/dog: folder not found; expected the images of class "dog" (classes.txt:2)`,
  },
  {
    name: 'missing images folder',
    breakIt: remove('images'),
    message: (r) => `${r}/images: folder not found; expected one folder of images per class (images/<class name>/)`,
  },
  {
    name: 'missing folder of a class',
    breakIt: remove('images/fox'),
    message: (r) => `${r}/images/fox: folder not found; expected the images of class "fox" (classes.txt:3)`,
  },
  // ------------------------------------------------------------------ classes.txt / attributes.txt
  {
    name: 'empty classes.txt',
    breakIt: put('classes.txt', '\n\n'),
    message: (r) => `${r}/classes.txt: no class names; expected one class name per line`,
  },
  {
    name: 'empty class name',
    breakIt: put('classes.txt', 'cat\n  \ndog\n'),
    message: (r) => `${r}/classes.txt:2: empty class name; expected one class name per line`,
  },
  {
    name: 'duplicate class name',
    breakIt: put('classes.txt', 'cat\ndog\nfox\ndog\nbee\n'),
    message: (r) => `${r}/classes.txt:4: duplicate class name "dog" (first at line 2); expected unique names`,
  },
  {
    name: 'class name with a slash',
    breakIt: put('classes.txt', 'cat\ndog/puppy\n'),
    message: (r) =>
      `${r}/classes.txt:2: class name "dog/puppy" cannot be a folder name; expected a name without / or \\ ` +
      `that is not . or ..`,
  },
  {
    name: 'empty attributes.txt',
    breakIt: put('attributes.txt', ''),
    message: (r) => `${r}/attributes.txt: no attribute names; expected one attribute name per line`,
  },
  {
    name: 'duplicate attribute name',
    breakIt: put('attributes.txt', 'furry\nflies\r\nfurry\r\n'),
    message: (r) => `${r}/attributes.txt:3: duplicate attribute name "furry" (first at line 1); expected unique names`,
  },
  // ------------------------------------------------------------------ class-attributes.txt
  {
    name: 'row with too few values',
    breakIt: put('class-attributes.txt', '90 0 40\n95 0\n80 0 45\n60 100 30\n10 100 1\n'),
    message: (r) =>
      `${r}/class-attributes.txt:2: 2 values in the row of class "dog", expected 3 (one per attribute in ` +
      `attributes.txt)`,
  },
  {
    name: 'blank row in the middle',
    breakIt: put('class-attributes.txt', '90 0 40\n\n80 0 45\n60 100 30\n10 100 1\n'),
    message: (r) =>
      `${r}/class-attributes.txt:2: 0 values in the row of class "dog", expected 3 (one per attribute in ` +
      `attributes.txt)`,
  },
  {
    name: 'non-number value',
    breakIt: put('class-attributes.txt', '90 0 40\n95 0 50\n80  abc 45\n60 100 30\n10 100 1\n'),
    message: (r) =>
      `${r}/class-attributes.txt:3:5: value 2 "abc" is not a number; expected 3 whitespace-separated numbers`,
  },
  {
    name: 'NaN is not a number',
    breakIt: put('class-attributes.txt', '90 0 40\n95 0 50\n80 0 45\n60 100 30\n10 100 NaN\n'),
    message: (r) =>
      `${r}/class-attributes.txt:5:8: value 3 "NaN" is not a number; expected 3 whitespace-separated numbers`,
  },
  {
    name: 'fewer rows than classes',
    breakIt: put('class-attributes.txt', '90 0 40\n95 0 50\n80 0 45\n'),
    message: (r) =>
      `${r}/class-attributes.txt: 3 rows, expected 5 (one per class in classes.txt); no row for "owl" (classes.txt:4)`,
  },
  {
    name: 'more rows than classes',
    breakIt: put('class-attributes.txt', '90 0 40\n95 0 50\n80 0 45\n60 100 30\n10 100 1\n1 2 3\n'),
    message: (r) => `${r}/class-attributes.txt:6: row 6 has no class; expected 5 rows (one per class in classes.txt)`,
  },
  // ------------------------------------------------------------------ split.yaml
  {
    name: 'YAML syntax error',
    breakIt: split('seen: [cat, dog\nunseen: [owl, bee]\n'),
    message: (r) =>
      `${r}/split.yaml:2: invalid YAML (Flow sequence in block collection must be sufficiently indented and ` +
      `end with a ]); expected seen: and unseen: lists of class names`,
  },
  {
    name: 'duplicate key',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [owl, bee]\nseen: [cat]\n'),
    message: (r) =>
      `${r}/split.yaml:3: invalid YAML (Map keys must be unique); expected seen: and unseen: lists of class names`,
  },
  {
    name: 'not a mapping',
    breakIt: split('- cat\n- dog\n'),
    message: (r) =>
      `${r}/split.yaml:1: not a mapping; expected the keys seen, unseen, test_fraction, seed (seen and ` +
      `unseen are required)`,
  },
  {
    name: 'empty split.yaml',
    breakIt: split(''),
    message: (r) => `${r}/split.yaml: missing key "seen"; expected a list of seen class names`,
  },
  {
    name: 'missing unseen',
    breakIt: split('seen: [cat, dog, fox, owl, bee]\n'),
    message: (r) => `${r}/split.yaml: missing key "unseen"; expected a list of unseen class names`,
  },
  {
    name: 'unknown key',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [owl, bee]\ntest_fracton: 0.3\n'),
    message: (r) => `${r}/split.yaml:3: unknown key "test_fracton"; ${KEYS}`,
  },
  {
    name: 'seen is not a list',
    breakIt: split('seen: cat\nunseen: [owl, bee]\n'),
    message: (r) => `${r}/split.yaml:1: "seen" is not a list; expected a list of class names, e.g. seen: [cat, dog]`,
  },
  {
    name: 'seen is empty',
    breakIt: split('seen: []\nunseen: [owl, bee]\n'),
    message: (r) => `${r}/split.yaml:1: "seen" is empty; expected at least one class name`,
  },
  {
    name: 'list item is not a name',
    breakIt: split('seen: [cat, dog, fox]\nunseen:\n  - owl\n  - [bee]\n'),
    message: (r) => `${r}/split.yaml:4: unseen[1] is not a class name; expected a plain string`,
  },
  {
    name: 'unknown class (typo)',
    breakIt: split('seen:\n  - cat\n  - dgo\n  - fox\nunseen: [owl, bee]\n'),
    message: (r) =>
      `${r}/split.yaml:3: seen[1] "dgo" is not a class in classes.txt; expected one of its 5 names (did you ` +
      `mean "dog"?)`,
  },
  {
    name: 'unknown class',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [owl, bee, zebra]\n'),
    message: (r) => `${r}/split.yaml:2: unseen[2] "zebra" is not a class in classes.txt; expected one of its 5 names`,
  },
  {
    name: 'class listed twice',
    breakIt: split('seen:\n  - cat\n  - dog\n  - cat\n  - fox\nunseen: [owl, bee]\n'),
    message: (r) => `${r}/split.yaml:4: seen[2] "cat" is listed twice (first at line 2); expected each class once`,
  },
  {
    name: 'class both seen and unseen',
    breakIt: split('seen:\n  - cat\n  - dog\n  - fox\nunseen:\n  - owl\n  - dog\n  - bee\n'),
    message: (r) =>
      `${r}/split.yaml:7: unseen[1] "dog" is also in seen (line 3); expected each class in exactly one of seen, unseen`,
  },
  {
    name: 'class in neither (an error, not excluded)',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [bee]\n'),
    message: (r) =>
      `${r}/split.yaml: class "owl" (classes.txt:4) is in neither seen nor unseen; expected every class of ` +
      `classes.txt in exactly one list ` +
      `(to leave a class out, remove it from classes.txt and its row from class-attributes.txt)`,
  },
  ...['0', '1', '1.5', '-0.2'].map((v): Case => ({
    name: `test_fraction ${v}`,
    breakIt: split(`seen: [cat, dog, fox]\nunseen: [owl, bee]\n\ntest_fraction: ${v}\n`),
    message: (r) => `${r}/split.yaml:4: test_fraction ${v} is outside (0, 1); ${TF}`,
  })),
  {
    name: 'test_fraction not a number',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [owl, bee]\ntest_fraction: half\n'),
    message: (r) => `${r}/split.yaml:3: test_fraction "half" is not a number; ${TF}`,
  },
  {
    name: 'test_fraction a list',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [owl, bee]\ntest_fraction: [0.2]\n'),
    message: (r) => `${r}/split.yaml:3: test_fraction is not a single value; ${TF}`,
  },
  {
    name: 'seed negative',
    breakIt: split('seen: [cat, dog, fox]\nunseen: [owl, bee]\nseed: -1\n'),
    message: (r) => `${r}/split.yaml:3: seed "-1" is not valid; expected an integer from 0 to 4294967295`,
  },
  // ------------------------------------------------------------------ images
  {
    name: 'seen class without images',
    breakIt: async (r) => {
      await rm(path.join(r, 'images/dog'), { recursive: true });
      await mkdir(path.join(r, 'images/dog'));
      await writeFile(path.join(r, 'images/dog/readme.md'), 'x');
    },
    message: (r) =>
      `${r}/images/dog: no images (.jpg, .jpeg, .png); expected at least 2 for seen class "dog" (at least ` +
      `one held out as test_seen and one kept for trainval)`,
  },
  {
    name: 'seen class with one image',
    breakIt: async (r) => {
      await rm(path.join(r, 'images/fox'), { recursive: true });
      await mkdir(path.join(r, 'images/fox'));
      await writeFile(path.join(r, 'images/fox/only.PNG'), await solidPng([1, 2, 3]));
    },
    message: (r) =>
      `${r}/images/fox: only 1 image (only.PNG); expected at least 2 for seen class "fox" (at least one held ` +
      `out as test_seen and one kept for trainval)`,
  },
  {
    name: 'unseen class without images',
    breakIt: async (r) => {
      await rm(path.join(r, 'images/bee'), { recursive: true });
      await mkdir(path.join(r, 'images/bee'));
    },
    message: (r) => `${r}/images/bee: no images (.jpg, .jpeg, .png); expected at least 1 for unseen class "bee"`,
  },
];

describe('folder format errors', () => {
  let base: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    base = await tempDir();
  });
  afterAll(() => base.cleanup());

  it.each(cases.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    const c = cases[i];
    const root = path.join(base.dir, `case-${i}`);
    await writeValidDataset(root);
    await c.breakIt(root);
    const error = await loadFolderDataset(root).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).message).toBe(c.message(root));
  });

  it('accepts the unbroken fixture', async () => {
    const root = path.join(base.dir, 'valid');
    await writeValidDataset(root);
    await expect(loadFolderDataset(root)).resolves.toBeDefined();
  });
});
