/**
 * Helpers for dataset plugins: the class-wise ZSL split, a class × attribute table, and image batches
 * rendered by a function. (Images from files: `readImages` of the folder format.)
 */
import {
  DatasetError,
  Rng,
  matrix,
  type AttributeTable,
  type ClassInfo,
  type ImageBatch,
  type ImageSpec,
  type Sample,
  type ZslSplit,
} from '@niwt/core';

export interface ClassSplitOptions {
  readonly classes: readonly string[];
  /** Names of the unseen classes: all their images go to test_unseen. */
  readonly unseen: readonly string[];
  readonly imagesPerClass: number;
  /** Share of each seen class's images held out as test_seen (rounded per class). */
  readonly testFraction: number;
  readonly seed: number;
  /** `Sample.path` of image `i` of a class: a file, or any URI that names it for messages. */
  readonly path: (className: string, i: number) => string;
}

export interface ClassSplit {
  readonly classes: ClassInfo[];
  readonly samples: Sample[];
  readonly split: ZslSplit;
}

/**
 * Classes with `imagesPerClass` images each, split the xlsa17 way: the unseen classes' images are all
 * test_unseen; each seen class's images are shuffled (seeded, one shuffle per class in class order) and the
 * first `round(imagesPerClass × testFraction)` of that order are test_seen, the rest trainval.
 * For example 27 classes × 24 images, 3 unseen, 0.25: 72 test_unseen, 144 test_seen, 432 trainval.
 */
export function classSplit(o: ClassSplitOptions): ClassSplit {
  const unseen = o.unseen.map((name) => {
    const c = o.classes.indexOf(name);
    if (c < 0) throw new DatasetError(`unseen class '${name}' is not a class (known: ${o.classes.join(', ')})`);
    return c;
  });
  const samples: Sample[] = [];
  const trainval: number[] = [];
  const testSeen: number[] = [];
  const testUnseen: number[] = [];
  const rng = new Rng(o.seed);
  const nTest = Math.round(o.imagesPerClass * o.testFraction);
  o.classes.forEach((name, c) => {
    const order = rng.shuffle(Array.from({ length: o.imagesPerClass }, (_, i) => i));
    for (let i = 0; i < o.imagesPerClass; i++) {
      const index = samples.length;
      samples.push({ index, classIndex: c, path: o.path(name, i) });
      if (unseen.includes(c)) testUnseen.push(index);
      else if (order.indexOf(i) < nTest) testSeen.push(index);
      else trainval.push(index);
    }
  });
  const seen = o.classes.map((_, c) => c).filter((c) => !unseen.includes(c));
  const classes = o.classes.map((name, index) => ({ index, name }));
  return { classes, samples, split: { seen, unseen, trainval, testSeen, testUnseen } };
}

/** A class × attribute table: `value(className, attribute)` for every pair, classes in `classes` order. */
export function attributeTable(
  classes: readonly string[],
  names: readonly string[],
  value: (className: string, attribute: string) => number,
  source: string,
): AttributeTable {
  const values = classes.flatMap((c) => names.map((a) => value(c, a)));
  return { names: [...names], matrix: matrix(classes.length, names.length, values), source };
}

/**
 * `Dataset.readImages` for images computed by a function: `render(sampleIndex, spec)` returns one image's
 * `spec.height × spec.width × 3` RGB values in [0, 255]; batches of `batchSize`, in the order asked.
 */
export async function* renderedImages(
  indices: readonly number[],
  spec: ImageSpec,
  batchSize: number,
  render: (sampleIndex: number, spec: ImageSpec) => Float32Array,
): AsyncIterable<ImageBatch> {
  const per = spec.height * spec.width * 3;
  for (let s = 0; s < indices.length; s += batchSize) {
    const chunk = indices.slice(s, s + batchSize);
    const pixels = new Float32Array(chunk.length * per);
    chunk.forEach((i, k) => pixels.set(render(i, spec), k * per));
    yield { indices: chunk, pixels, spec };
  }
}
