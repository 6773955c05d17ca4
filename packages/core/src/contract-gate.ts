/**
 * The contract gate: checks what a plugin returned against the contracts in `contracts.ts`. Types cannot say
 * "class indices are in range" or "no unseen class lacks knowledge", and a plugin that breaks them does not
 * crash: the run finishes with u = 0 and explanations of `undefined`. So the runner checks every dataset,
 * class embedding and backbone as soon as they exist, and a plugin's own tests can call the same functions.
 *
 * Each `*Violation` returns the first violation as a phrase (or undefined); `checkContract` turns it into a
 * one-line `ContractError` naming the plugin:
 *
 * ```ts
 * checkContract(`dataset 'bars'`, datasetViolation(await adapter.load()));
 * // ContractError: dataset 'bars': sample 3 of split test_unseen has class index -1 (expected 0..26)
 * ```
 */
import type { Backbone, ClassEmbedding, Dataset, ExtractedBatch } from './contracts.js';
import type { Matrix } from './matrix.js';
import { NiwtError } from './errors.js';
import type { PluginGroup } from './plugins.js';

/** A plugin returned something its contract forbids; the message names the plugin and the first violation. */
export class ContractError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONTRACT', message, options);
  }
}

/** How messages name a plugin: its group and its config name, e.g. `dataset 'bars'`. */
export function pluginLabel(group: PluginGroup, name: string): string {
  return `${group} '${name}'`;
}

/** Throws a ContractError `<plugin>: <violation>` when there is a violation. */
export function checkContract(plugin: string, violation: string | undefined): void {
  if (violation !== undefined) throw new ContractError(`${plugin}: ${violation}`);
}

const isIndex = (v: number, n: number): boolean => Number.isInteger(v) && v >= 0 && v < n;
const range = (n: number): string => (n > 0 ? `0..${n - 1}` : 'none: the list is empty');
const describeValue = (v: number): string => (Number.isNaN(v) ? 'NaN' : String(v));

/** The first non-finite entry of a matrix as `[row, col]`, or undefined. */
function firstNonFinite(m: Matrix): [number, number] | undefined {
  for (let i = 0; i < m.data.length; i++) if (!Number.isFinite(m.data[i])) return [Math.floor(i / m.cols), i % m.cols];
  return undefined;
}

/** Shape problems of a `Matrix` (data length ≠ rows × cols), as a phrase. */
function matrixShapeViolation(what: string, m: Matrix): string | undefined {
  if (!Number.isInteger(m.rows) || !Number.isInteger(m.cols) || m.rows < 0 || m.cols <= 0) {
    return `${what} is ${m.rows}×${m.cols} (expected a positive number of columns)`;
  }
  if (m.data.length !== m.rows * m.cols) {
    return `${what} is declared ${m.rows}×${m.cols} but holds ${m.data.length} values (expected ${m.rows * m.cols})`;
  }
  return undefined;
}

/** The split lists that hold sample indices, with their xlsa17 names. */
const SAMPLE_SPLITS = [
  ['trainval', 'trainval', 'seen'],
  ['testSeen', 'test_seen', 'seen'],
  ['testUnseen', 'test_unseen', 'unseen'],
] as const;

/**
 * A dataset's first contract violation: classes indexed 0..C-1, seen and unseen disjoint and covering the
 * classes, trainval / test_seen / test_unseen non-empty with valid sample indices of the right classes, and one
 * finite attribute row per class when it ships attributes.
 */
export function datasetViolation(ds: Dataset): string | undefined {
  const C = ds.classes.length;
  if (C === 0) return 'has no classes';
  for (const [i, c] of ds.classes.entries()) {
    if (c.index !== i) return `class ${i} ('${c.name}') has index ${c.index} (expected ${i}: classes[i].index is i)`;
  }
  const name = (c: number): string => `'${ds.classes[c].name}'`;
  const role = new Map<number, 'seen' | 'unseen'>();
  for (const kind of ['seen', 'unseen'] as const) {
    for (const c of ds.split[kind]) {
      if (!isIndex(c, C)) return `split ${kind} has class index ${describeValue(c)} (expected ${range(C)})`;
      const before = role.get(c);
      if (before === kind) return `class ${c} (${name(c)}) is listed twice in split ${kind}`;
      if (before !== undefined) return `class ${c} (${name(c)}) is both seen and unseen (expected disjoint sets)`;
      role.set(c, kind);
    }
  }
  for (let c = 0; c < C; c++) {
    if (!role.has(c)) {
      return `class ${c} (${name(c)}) is neither seen nor unseen (seen and unseen must cover all ${C} classes)`;
    }
  }
  const N = ds.samples.length;
  for (const [i, s] of ds.samples.entries()) {
    if (s.index !== i) return `sample ${i} has index ${s.index} (expected ${i}: samples[i].index is i)`;
  }
  const inSplit = new Map<number, string>();
  for (const [key, label, kind] of SAMPLE_SPLITS) {
    const list = ds.split[key];
    if (list.length === 0) return `split ${label} is empty (expected images of ${kind} classes)`;
    for (const i of list) {
      if (!isIndex(i, N)) return `split ${label} lists sample ${describeValue(i)} (expected ${range(N)})`;
      const c = ds.samples[i].classIndex;
      if (!isIndex(c, C)) {
        return `sample ${i} of split ${label} has class index ${describeValue(c)} (expected ${range(C)})`;
      }
      if (role.get(c) !== kind) {
        return `sample ${i} of split ${label} is of class ${c} (${name(c)}), which is not ${kind}`;
      }
      const other = inSplit.get(i);
      if (other !== undefined) return `sample ${i} is in both ${other} and ${label} (expected disjoint splits)`;
      inSplit.set(i, label);
    }
  }
  for (const key of ['train', 'val'] as const) {
    for (const i of ds.split[key] ?? []) {
      if (!isIndex(i, N)) return `split ${key} lists sample ${describeValue(i)} (expected ${range(N)})`;
    }
  }
  const att = ds.attributes;
  if (att) {
    const shape = matrixShapeViolation(`the attribute table (${att.source})`, att.matrix);
    if (shape) return shape;
    if (att.matrix.rows !== C) {
      const rows = att.matrix.rows;
      return `the attribute table (${att.source}) has ${rows} rows for ${C} classes (expected one row per class)`;
    }
    if (att.names.length !== att.matrix.cols) {
      const n = att.names.length;
      return `the attribute table (${att.source}) names ${n} attributes but has ${att.matrix.cols} columns`;
    }
    const bad = firstNonFinite(att.matrix);
    if (bad) {
      const [r, k] = bad;
      const v = describeValue(att.matrix.data[r * att.matrix.cols + k]);
      return `attribute '${att.names[k]}' of class ${r} (${name(r)}) is ${v} (expected finite values)`;
    }
  }
  if (ds.features && !(Number.isInteger(ds.features.dim) && ds.features.dim > 0)) {
    return `its precomputed features have dim ${ds.features.dim} (expected a positive integer)`;
  }
  return undefined;
}

/**
 * A class embedding's first contract violation for `ds`: one row per class, a name per column, finite values,
 * and no all-zero row for an unseen class (a method could not tell it from any other).
 */
export function knowledgeViolation(k: ClassEmbedding, ds: Dataset): string | undefined {
  const C = ds.classes.length;
  const m = k.matrix;
  const shape = matrixShapeViolation('the class embedding', m);
  if (shape) return shape;
  if (m.rows !== C) return `the class embedding has ${m.rows} rows for ${C} classes (expected one row per class)`;
  if (k.dimNames.length !== m.cols) {
    return `the class embedding names ${k.dimNames.length} dimensions but has ${m.cols} columns`;
  }
  const bad = firstNonFinite(m);
  if (bad) {
    const [r, c] = bad;
    const v = describeValue(m.data[r * m.cols + c]);
    return `dimension '${k.dimNames[c]}' of class ${r} ('${ds.classes[r].name}') is ${v} (expected finite values)`;
  }
  for (const c of ds.split.unseen) {
    if (!isIndex(c, C)) continue; // the dataset gate reports it
    let zero = true;
    for (let j = 0; j < m.cols && zero; j++) zero = m.data[c * m.cols + j] === 0;
    if (zero) {
      const cls = `unseen class ${c} ('${ds.classes[c].name}')`;
      return `the row of ${cls} is all zeros (an unseen class is recognised only by its knowledge)`;
    }
  }
  return undefined;
}

const isShape = (s: readonly number[]): boolean => s.length === 3 && s.every((d) => Number.isInteger(d) && d > 0);

/**
 * A backbone's declared shapes: input, tap (listed in `taps`, same shape), feature size. A backbone may learn
 * them when its network is built, so they are checked once it is trained or loaded.
 */
export function backboneViolation(b: Backbone): string | undefined {
  const { height, width, channels } = b.input;
  if (!isShape([height, width, channels]) || channels !== 3) {
    return `declares input ${height}×${width}×${channels} (expected positive integers and 3 channels)`;
  }
  for (const t of b.taps) {
    if (!isShape(t.shape)) {
      return `declares tap '${t.name}' of shape [${t.shape.join(', ')}] (expected 3 positive integers [h, w, k])`;
    }
  }
  const listed = b.taps.find((t) => t.name === b.tap.name);
  if (!listed) {
    const names = b.taps.map((t) => t.name).join(', ') || 'none';
    return `uses tap '${b.tap.name}', which is not among its taps (${names})`;
  }
  if (!isShape(b.tap.shape) || listed.shape.join() !== b.tap.shape.join()) {
    return `uses tap '${b.tap.name}' of shape [${b.tap.shape.join(', ')}] but lists it as [${listed.shape.join(', ')}]`;
  }
  if (!(Number.isInteger(b.penultimateDim) && b.penultimateDim > 0)) {
    return `declares penultimateDim ${b.penultimateDim} (expected a positive integer)`;
  }
  return undefined;
}

/** A trained backbone's head against its declared tap and feature size. */
export function headViolation(b: Backbone): string | undefined {
  const head = b.head();
  if (head.tap.name !== b.tap.name || head.tap.shape.join() !== b.tap.shape.join()) {
    const want = `'${b.tap.name}' [${b.tap.shape.join(', ')}]`;
    return `head() starts at tap '${head.tap.name}' [${head.tap.shape.join(', ')}] (expected ${want})`;
  }
  if (head.outDim !== b.penultimateDim) {
    return `head() gives ${head.outDim}-d features (expected penultimateDim ${b.penultimateDim})`;
  }
  return undefined;
}

/**
 * One batch of `extract` against the declared shapes: `asked` are the sample indices this batch should hold
 * (the next ones of the request, in order); tap and features must be `n × h × w × k` and `n × D`, finite.
 */
export function batchViolation(b: Backbone, batch: ExtractedBatch, asked: readonly number[]): string | undefined {
  const n = batch.indices.length;
  if (n === 0 || n > asked.length || batch.indices.some((i, k) => i !== asked[k])) {
    const list = (xs: readonly number[]): string => `[${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''}]`;
    return `extract() returned images ${list(batch.indices)} where the next asked were ${list(asked)}`;
  }
  const [h, w, k] = b.tap.shape;
  if (batch.tap.length !== n * h * w * k) {
    const want = `${n} × ${h}×${w}×${k} = ${n * h * w * k}`;
    return `extract() gave ${batch.tap.length} tap values for ${n} images at '${b.tap.name}' (expected ${want})`;
  }
  const D = b.penultimateDim;
  if (batch.features.length !== n * D) {
    return `extract() gave ${batch.features.length} feature values for ${n} images (expected ${n} × ${D})`;
  }
  for (const [what, data, per] of [
    ['tap', batch.tap, h * w * k],
    ['feature', batch.features, D],
  ] as const) {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) {
        const image = batch.indices[Math.floor(i / per)];
        return `extract() gave a ${describeValue(data[i])} ${what} value for image ${image} (expected finite values)`;
      }
    }
  }
  return undefined;
}

/**
 * A method's `scores()` for `n` images against all `classes`: `n × classes`, no NaN or +Infinity anywhere, and
 * finite in every unseen column (−Infinity may only mark a class the method does not score).
 */
export function scoresViolation(s: Matrix, n: number, classes: number, unseen: readonly number[]): string | undefined {
  if (s.rows !== n || s.cols !== classes || s.data.length !== n * classes) {
    return `scores() gave ${s.rows}×${s.cols} for ${n} images (expected ${n}×${classes}: images × all classes)`;
  }
  const isUnseen = new Set(unseen);
  for (let i = 0; i < s.data.length; i++) {
    const v = s.data[i];
    const c = i % classes;
    if (Number.isNaN(v) || v === Infinity || (!Number.isFinite(v) && isUnseen.has(c))) {
      const where = `image ${Math.floor(i / classes)}, class ${c}`;
      return `scores() gave ${v} for ${where} (expected no NaN or +Infinity, and finite scores for unseen classes)`;
    }
  }
  return undefined;
}

/** Checks every batch of an `extract` stream as it passes (an async generator over the same batches). */
export async function* checkedBatches(
  plugin: string,
  b: Backbone,
  batches: AsyncIterable<ExtractedBatch>,
  indices: readonly number[],
): AsyncGenerator<ExtractedBatch> {
  let at = 0;
  for await (const batch of batches) {
    checkContract(plugin, batchViolation(b, batch, indices.slice(at, at + batch.indices.length)));
    at += batch.indices.length;
    yield batch;
  }
  if (at !== indices.length) checkContract(plugin, `extract() returned ${at} of the ${indices.length} images asked`);
}
