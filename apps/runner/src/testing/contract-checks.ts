/**
 * The contract of each plugin group, run on one registered plugin with its `testOptions`: what the contract
 * gate checks (shapes, ranges, finite values), plus what only a test can afford — the same seed gives the same
 * outputs, a saved backbone loads back to the same network, and no tfjs tensor outlives the check.
 * Framework-free (no vitest): `contract-suite.ts` turns each into a test; a failure is a one-line ContractError.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import {
  ContractError,
  PluginRegistry,
  TOKENS,
  backboneViolation,
  checkContract,
  checkedBatches,
  datasetViolation,
  headViolation,
  importPluginModules,
  knowledgeViolation,
  matrix,
  memoryTaps,
  pluginLabel,
  scoresViolation,
  silentLogger,
  type Activations,
  type Backbone,
  type ClassEmbedding,
  type ConfigSource,
  type Dataset,
  type DatasetAdapter,
  type KnowledgeEncoder,
  type Matrix,
  type PluginGroup,
  type PluginKinds,
  type PluginSpec,
  type RunContext,
  type Tracker,
  type ZeroShotContext,
  type ZeroShotMethod,
} from '@niwt/core';
import type { ContainerModule } from 'inversify';
import { baseContainer } from '../compose.js';

/** The plugins of a contract check: built-ins plus third-party modules, each check in its own temp folder. */
export class ContractBench {
  private fixtures = new Map<string, Promise<unknown>>();
  private readonly folders: string[] = [];

  private constructor(
    private readonly extra: readonly ContainerModule[],
    /** `group:name` of the plugins the third-party modules register. */
    readonly thirdParty: ReadonlySet<string>,
  ) {}

  /** Imports the plugin modules (paths relative to `baseDir`, or package names), as `plugins:` in a config does. */
  static async create(plugins: readonly string[] = [], baseDir = process.cwd()): Promise<ContractBench> {
    const source: ConfigSource = {
      file: 'contract suite',
      baseDir,
      raw: {},
      overridden: new Map(),
      locate: () => 'contract suite:',
      includes: [],
    };
    const extra = await importPluginModules(plugins, baseDir, source);
    const own = new PluginRegistry(baseContainer(silentLogger));
    const builtin = new Set(own.specs().map((s) => `${s.group}:${s.name}`));
    const names = new ContractBench(extra, new Set()).specs().map((s) => `${s.group}:${s.name}`);
    return new ContractBench(extra, new Set(names.filter((n) => !builtin.has(n))));
  }

  /** A registry whose plugins see a run context in `dir` (seed 7). */
  registry(dir: string): PluginRegistry {
    const container = baseContainer(silentLogger);
    if (this.extra.length > 0) container.load(...this.extra);
    const run: RunContext = { seed: 7, baseDir: dir, cacheDir: path.join(dir, 'cache'), runDir: path.join(dir, 'run') };
    container.bind(TOKENS.runContext).toConstantValue(run);
    return new PluginRegistry(container);
  }

  specs(): PluginSpec[] {
    return this.registry(os.tmpdir()).specs();
  }

  /** A fresh temp folder for one check (removed by `release`). */
  scratch(tag: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `niwt-contract-${tag.replace(/[^\w-]/g, '_')}-`));
    this.folders.push(dir);
    return dir;
  }

  /** Disposes the shared values that hold tensors (the method fixture's network) and removes the temp folders. */
  async release(): Promise<void> {
    const all = await Promise.allSettled(this.fixtures.values());
    this.fixtures.clear();
    await Promise.all(this.folders.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    for (const r of all) {
      const v: unknown = r.status === 'fulfilled' ? r.value : undefined;
      if (typeof v === 'object' && v !== null && typeof (v as { dispose?: unknown }).dispose === 'function') {
        (v as { dispose: () => void }).dispose();
      }
    }
  }

  /** A value computed once per bench (a dataset, a trained network), shared by the checks that need it. */
  shared<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.fixtures.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.fixtures.set(key, p);
    }
    return p;
  }
}

const label = (spec: PluginSpec): string => pluginLabel(spec.group, spec.name);

/** The plugin's `testOptions`, validated by its schema; a plugin without them fails with the remedy. */
export async function testOptionsOf(
  spec: PluginSpec,
  dir: string,
  dataset?: Dataset,
): Promise<Record<string, unknown>> {
  const t = spec.testOptions;
  if (t === undefined) {
    throw new ContractError(
      `${label(spec)} has no testOptions: add tiny options to its registerPlugin spec ` +
        '(testOptions: { … } or (context) => …) so the contract suite can run it in seconds',
    );
  }
  const raw: unknown = typeof t === 'function' ? await t({ dir, dataset }) : t;
  const parsed = spec.schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue.path.join('.');
    throw new ContractError(`${label(spec)}: its testOptions fail its schema at '${at}' (${issue.message})`);
  }
  return parsed.data as Record<string, unknown>;
}

/** Creates `spec` with its test options in `dir`. */
async function instance<G extends PluginGroup>(
  bench: ContractBench,
  spec: PluginSpec<G>,
  dir: string,
  dataset?: Dataset,
): Promise<PluginKinds[G]> {
  const options = await testOptionsOf(spec, dir, dataset);
  return bench.registry(dir).create(spec, options);
}

function find<G extends PluginGroup>(bench: ContractBench, group: G, name: string): PluginSpec<G> {
  const spec = bench.specs().find((s) => s.group === group && s.name === name);
  if (!spec) throw new ContractError(`the contract suite needs ${group} '${name}', which is not registered`);
  return spec as PluginSpec<G>;
}

/** The largest difference between two arrays (Infinity when their lengths differ). */
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue; // also equal infinities (-Infinity scores)
    d = Math.max(d, Math.abs(a[i] - b[i]));
  }
  return d;
}

/** Same seed, same options: outputs agree to 1e-5 relative to their scale (one backend, one thread). */
function sameOutputs(plugin: string, what: string, a: ArrayLike<number>, b: ArrayLike<number>): void {
  let scale = 1;
  for (let i = 0; i < a.length; i++) if (Number.isFinite(a[i])) scale = Math.max(scale, Math.abs(a[i]));
  const d = maxDiff(a, b);
  if (d > 1e-5 * scale) {
    const why = d === Infinity ? `${a.length} vs ${b.length} values` : `by up to ${d.toPrecision(3)}`;
    throw new ContractError(`${plugin}: ${what} differ ${why} (expected identical outputs)`);
  }
}

/** Runs `f` and fails when tfjs holds more tensors after it than before. */
async function tensorsFlat<T>(plugin: string, f: () => Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await f();
  const leaked = tf.memory().numTensors - before;
  if (leaked > 0) {
    throw new ContractError(`${plugin}: ${leaked} tfjs tensors outlive the check (dispose what you create)`);
  }
  return out;
}

/** What one check measured, for the suite's summary line. */
export interface CheckReport {
  readonly plugin: string;
  readonly summary: string;
}

/** The dataset a knowledge encoder, backbone or method is checked on (`testDataset`, default `shapes`). */
function testDataset(bench: ContractBench, spec: PluginSpec): Promise<Dataset> {
  const name = spec.testDataset ?? 'shapes';
  return bench.shared(`dataset:${name}`, async () => {
    const ds = find(bench, 'dataset', name);
    const dataset = await ((await instance(bench, ds, bench.scratch(name))) as DatasetAdapter).load();
    checkContract(label(ds), datasetViolation(dataset));
    return dataset;
  });
}

async function readPixels(ds: Dataset, indices: readonly number[]): Promise<Float32Array> {
  const spec = { height: 8, width: 8, channels: 3 } as const;
  const parts: Float32Array[] = [];
  let n = 0;
  for await (const b of ds.readImages(indices, spec, 2)) {
    if (b.indices.join() !== indices.slice(n, n + b.indices.length).join()) {
      throw new ContractError(`dataset '${ds.name}': readImages returned [${b.indices.join(', ')}] out of order`);
    }
    if (b.pixels.length !== b.indices.length * 8 * 8 * 3) {
      const got = `${b.pixels.length} values for ${b.indices.length} 8×8 images`;
      throw new ContractError(`dataset '${ds.name}': readImages gave ${got}`);
    }
    parts.push(b.pixels);
    n += b.indices.length;
  }
  const out = new Float32Array(n * 8 * 8 * 3);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A dataset: passes the gate; two loads agree; images (or precomputed features) have the right size, finite. */
export async function checkDataset(bench: ContractBench, spec: PluginSpec<'dataset'>): Promise<CheckReport> {
  const plugin = label(spec);
  const dir = bench.scratch(spec.name);
  return tensorsFlat(plugin, async () => {
    const a = await (await instance(bench, spec, dir)).load();
    checkContract(plugin, datasetViolation(a));
    const b = await (await instance(bench, spec, dir)).load();
    const structure = (d: Dataset): string => {
      const samples = d.samples.map((s) => [s.classIndex, s.path]);
      return JSON.stringify({ c: d.classes, s: samples, split: d.split, att: d.attributes?.names });
    };
    if (structure(a) !== structure(b)) {
      throw new ContractError(`${plugin}: two loads with the same options differ (classes, samples or split)`);
    }
    if (a.attributes && b.attributes) {
      sameOutputs(plugin, 'attribute tables of two loads', a.attributes.matrix.data, b.attributes.matrix.data);
    }
    const { trainval, testSeen, testUnseen } = a.split;
    const some = [trainval[0], testSeen[0], testUnseen[0]];
    let read: string;
    if (a.features && b.features) {
      const fa = await a.features.read(some);
      if (fa.rows !== some.length || fa.cols !== a.features.dim) {
        const got = `${fa.rows}×${fa.cols} for ${some.length} samples (expected ${some.length}×${a.features.dim})`;
        throw new ContractError(`${plugin}: features.read gave ${got}`);
      }
      if (!fa.data.every(Number.isFinite)) throw new ContractError(`${plugin}: features.read gave non-finite values`);
      sameOutputs(plugin, 'precomputed features of two loads', fa.data, (await b.features.read(some)).data);
      read = `${a.features.dim}-d features`;
    } else {
      const pa = await readPixels(a, some);
      if (pa.some((v) => !(v >= 0 && v <= 255))) {
        throw new ContractError(`${plugin}: readImages gave pixels outside [0, 255]`);
      }
      sameOutputs(plugin, 'pixels of two loads', pa, await readPixels(b, some));
      read = 'images';
    }
    const s = a.split;
    const images = `${s.trainval.length}/${s.testSeen.length}/${s.testUnseen.length} images`;
    return { plugin, summary: `${a.classes.length} classes (${s.seen.length}/${s.unseen.length}), ${images}, ${read}` };
  });
}

/** A knowledge encoder: its embedding of the test dataset passes the gate; two encoders agree. */
export async function checkKnowledge(bench: ContractBench, spec: PluginSpec<'knowledge'>): Promise<CheckReport> {
  const plugin = label(spec);
  const dataset = await testDataset(bench, spec);
  const dir = bench.scratch(spec.name);
  return tensorsFlat(plugin, async () => {
    const encode = async (): Promise<ClassEmbedding> => {
      const encoder = (await instance(bench, spec, dir, dataset)) as KnowledgeEncoder;
      return encoder.encode(dataset);
    };
    const a = await encode();
    checkContract(plugin, knowledgeViolation(a, dataset));
    sameOutputs(plugin, 'embeddings of two encoders', a.matrix.data, (await encode()).matrix.data);
    return { plugin, summary: `${a.matrix.rows}×${a.matrix.cols} on dataset '${dataset.name}'` };
  });
}

/** A few trainval images per seen class for training, one more per class for validation. */
function tinyTraining(ds: Dataset): { train: number[]; val: number[] } {
  const byClass = new Map<number, number[]>();
  for (const i of ds.split.trainval) {
    const c = ds.samples[i].classIndex;
    byClass.set(c, [...(byClass.get(c) ?? []), i]);
  }
  const train: number[] = [];
  const val: number[] = [];
  for (const c of [...byClass.keys()].sort((x, y) => x - y)) {
    const items = byClass.get(c)!;
    train.push(...items.slice(0, Math.max(1, Math.min(3, items.length - 1))));
    if (items.length > 1) val.push(items[items.length - 1]);
  }
  return { train, val };
}

interface Extracted {
  readonly tap: Float32Array;
  readonly features: Float32Array;
}

async function extractAll(plugin: string, b: Backbone, ds: Dataset, indices: readonly number[]): Promise<Extracted> {
  const [h, w, k] = b.tap.shape;
  const tap = new Float32Array(indices.length * h * w * k);
  const features = new Float32Array(indices.length * b.penultimateDim);
  let n = 0;
  for await (const batch of checkedBatches(plugin, b, b.extract(ds, indices, 4), indices)) {
    tap.set(batch.tap, n * h * w * k);
    features.set(batch.features, n * b.penultimateDim);
    n += batch.indices.length;
  }
  return { tap, features };
}

/** A backbone trained with the seed of its run context on a few images, then its outputs on a few others. */
async function trained(
  bench: ContractBench,
  spec: PluginSpec<'backbone'>,
  ds: Dataset,
  dir: string,
): Promise<Backbone> {
  const plugin = label(spec);
  const b = (await instance(bench, spec, dir, ds)) as Backbone & { ensureWeights?: () => Promise<void> };
  await b.ensureWeights?.();
  const { train, val } = tinyTraining(ds);
  const report = await b.trainSeen({ dataset: ds, seenClasses: ds.split.seen, trainIndices: train, valIndices: val });
  for (const [k, v] of Object.entries(report)) {
    if (!Number.isFinite(v)) {
      throw new ContractError(`${plugin}: trainSeen reported ${k} = ${v} (expected a finite number)`);
    }
  }
  checkContract(plugin, backboneViolation(b) ?? headViolation(b));
  const sc = b.seenClassifier();
  const nSeen = ds.split.seen.length;
  if (sc.weights.rows !== b.penultimateDim || sc.weights.cols !== nSeen || sc.bias.length !== sc.weights.cols) {
    throw new ContractError(
      `${plugin}: seenClassifier() is ${sc.weights.rows}×${sc.weights.cols} (+${sc.bias.length} biases); ` +
        `expected ${b.penultimateDim}×${ds.split.seen.length} (penultimateDim × seen classes)`,
    );
  }
  return b;
}

/**
 * A backbone: declared shapes, training, head and seen classifier pass the gate; `extract` gives declared
 * shapes; the same seed trains the same network; save → load gives the same outputs; no tensor leaks.
 */
export async function checkBackbone(bench: ContractBench, spec: PluginSpec<'backbone'>): Promise<CheckReport> {
  const plugin = label(spec);
  const ds = await testDataset(bench, spec);
  const dir = bench.scratch(spec.name);
  const probe = [...ds.split.testSeen.slice(0, 2), ...ds.split.testUnseen.slice(0, 3)];
  return tensorsFlat(plugin, async () => {
    const a = await trained(bench, spec, ds, dir);
    const b = await trained(bench, spec, ds, dir);
    const c = (await instance(bench, spec, dir, ds)) as Backbone;
    try {
      const outA = await extractAll(plugin, a, ds, probe);
      const outB = await extractAll(plugin, b, ds, probe);
      sameOutputs(plugin, 'features of two networks trained with the same seed', outA.features, outB.features);
      sameOutputs(plugin, 'tap activations of two networks trained with the same seed', outA.tap, outB.tap);
      const saved = path.join(dir, 'saved');
      mkdirSync(saved, { recursive: true });
      await a.save(saved);
      if (!(await c.load(saved))) throw new ContractError(`${plugin}: load() found nothing in the folder save() wrote`);
      const outC = await extractAll(plugin, c, ds, probe);
      sameOutputs(plugin, 'features after save → load', outA.features, outC.features);
      const tap = `tap '${a.tap.name}' [${a.tap.shape.join(', ')}]`;
      return { plugin, summary: `${tap}, ${a.penultimateDim}-d features on '${ds.name}'` };
    } finally {
      for (const x of [a, b, c]) x.dispose();
    }
  });
}

/** Activations of a split through a trained backbone, in memory. */
async function activations(
  plugin: string,
  b: Backbone,
  ds: Dataset,
  indices: readonly number[],
  withTap: boolean,
): Promise<Activations> {
  const out = await extractAll(plugin, b, ds, indices);
  return {
    indices,
    labels: Int32Array.from(indices, (i) => ds.samples[i].classIndex),
    ...(withTap ? { tap: memoryTaps(out.tap, b.tap.shape) } : {}),
    features: matrix(indices.length, b.penultimateDim, out.features),
  };
}

interface MethodFixture {
  readonly context: Omit<ZeroShotContext, 'log' | 'metric'>;
  readonly testSeen: Matrix;
  readonly testUnseen: Matrix;
  readonly dispose: () => void;
}

/** The method fixture: the test dataset, `attributes` and a `small-cnn` trained on it (their testOptions). */
function methodFixture(bench: ContractBench, spec: PluginSpec): Promise<MethodFixture> {
  return bench.shared(`method-fixture:${spec.testDataset ?? 'shapes'}`, async () => {
    const ds = await testDataset(bench, spec);
    const dir = bench.scratch('method-fixture');
    const encoder = (await instance(bench, find(bench, 'knowledge', 'attributes'), dir, ds)) as KnowledgeEncoder;
    const knowledge = await encoder.encode(ds);
    const bbSpec = find(bench, 'backbone', 'small-cnn');
    const b = await trained(bench, bbSpec, ds, dir);
    const p = label(bbSpec);
    const context = {
      classNames: ds.classes.map((c) => c.name),
      seen: ds.split.seen,
      unseen: ds.split.unseen,
      knowledge,
      trainval: await activations(p, b, ds, ds.split.trainval, true),
      head: b.head(),
      seenClassifier: b.seenClassifier(),
      seed: 7,
    };
    const testSeen = (await activations(p, b, ds, ds.split.testSeen, false)).features;
    const testUnseen = (await activations(p, b, ds, ds.split.testUnseen, false)).features;
    return { context, testSeen, testUnseen, dispose: () => b.dispose() };
  });
}

/** A method: fit on tiny real activations; scores have the right shape, are finite, and repeat under the seed. */
export async function checkMethod(bench: ContractBench, spec: PluginSpec<'method'>): Promise<CheckReport> {
  const plugin = label(spec);
  const fx = await methodFixture(bench, spec);
  const dir = bench.scratch(spec.name);
  return tensorsFlat(plugin, async () => {
    const fit = async (): Promise<{ seen: Matrix; unseen: Matrix; summary: Record<string, unknown> }> => {
      const m = (await instance(bench, spec, dir)) as ZeroShotMethod;
      const summary = await m.fit({ ...fx.context, log: silentLogger, metric: () => undefined });
      return { seen: m.scores(fx.testSeen), unseen: m.scores(fx.testUnseen), summary };
    };
    const a = await fit();
    const C = fx.context.classNames.length;
    checkContract(plugin, scoresViolation(a.unseen, fx.testUnseen.rows, C, fx.context.unseen));
    checkContract(plugin, scoresViolation(a.seen, fx.testSeen.rows, C, fx.context.unseen));
    const b = await fit();
    sameOutputs(plugin, 'scores of two fits with the same seed', a.unseen.data, b.unseen.data);
    return { plugin, summary: `scores ${a.unseen.rows}×${a.unseen.cols} on test_unseen` };
  });
}

/** A tracker: a run starts, takes params, metrics, tags and text, and ends (and reopens, when it can). */
export async function checkTracker(bench: ContractBench, spec: PluginSpec<'tracker'>): Promise<CheckReport> {
  const plugin = label(spec);
  const dir = bench.scratch(spec.name);
  const tracker = (await instance(bench, spec, dir)) as Tracker;
  const tags = { 'niwt.check': 'contract' };
  const run = await tracker.startRun({ experiment: 'contract-suite', runName: 'check', tags });
  if (typeof run.runId !== 'string' || run.runId === '') {
    throw new ContractError(`${plugin}: startRun gave run id '${run.runId}'`);
  }
  await run.logParams({ a: 1, b: 'two', c: true });
  await run.logMetrics({ loss: 0.5 }, 0);
  await run.logMetrics({ loss: 0.25 }, 1);
  await run.setTags({ stage: 'done' });
  await run.logText('notes/hello.txt', 'hello\n');
  await run.end('FINISHED');
  let reopened = '';
  if (tracker.resumeRun) {
    const again = await tracker.resumeRun(run.runId);
    if (again.runId !== run.runId) {
      throw new ContractError(`${plugin}: resumeRun('${run.runId}') reopened run '${again.runId}'`);
    }
    await again.end('FINISHED');
    reopened = ', reopened';
  }
  return { plugin, summary: `run ${run.runId} at ${run.location}${reopened}` };
}

/** The check of any registered plugin, by its group. */
export function checkPlugin(bench: ContractBench, spec: PluginSpec): Promise<CheckReport> {
  switch (spec.group) {
    case 'dataset':
      return checkDataset(bench, spec as PluginSpec<'dataset'>);
    case 'knowledge':
      return checkKnowledge(bench, spec as PluginSpec<'knowledge'>);
    case 'backbone':
      return checkBackbone(bench, spec as PluginSpec<'backbone'>);
    case 'method':
      return checkMethod(bench, spec as PluginSpec<'method'>);
    case 'tracker':
      return checkTracker(bench, spec as PluginSpec<'tracker'>);
  }
}
