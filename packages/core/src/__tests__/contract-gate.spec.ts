/**
 * The contract gate, one violation kind per row: a valid tiny dataset, embedding and backbone, each broken in
 * one way, and the exact one-line message the runner prints for it.
 */
import { describe, expect, it } from 'vitest';
import {
  ContractError,
  backboneViolation,
  batchViolation,
  checkContract,
  checkedBatches,
  datasetViolation,
  isNiwtError,
  knowledgeViolation,
  matrix,
  scoresViolation,
  type Backbone,
  type ClassEmbedding,
  type Dataset,
  type ExtractedBatch,
  type TapInfo,
} from '../index.js';

/** 4 classes (0, 1 seen; 2, 3 unseen), two images each: trainval [0, 2], test_seen [1, 3], test_unseen [4..7]. */
function dataset(): Dataset {
  const classes = ['cat', 'dog', 'fox', 'owl'].map((name, index) => ({ index, name }));
  const samples = Array.from({ length: 8 }, (_, index) => ({
    index,
    classIndex: Math.floor(index / 2),
    path: `x/${index}`,
  }));
  return {
    name: 'tiny',
    root: 'x',
    classes,
    samples,
    split: { seen: [0, 1], unseen: [2, 3], trainval: [0, 2], testSeen: [1, 3], testUnseen: [4, 5, 6, 7] },
    attributes: { names: ['furry', 'flies'], matrix: matrix(4, 2, [1, 0, 1, 0, 1, 1, 0, 1]), source: 'att.txt' },
    readImages: () => (async function* () {})(),
  };
}

const embedding = (m = matrix(4, 2, [1, 0, 1, 0, 1, 1, 0, 1]), dimNames = ['furry', 'flies']): ClassEmbedding => ({
  matrix: m,
  dimNames,
  description: 'test',
});

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Editable = Omit<Mutable<Dataset>, 'split'> & { split: Mutable<Dataset['split']> };
const edit = (f: (d: Editable) => void): Dataset => {
  const d = { ...dataset() } as Editable;
  d.split = { ...d.split };
  d.samples = d.samples.map((s) => ({ ...s }));
  f(d);
  return d;
};
const withClass = (i: number, classIndex: number) => (d: Editable) => {
  d.samples = d.samples.map((s) => (s.index === i ? { ...s, classIndex } : s));
};

describe('datasetViolation', () => {
  it('passes a valid dataset', () => {
    expect(datasetViolation(dataset())).toBeUndefined();
  });

  it.each<[string, Dataset, string]>([
    [
      'class index out of range',
      edit(withClass(5, -1)),
      'sample 5 of split test_unseen has class index -1 (expected 0..3)',
    ],
    ['class index past the end', edit(withClass(0, 4)), 'sample 0 of split trainval has class index 4 (expected 0..3)'],
    [
      'split class out of range',
      edit((d) => (d.split.unseen = [2, 9])),
      'split unseen has class index 9 (expected 0..3)',
    ],
    [
      'seen/unseen overlap',
      edit((d) => (d.split.unseen = [1, 2, 3])),
      "class 1 ('dog') is both seen and unseen (expected disjoint sets)",
    ],
    [
      'seen/unseen not covering',
      edit((d) => (d.split.unseen = [2])),
      "class 3 ('owl') is neither seen nor unseen (seen and unseen must cover all 4 classes)",
    ],
    [
      'empty test_unseen',
      edit((d) => (d.split.testUnseen = [])),
      'split test_unseen is empty (expected images of unseen classes)',
    ],
    [
      'empty trainval',
      edit((d) => (d.split.trainval = [])),
      'split trainval is empty (expected images of seen classes)',
    ],
    [
      'empty test_seen',
      edit((d) => (d.split.testSeen = [])),
      'split test_seen is empty (expected images of seen classes)',
    ],
    [
      'sample index out of range',
      edit((d) => (d.split.testSeen = [1, 8])),
      'split test_seen lists sample 8 (expected 0..7)',
    ],
    [
      'unseen image in trainval',
      edit((d) => (d.split.trainval = [0, 4])),
      "sample 4 of split trainval is of class 2 ('fox'), which is not seen",
    ],
    [
      'sample in two splits',
      edit((d) => (d.split.testSeen = [0, 3])),
      'sample 0 is in both trainval and test_seen (expected disjoint splits)',
    ],
    [
      'attribute rows ≠ classes',
      edit((d) => (d.attributes = { names: ['furry', 'flies'], matrix: matrix(3, 2), source: 'att.txt' })),
      'the attribute table (att.txt) has 3 rows for 4 classes (expected one row per class)',
    ],
    [
      'non-finite attributes',
      edit((d) => {
        const m = matrix(4, 2, [1, 0, 1, 0, 1, NaN, 0, 1]);
        d.attributes = { names: ['furry', 'flies'], matrix: m, source: 'att.txt' };
      }),
      "attribute 'flies' of class 2 ('fox') is NaN (expected finite values)",
    ],
    [
      'attribute names ≠ columns',
      edit((d) => (d.attributes = { names: ['furry'], matrix: matrix(4, 2), source: 'att.txt' })),
      'the attribute table (att.txt) names 1 attributes but has 2 columns',
    ],
  ])('%s', (_, d, message) => {
    expect(datasetViolation(d)).toBe(message);
  });

  it('becomes a one-line ContractError naming the plugin, a user error', () => {
    const e = (() => {
      try {
        checkContract("dataset 'bars'", datasetViolation(edit(withClass(5, -1))));
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(ContractError);
    expect(isNiwtError(e)).toBe(true);
    expect((e as ContractError).code).toBe('CONTRACT');
    const message = "dataset 'bars': sample 5 of split test_unseen has class index -1 (expected 0..3)";
    expect((e as Error).message).toBe(message);
  });
});

describe('knowledgeViolation', () => {
  it('passes a valid embedding', () => {
    expect(knowledgeViolation(embedding(), dataset())).toBeUndefined();
  });

  it.each<[string, ClassEmbedding, string]>([
    [
      'rows ≠ classes',
      embedding(matrix(3, 2)),
      'the class embedding has 3 rows for 4 classes (expected one row per class)',
    ],
    [
      'data length ≠ rows × cols',
      embedding({ rows: 4, cols: 2, data: new Float32Array(7) }),
      'the class embedding is declared 4×2 but holds 7 values (expected 8)',
    ],
    ['names ≠ columns', embedding(undefined, ['furry']), 'the class embedding names 1 dimensions but has 2 columns'],
    [
      'non-finite value',
      embedding(matrix(4, 2, [1, 0, 1, Infinity, 1, 1, 0, 1])),
      "dimension 'flies' of class 1 ('dog') is Infinity (expected finite values)",
    ],
    [
      'all-zero unseen row',
      embedding(matrix(4, 2, [1, 0, 1, 0, 1, 1, 0, 0])),
      "the row of unseen class 3 ('owl') is all zeros (an unseen class is recognised only by its knowledge)",
    ],
  ])('%s', (_, k, message) => {
    expect(knowledgeViolation(k, dataset())).toBe(message);
  });

  it('accepts an all-zero row of a seen class', () => {
    expect(knowledgeViolation(embedding(matrix(4, 2, [0, 0, 1, 0, 1, 1, 0, 1])), dataset())).toBeUndefined();
  });
});

/** Just the declared shapes; the gate does not call anything else. */
function backbone(tap: TapInfo, taps: readonly TapInfo[] = [tap], penultimateDim = 6): Backbone {
  return { name: 'toy', input: { height: 8, width: 8, channels: 3 }, tap, taps, penultimateDim } as unknown as Backbone;
}
const conv: TapInfo = { name: 'conv', shape: [2, 2, 3] };

describe('backboneViolation and batchViolation', () => {
  it.each<[string, Backbone, string | undefined]>([
    ['valid', backbone(conv), undefined],
    [
      'tap not listed',
      backbone(conv, [{ name: 'pool', shape: [1, 1, 3] }]),
      "uses tap 'conv', which is not among its taps (pool)",
    ],
    [
      'tap shape ≠ listed',
      backbone(conv, [{ name: 'conv', shape: [2, 2, 4] }]),
      "uses tap 'conv' of shape [2, 2, 3] but lists it as [2, 2, 4]",
    ],
    [
      'degenerate tap shape',
      backbone({ name: 'conv', shape: [0, 2, 3] }),
      "declares tap 'conv' of shape [0, 2, 3] (expected 3 positive integers [h, w, k])",
    ],
    ['feature size', backbone(conv, [conv], 0), 'declares penultimateDim 0 (expected a positive integer)'],
  ])('declared: %s', (_, b, message) => {
    expect(backboneViolation(b)).toBe(message);
  });

  const batch = (tap: number, features: number, indices = [3, 4]): ExtractedBatch => ({
    indices,
    tap: new Float32Array(tap),
    features: new Float32Array(features),
  });
  it.each<[string, ExtractedBatch, string | undefined]>([
    ['valid', batch(24, 12), undefined],
    ['tap shape', batch(20, 12), "extract() gave 20 tap values for 2 images at 'conv' (expected 2 × 2×2×3 = 24)"],
    ['feature shape', batch(24, 10), 'extract() gave 10 feature values for 2 images (expected 2 × 6)'],
    ['order', batch(24, 12, [4, 3]), 'extract() returned images [4, 3] where the next asked were [3, 4]'],
  ])('a batch: %s', (_, b, message) => {
    expect(batchViolation(backbone(conv), b, [3, 4])).toBe(message);
  });

  it('a non-finite feature names the image', () => {
    const b = batch(24, 12);
    b.features[7] = NaN;
    const message = 'extract() gave a NaN feature value for image 4 (expected finite values)';
    expect(batchViolation(backbone(conv), b, [3, 4])).toBe(message);
  });

  it('checkedBatches passes valid batches through and stops at a short stream', async () => {
    const stream = (async function* () {
      yield batch(24, 12);
    })();
    const seen: number[] = [];
    const run = async (): Promise<void> => {
      const checked = checkedBatches("backbone 'toy'", backbone(conv), stream, [3, 4, 5]);
      for await (const b of checked) seen.push(...b.indices);
    };
    await expect(run()).rejects.toThrow("backbone 'toy': extract() returned 2 of the 3 images asked");
    expect(seen).toEqual([3, 4]);
  });
});

describe('scoresViolation', () => {
  // 2 images × the 4 classes of `dataset()` (2, 3 unseen); -Infinity marks a seen class a method does not score
  const scores = (edit: (d: Float32Array) => void = () => undefined, rows = 2, cols = 4) => {
    const m = matrix(
      rows,
      cols,
      Array.from({ length: rows * cols }, (_, i) => i / 10),
    );
    edit(m.data);
    return m;
  };
  it.each<[string, ReturnType<typeof scores>, string | undefined]>([
    ['valid', scores(), undefined],
    ['-Infinity in a seen column', scores((d) => (d[4] = -Infinity)), undefined],
    ['shape', scores(undefined, 2, 3), 'scores() gave 2×3 for 2 images (expected 2×4: images × all classes)'],
    [
      'NaN',
      scores((d) => (d[5] = NaN)),
      'scores() gave NaN for image 1, class 1 (expected no NaN or +Infinity, and finite scores for unseen classes)',
    ],
    [
      '-Infinity in an unseen column',
      scores((d) => (d[3] = -Infinity)),
      'scores() gave -Infinity for image 0, class 3 (expected no NaN or +Infinity, and finite scores for unseen ' +
        'classes)',
    ],
  ])('%s', (_, s, message) => {
    expect(scoresViolation(s, 2, 4, [2, 3])).toBe(message);
  });
});
