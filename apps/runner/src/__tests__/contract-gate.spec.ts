/**
 * The contract gate through the CLI: third-party plugins that break their contracts in one way each (written to
 * a temp folder, like a user's plugin) make `niwt run` print one line naming the plugin and exit 2. Dataset and
 * knowledge violations stop before a run opens; a backbone's shapes are checked once it is trained (it may learn
 * them then) and on every `extract()` batch, inside the run, which then ends FAILED with the message recorded.
 */
import { existsSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listLocalRuns } from '@niwt/tracking';
import { REPO, runCli, tempDir } from './helpers.js';

/**
 * A plugin module with a dataset (`bad-bars`: the example bars dataset, broken as `break:` says), a knowledge
 * encoder (`bad-attributes`) and a toy backbone whose `extract()` gives `tapValues` values per image.
 */
const BROKEN = `
import { Container, ContainerModule, inject, injectable } from 'inversify';
import { z } from 'zod';
import { TOKENS, matrix, registerPlugin } from '@niwt/core';
import bars from ${JSON.stringify(path.join(REPO, 'examples/plugins/bars-dataset.js'))};

const scratch = new Container();
scratch.load(bars);
const barsSpec = scratch.getAll(TOKENS.pluginSpec)[0];

class BadBars {
  constructor(opts) { this.opts = opts; }
  async load() {
    const ds = await new barsSpec.impl({ imagesPerClass: 4, seed: 3, testFraction: 0.25 }).load();
    const b = this.opts.break;
    const split = { ...ds.split };
    let samples = ds.samples;
    let attributes = ds.attributes;
    if (b === 'index') samples = samples.map((s) => (s.index === split.testUnseen[1] ? { ...s, classIndex: -1 } : s));
    if (b === 'overlap') split.unseen = [...split.unseen, split.seen[0]];
    if (b === 'empty') split.testUnseen = [];
    if (b === 'rows') attributes = { ...attributes, matrix: matrix(26, attributes.names.length) };
    if (b === 'nan') {
      const data = Float32Array.from(attributes.matrix.data);
      data[2 * attributes.matrix.cols + 4] = NaN;
      attributes = { ...attributes, matrix: { ...attributes.matrix, data } };
    }
    return { ...ds, samples, split, attributes, readImages: ds.readImages, fingerprint: ds.fingerprint };
  }
}
injectable()(BadBars);
inject(TOKENS.options)(BadBars, undefined, 0);

class BadAttributes {
  constructor(opts) { this.opts = opts; }
  async encode(ds) {
    const m = ds.attributes.matrix;
    const data = Float32Array.from(m.data);
    const b = this.opts.break;
    const first = ds.split.unseen[0];
    if (b === 'zero') data.fill(0, first * m.cols, (first + 1) * m.cols);
    if (b === 'inf') data[first * m.cols] = Infinity;
    const rows = b === 'rows' ? m.rows - 1 : m.rows;
    const matrix = { rows, cols: m.cols, data: data.subarray(0, rows * m.cols) };
    return { matrix, dimNames: ds.attributes.names, description: 'broken attributes' };
  }
}
injectable()(BadAttributes);
inject(TOKENS.options)(BadAttributes, undefined, 0);

/** A backbone without a network: the tap is the image's mean colour, the features its copy. */
class Toy {
  constructor(opts) {
    this.opts = opts;
    this.name = 'toy';
    this.input = { height: 8, width: 8, channels: 3 };
    this.taps = [{ name: 'mean', shape: [1, 1, 3] }];
    this.tap = opts.declare === 'unlisted' ? { name: 'avg', shape: [1, 1, 3] } : this.taps[0];
    this.penultimateDim = 3;
  }
  async trainSeen() { return { epochs: 1, bestEpoch: 1, trainAccuracy: 1, valAccuracy: 1, seconds: 0 }; }
  async *extract(dataset, indices, batchSize) {
    for (let s = 0; s < indices.length; s += batchSize) {
      const chunk = indices.slice(s, s + batchSize);
      yield {
        indices: chunk,
        tap: new Float32Array(chunk.length * this.opts.tapValues),
        features: new Float32Array(chunk.length * this.opts.featureValues),
      };
    }
  }
  head() { return { tap: this.tap, outDim: 3, apply: (a) => a }; }
  seenClassifier() { return { weights: matrix(3, 1), bias: new Float32Array(1), classes: [0] }; }
  async save() {}
  async load() { return false; }
  dispose() {}
}
injectable()(Toy);
inject(TOKENS.options)(Toy, undefined, 0);

/** A method whose scores break as told: a NaN, or one class too few. */
class BadMethod {
  constructor(opts) { this.opts = opts; }
  async fit(ctx) { this.classes = ctx.classNames.length; return { description: 'broken scores' }; }
  scores(features) {
    const cols = this.opts.break === 'shape' ? this.classes - 1 : this.classes;
    const m = matrix(features.rows, cols);
    if (this.opts.break === 'nan') m.data[cols + 1] = NaN;
    return m;
  }
}
injectable()(BadMethod);
inject(TOKENS.options)(BadMethod, undefined, 0);

export default new ContainerModule(({ bind }) => {
  const breaks = z.enum(['none', 'index', 'overlap', 'empty', 'rows', 'nan', 'zero', 'inf']).default('none');
  registerPlugin(bind, {
    group: 'dataset', name: 'bad-bars', description: 'bars, broken',
    schema: z.strictObject({ break: breaks }), impl: BadBars,
  });
  registerPlugin(bind, {
    group: 'knowledge', name: 'bad-attributes', description: 'attributes, broken',
    schema: z.strictObject({ break: breaks }), impl: BadAttributes,
  });
  registerPlugin(bind, {
    group: 'method', name: 'bad-method', description: 'scores, broken',
    schema: z.strictObject({ break: z.enum(['nan', 'shape']) }), impl: BadMethod,
  });
  registerPlugin(bind, {
    group: 'backbone', name: 'toy', description: 'mean colour',
    schema: z.strictObject({
      tap: z.string().optional(),
      declare: z.enum(['ok', 'unlisted']).default('ok'),
      tapValues: z.number().int().default(3),
      featureValues: z.number().int().default(3),
    }),
    impl: Toy,
  });
});
`;

/** A folder with the broken plugins (imports resolve through a link to the repo's node_modules). */
function pluginFolder(): string {
  const dir = tempDir('gate');
  writeFileSync(path.join(dir, 'broken.js'), BROKEN);
  symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

function config(dataset: string, knowledge: string, backbone: string, method = '{ name: eszsl }'): string {
  return `experiment: gate
seed: 1
plugins: [./broken.js]
dataset: { name: bad-bars, ${dataset} }
knowledge: { name: bad-attributes, ${knowledge} }
backbone: { name: toy, ${backbone} }
methods: [${method}]
explain: { enabled: false }
`;
}

// bars: 27 classes, unseen [19, 5, 15] (2-red-diagonal, 3-green-horizontal, 1-blue-vertical), 4 images each
describe('niwt run with a plugin that breaks its contract', () => {
  it.each([
    [
      'class index out of range',
      config('break: index', '', ''),
      "dataset 'bad-bars': sample 21 of split test_unseen has class index -1 (expected 0..26)",
    ],
    [
      'seen/unseen overlap',
      config('break: overlap', '', ''),
      "dataset 'bad-bars': class 0 ('1-red-horizontal') is both seen and unseen (expected disjoint sets)",
    ],
    [
      'empty split',
      config('break: empty', '', ''),
      "dataset 'bad-bars': split test_unseen is empty (expected images of unseen classes)",
    ],
    [
      'attribute rows ≠ classes',
      config('break: rows', '', ''),
      "dataset 'bad-bars': the attribute table (bars-dataset.js) has 26 rows for 27 classes " +
        '(expected one row per class)',
    ],
    [
      'non-finite attributes',
      config('break: nan', '', ''),
      "dataset 'bad-bars': attribute 'colour:green' of class 2 ('3-red-horizontal') is NaN (expected finite values)",
    ],
    [
      'knowledge shape',
      config('', 'break: rows', ''),
      "knowledge 'bad-attributes': the class embedding has 26 rows for 27 classes (expected one row per class)",
    ],
    [
      'knowledge all-zero unseen row',
      config('', 'break: zero', ''),
      "knowledge 'bad-attributes': the row of unseen class 19 ('2-red-diagonal') is all zeros " +
        '(an unseen class is recognised only by its knowledge)',
    ],
    [
      'knowledge non-finite',
      config('', 'break: inf', ''),
      "knowledge 'bad-attributes': dimension 'orientation:horizontal' of class 19 ('2-red-diagonal') is Infinity " +
        '(expected finite values)',
    ],
  ])(
    '%s: exit 2, one line, no run opened',
    async (_, yaml, message) => {
      const dir = pluginFolder();
      writeFileSync(path.join(dir, 'c.yaml'), yaml);
      const r = await runCli(['run', 'c.yaml', '--quiet'], dir);
      expect(r.stderr).toBe(`niwt: ${message}\n`);
      expect(r.code).toBe(2);
      expect(existsSync(path.join(dir, 'mlruns'))).toBe(false);
    },
    120_000,
  );

  it('niwt datasets check applies the same gate: exit 2, the same line', async () => {
    const dir = pluginFolder();
    writeFileSync(path.join(dir, 'c.yaml'), config('break: overlap', '', ''));
    const r = await runCli(['datasets', 'check', 'c.yaml'], dir);
    expect(r.stderr).toBe(
      "niwt: dataset 'bad-bars': class 0 ('1-red-horizontal') is both seen and unseen (expected disjoint sets)\n",
    );
    expect(r.code).toBe(2);
    writeFileSync(path.join(dir, 'ok.yaml'), config('', '', ''));
    const ok = await runCli(['datasets', 'check', 'ok.yaml'], dir);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('bad-bars dataset bars at');
  }, 120_000);

  it.each([
    [
      'tap not declared',
      'declare: unlisted',
      "backbone 'toy': uses tap 'avg', which is not among its taps (mean)",
      'seen network (toy)',
    ],
    [
      'tap shape',
      'tapValues: 4',
      "backbone 'toy': extract() gave 256 tap values for 64 images at 'mean' (expected 64 × 1×1×3 = 192)",
      'activations at mean',
    ],
    [
      'feature shape',
      'featureValues: 2',
      "backbone 'toy': extract() gave 128 feature values for 64 images (expected 64 × 3)",
      'activations at mean',
    ],
  ])(
    'backbone %s: exit 2, one line, the run ends FAILED with it recorded',
    async (_, bb, msg, stage) => {
      const dir = pluginFolder();
      writeFileSync(path.join(dir, 'c.yaml'), config('', '', bb));
      const r = await runCli(['run', 'c.yaml', '--quiet'], dir);
      expect(r.stderr).toBe(`niwt: ${msg}\n`);
      expect(r.code).toBe(2);
      const runs = await listLocalRuns(path.join(dir, 'mlruns'));
      expect(runs.map((x) => x.status)).toEqual(['FAILED']);
      expect(runs[0].tags['niwt.error']).toBe(msg);
      expect(runs[0].tags['niwt.interrupted_at']).toBe(stage);
    },
    120_000,
  );
});

describe('niwt run with a method whose scores break the contract', () => {
  it.each([
    [
      'nan',
      "method 'bad-method': scores() gave NaN for image 1, class 1 (expected no NaN or +Infinity, and finite scores " +
        'for unseen classes)',
    ],
    ['shape', "method 'bad-method': scores() gave 12×26 for 12 images (expected 12×27: images × all classes)"],
  ])(
    '%s: exit 2, one line, the runs end FAILED with it recorded',
    async (kind, msg) => {
      const dir = pluginFolder();
      writeFileSync(path.join(dir, 'c.yaml'), config('', '', '', `{ name: bad-method, break: ${kind} }`));
      const r = await runCli(['run', 'c.yaml', '--quiet'], dir);
      expect(r.stderr).toBe(`niwt: ${msg}\n`);
      expect(r.code).toBe(2);
      const runs = await listLocalRuns(path.join(dir, 'mlruns'));
      expect(runs.map((x) => x.status)).toEqual(['FAILED', 'FAILED']);
      for (const run of runs) expect(run.tags['niwt.error']).toBe(msg);
    },
    120_000,
  );
});
