import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { TrackingError } from '@niwt/core';
import { FileStoreTracker, formatMetricLine } from './file-store.js';
import { findLocalRun, listLocalExperiments, listLocalRuns, parseMetricLines, readLocalRun } from './read.js';
import { experimentIdFor } from './store.js';

let root: string;
let tmp: string;
let clock: number;
const tracker = (): FileStoreTracker =>
  new FileStoreTracker(root, { user: 'alice', sourceName: '/repo/apps/runner/main.js', now: () => clock });

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-tracking-'));
  root = path.join(tmp, 'mlruns');
  clock = 1_765_034_524_370;
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const readYaml = async (f: string): Promise<Record<string, unknown>> =>
  YAML.parse(await fs.readFile(f, 'utf8'), { version: '1.1' }) as Record<string, unknown>;

describe('FileStoreTracker layout', () => {
  it('creates .trash, the Default experiment 0 and an experiment with an 18-digit quoted id', async () => {
    const run = await tracker().startRun({ experiment: 'awa2-niwt', runName: 'knn' });
    expect((await fs.stat(path.join(root, '.trash'))).isDirectory()).toBe(true);
    const defaultText = await fs.readFile(path.join(root, '0', 'meta.yaml'), 'utf8');
    expect(defaultText).toContain("experiment_id: '0'\n");
    expect(await readYaml(path.join(root, '0', 'meta.yaml'))).toMatchObject({
      name: 'Default',
      experiment_id: '0',
      lifecycle_stage: 'active',
    });

    expect(run.experimentId).toMatch(/^[1-9]\d{17}$/);
    const expDir = path.join(root, run.experimentId);
    const expText = await fs.readFile(path.join(expDir, 'meta.yaml'), 'utf8');
    expect(expText).toContain(`experiment_id: '${run.experimentId}'\n`);
    const exp = await readYaml(path.join(expDir, 'meta.yaml'));
    expect(Object.keys(exp)).toEqual([
      'artifact_location',
      'creation_time',
      'experiment_id',
      'last_update_time',
      'lifecycle_stage',
      'name',
    ]);
    expect(exp).toEqual({
      artifact_location: pathToFileURL(expDir).href,
      creation_time: expect.any(Number),
      experiment_id: run.experimentId,
      last_update_time: expect.any(Number),
      lifecycle_stage: 'active',
      name: 'awa2-niwt',
    });
  });

  it('reuses an experiment by name, including one MLflow created with another id', async () => {
    const a = await tracker().startRun({ experiment: 'e1' });
    const b = await tracker().startRun({ experiment: 'e1' });
    expect(b.experimentId).toBe(a.experimentId);
    // An experiment made by MLflow itself (random id) is found by scanning */meta.yaml.
    await fs.mkdir(path.join(root, '424242424242424242'));
    await fs.writeFile(
      path.join(root, '424242424242424242', 'meta.yaml'),
      'artifact_location: file:///x\ncreation_time: 1\nexperiment_id: ' +
        "'424242424242424242'\nlast_update_time: 1\nlifecycle_stage: active\nname: from-python\n",
    );
    const c = await tracker().startRun({ experiment: 'from-python' });
    expect(c.experimentId).toBe('424242424242424242');
    expect((await listLocalExperiments(root)).map((e) => e.name).sort()).toEqual(['Default', 'e1', 'from-python']);
  });

  it('creates the same experiment once when two trackers race', async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => tracker().startRun({ experiment: 'race' })));
    expect(new Set(runs.map((r) => r.experimentId)).size).toBe(1);
    expect(runs[0].experimentId).toBe(experimentIdFor('race', 0));
    expect((await listLocalRuns(root, { experiment: 'race' })).length).toBe(4);
  });

  it('refuses an experiment name that exists in deleted state, like MLflow', async () => {
    const run = await tracker().startRun({ experiment: 'gone' });
    const meta = (await fs.readFile(path.join(root, run.experimentId, 'meta.yaml'), 'utf8')).replace(
      'lifecycle_stage: active',
      'lifecycle_stage: deleted',
    );
    await fs.writeFile(path.join(root, run.experimentId, 'meta.yaml'), meta);
    await fs.rename(path.join(root, run.experimentId), path.join(root, '.trash', run.experimentId));
    const e = await rejection(tracker().startRun({ experiment: 'gone' }));
    expect(e).toBeInstanceOf(TrackingError);
    expect(e.message).toBe(
      `experiment "gone" already exists in deleted state (${path.join(root, '.trash', run.experimentId)}); ` +
        `restore it in the MLflow UI ` +
        (`(mlflow experiments restore --experiment-id ${run.experimentId}), or permanently delete it with ` +
          `mlflow gc, or choose another experiment name`),
    );
  });

  it('writes every run meta.yaml field, and the system tags', async () => {
    const run = await tracker().startRun({
      experiment: 'awa2-niwt',
      runName: 'knn_0741c92a',
      tags: { 'mlflow.source.git.commit': 'abc123', 'niwt.config_hash': 'h1' },
    });
    expect(run.runId).toMatch(/^[0-9a-f]{32}$/);
    expect(run.location).toBe(path.join(root, run.experimentId, run.runId));
    const text = await fs.readFile(path.join(run.location, 'meta.yaml'), 'utf8');
    const meta = YAML.parse(text, { version: '1.1' }) as Record<string, unknown>;
    expect(Object.keys(meta)).toEqual([
      'artifact_uri',
      'deleted_time',
      'end_time',
      'entry_point_name',
      'experiment_id',
      'lifecycle_stage',
      'run_id',
      'run_name',
      'run_uuid',
      'source_name',
      'source_type',
      'source_version',
      'start_time',
      'status',
      'tags',
      'user_id',
    ]);
    expect(meta).toEqual({
      artifact_uri: `${pathToFileURL(run.location).href}/artifacts`,
      deleted_time: null,
      end_time: null,
      entry_point_name: '',
      experiment_id: run.experimentId,
      lifecycle_stage: 'active',
      run_id: run.runId,
      run_name: 'knn_0741c92a',
      run_uuid: run.runId,
      source_name: '',
      source_type: 4,
      source_version: '',
      start_time: 1_765_034_524_370,
      status: 1,
      tags: [],
      user_id: 'alice',
    });
    expect(text).toContain(`experiment_id: '${run.experimentId}'\n`);
    expect(text).toContain('tags: []\n');
    for (const sub of ['metrics', 'params', 'artifacts', 'tags'])
      expect((await fs.stat(path.join(run.location, sub))).isDirectory()).toBe(true);
    const tag = (k: string): Promise<string> => fs.readFile(path.join(run.location, 'tags', k), 'utf8');
    expect(await tag('mlflow.runName')).toBe('knn_0741c92a');
    expect(await tag('mlflow.user')).toBe('alice');
    expect(await tag('mlflow.source.type')).toBe('LOCAL');
    expect(await tag('mlflow.source.name')).toBe('/repo/apps/runner/main.js');
    expect(await tag('mlflow.source.git.commit')).toBe('abc123');
    expect(await tag('niwt.config_hash')).toBe('h1');
    // No leftovers of the staging folder or temp files.
    expect((await fs.readdir(path.join(root, run.experimentId))).sort()).toEqual([run.runId, 'meta.yaml'].sort());
    expect((await fs.readdir(run.location)).sort()).toEqual(['artifacts', 'meta.yaml', 'metrics', 'params', 'tags']);
  });

  it('defaults the run name and takes the user from the OS', async () => {
    const run = await new FileStoreTracker(root).startRun({ experiment: 'x' });
    const meta = await readYaml(path.join(run.location, 'meta.yaml'));
    expect(meta.run_name).toBe(`run-${run.runId.slice(0, 8)}`);
    expect(meta.user_id).toBe(os.userInfo().username);
  });

  it('end() rewrites status and end_time', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    clock += 5000;
    await run.end('FINISHED');
    let meta = await readYaml(path.join(run.location, 'meta.yaml'));
    expect(meta).toMatchObject({
      status: 3,
      end_time: 1_765_034_529_370,
      start_time: 1_765_034_524_370,
      run_id: run.runId,
    });
    await run.end('FAILED');
    meta = await readYaml(path.join(run.location, 'meta.yaml'));
    expect(meta.status).toBe(4);
    await run.end('KILLED');
    expect((await readLocalRun(run.location)).status).toBe('KILLED');
    expect((await rejection(run.end('RUNNING' as 'FINISHED'))).message).toBe(
      'end: status must be FINISHED, FAILED or KILLED, got "RUNNING"',
    );
  });

  it('resumeRun() reopens a killed run under the same id: RUNNING, end_time null, logs kept and appended', async () => {
    const first = await tracker().startRun({ experiment: 'x', runName: 'r' });
    await first.logParams({ lr: 0.1 });
    await first.logMetrics({ loss: 2 }, 1);
    clock += 1000;
    await first.end('KILLED');
    clock += 1000;
    const again = await tracker().resumeRun(first.runId);
    expect(again.runId).toBe(first.runId);
    expect(again.location).toBe(first.location);
    let meta = await readYaml(path.join(first.location, 'meta.yaml'));
    expect(meta).toMatchObject({ status: 1, end_time: null, start_time: 1_765_034_524_370, run_name: 'r' });
    await again.logParams({ lr: 0.1 }); // the same value again is allowed
    await again.logMetrics({ loss: 1 }, 2);
    clock += 1000;
    await again.end('FINISHED');
    meta = await readYaml(path.join(first.location, 'meta.yaml'));
    expect(meta).toMatchObject({ status: 3, end_time: 1_765_034_527_370 });
    const read = await readLocalRun(first.location);
    expect(read.metrics.loss.map((p) => [p.step, p.value])).toEqual([
      [1, 2],
      [2, 1],
    ]);
    expect((await rejection(tracker().resumeRun('0'.repeat(32)))).message).toMatch(
      /^resumeRun: run 0{32} not found in /,
    );
  });
});

describe('params, metrics, tags, artifacts', () => {
  it('writes params without a trailing newline, nested keys as folders', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.logParams({
      lr: 0.01,
      seed: 7,
      normalize: true,
      'optimizer/name': 'adam',
      'backbone.tap': 'conv4 block',
    });
    expect(await fs.readFile(path.join(run.location, 'params', 'lr'), 'utf8')).toBe('0.01');
    expect(await fs.readFile(path.join(run.location, 'params', 'seed'), 'utf8')).toBe('7');
    expect(await fs.readFile(path.join(run.location, 'params', 'normalize'), 'utf8')).toBe('true');
    expect(await fs.readFile(path.join(run.location, 'params', 'optimizer', 'name'), 'utf8')).toBe('adam');
    expect((await readLocalRun(run.location)).params).toEqual({
      lr: '0.01',
      seed: '7',
      normalize: 'true',
      'optimizer/name': 'adam',
      'backbone.tap': 'conv4 block',
    });
  });

  it('same param value again is a no-op; a different value is an error like MLflow', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.logParams({ lr: 0.01 });
    await run.logParams({ lr: 0.01 });
    const e = await rejection(run.logParams({ seed: 1, lr: 0.02 }));
    expect(e).toBeInstanceOf(TrackingError);
    expect(e.message).toBe(
      `Changing param values is not allowed. Param with key="lr" was already logged with value="0.01" for ` +
        `run ID="${run.runId}". ` +
        'Attempted logging new value "0.02". Log it as a metric or tag, or start a new run.',
    );
    // The batch was refused as a whole.
    expect((await readLocalRun(run.location)).params).toEqual({ lr: '0.01' });
    // The run keeps working after a rejected call.
    await run.logParams({ seed: 1 });
    expect((await readLocalRun(run.location)).params).toEqual({ lr: '0.01', seed: '1' });
  });

  it('appends metric lines "<ts> <value> <step>" with integer steps, nested keys and non-finite values', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.logMetrics({ 'train/loss': 0.5, acc: 0.25 }, 0);
    clock += 1;
    await run.logMetrics({ 'train/loss': 0.125, acc: NaN }, 1);
    clock += 1;
    await run.logMetrics({ acc: Infinity });
    await run.logMetrics({ acc: -Infinity, big: 1e21, tiny: 5e-7 }, 3);
    expect(await fs.readFile(path.join(run.location, 'metrics', 'train', 'loss'), 'utf8')).toBe(
      '1765034524370 0.5 0\n1765034524371 0.125 1\n',
    );
    expect(await fs.readFile(path.join(run.location, 'metrics', 'acc'), 'utf8')).toBe(
      '1765034524370 0.25 0\n1765034524371 nan 1\n1765034524372 inf 0\n1765034524372 -inf 3\n',
    );
    expect(await fs.readFile(path.join(run.location, 'metrics', 'big'), 'utf8')).toBe('1765034524372 1e+21 3\n');
    const back = await readLocalRun(run.location);
    expect(back.metrics['train/loss']).toEqual([
      { timestamp: 1765034524370, value: 0.5, step: 0 },
      { timestamp: 1765034524371, value: 0.125, step: 1 },
    ]);
    expect(back.metrics.acc.map((p) => p.value)).toEqual([0.25, NaN, Infinity, -Infinity]);
    expect(back.metrics.tiny[0].value).toBe(5e-7);
  });

  it('keeps metric lines in call order when calls are not awaited', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    const pending = Array.from({ length: 50 }, (_, i) => run.logMetrics({ loss: 1 / (i + 1) }, i));
    await Promise.all(pending);
    await run.end('FINISHED');
    expect((await readLocalRun(run.location)).metrics.loss.map((p) => p.step)).toEqual(
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  it('rejects a non-integer step and a non-number value', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    expect((await rejection(run.logMetrics({ loss: 1 }, 1.5))).message).toBe(
      'metric "loss": step must be an integer, got 1.5',
    );
    expect((await rejection(run.logMetrics({ loss: '1' as unknown as number }))).message).toBe(
      'metric "loss": value must be a number (a 64-bit float), got string',
    );
  });

  it('tags overwrite; artifacts are copied and text is written under artifacts/', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.setTags({ 'niwt.stage': 'train' });
    await run.setTags({ 'niwt.stage': 'eval' });
    expect(await fs.readFile(path.join(run.location, 'tags', 'niwt.stage'), 'utf8')).toBe('eval');
    const src = path.join(tmp, 'report.json');
    await fs.writeFile(src, '{"h": 0.5}');
    await run.logArtifact(src);
    await run.logArtifact(src, 'reports/final');
    await run.logText('explanations/class_3.txt', 'striped, four legs');
    const dir = path.join(tmp, 'plots');
    await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
    await fs.writeFile(path.join(dir, 'sub', 'a.txt'), 'a');
    await run.logArtifact(dir, 'plots');
    expect((await readLocalRun(run.location)).artifacts).toEqual([
      'explanations/class_3.txt',
      'plots/sub/a.txt',
      'report.json',
      'reports/final/report.json',
    ]);
    expect(await fs.readFile(path.join(run.location, 'artifacts', 'reports', 'final', 'report.json'), 'utf8')).toBe(
      '{"h": 0.5}',
    );
    expect((await rejection(run.logText('../escape.txt', 'x'))).message).toBe(
      `invalid artifact path "../escape.txt": it must stay inside the run's artifacts folder (no '..')`,
    );
    expect((await rejection(run.logArtifact(src, '/abs'))).message).toBe(
      `invalid artifact path "/abs": it must be relative to the run's artifacts folder`,
    );
    const missing = await rejection(run.logArtifact(path.join(tmp, 'nope.bin')));
    expect(missing).toBeInstanceOf(TrackingError);
    expect(missing.message).toBe(
      `logArtifact: cannot read ${path.join(tmp, 'nope.bin')} (ENOENT); check that the file was written`,
    );
  });

  it('names the colliding key when "a" and "a/b" both are logged', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.logMetrics({ loss: 1 });
    const e = await rejection(run.logMetrics({ 'loss/train': 1 }));
    expect(e).toBeInstanceOf(TrackingError);
    expect(e.message).toBe(
      `cannot write metric "loss/train" to ${path.join(run.location, 'metrics', 'loss', 'train')}: keys with ` +
        `'/' become folders, and this key collides with another metric ` +
        '(one is a prefix folder of the other, like "loss" and "loss/train"); rename one of them',
    );
    await run.logParams({ 'opt/lr': 1 });
    expect((await rejection(run.logParams({ opt: 2 }))).message).toBe(
      `cannot write param "opt" to ${path.join(run.location, 'params', 'opt')}: keys with '/' become ` +
        `folders, and this key collides with another param ` +
        '(one is a prefix folder of the other, like "loss" and "loss/train"); rename one of them',
    );
  });
});

describe('key and value validation (whole messages)', () => {
  const cases: [string, string][] = [
    [
      'acc:seen',
      'invalid param key "acc:seen": names may only contain alphanumerics, underscores (_), dashes (-), ' +
        'periods (.), spaces ( ) and slashes (/)',
    ],
    [
      'a+b',
      'invalid param key "a+b": names may only contain alphanumerics, underscores (_), dashes (-), periods ' +
        '(.), spaces ( ) and slashes (/)',
    ],
    [
      '../x',
      `invalid param key "../x": keys become file paths and must not resolve to another name (this one ` +
        `resolves to "../x"); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    ],
    [
      '/abs',
      `invalid param key "/abs": keys become file paths and must not resolve to another name (this one ` +
        `resolves to "/abs"); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    ],
    [
      'a//b',
      `invalid param key "a//b": keys become file paths and must not resolve to another name (this one ` +
        `resolves to "a/b"); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    ],
    [
      'a/./b',
      `invalid param key "a/./b": keys become file paths and must not resolve to another name (this one ` +
        `resolves to "a/b"); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    ],
    [
      'a/',
      `invalid param key "a/": keys become file paths and must not resolve to another name (this one ` +
        `resolves to "a"); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    ],
    [
      '',
      `invalid param key "": keys become file paths and must not resolve to another name (this one resolves ` +
        `to "."); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    ],
    [
      'k'.repeat(251),
      `invalid param key "${'k'.repeat(251)}": it is 251 characters long, MLflow allows at most 250; shorten ` +
        `it (keys are never truncated)`,
    ],
  ];
  it.each(cases)('param key %j', async (key, message) => {
    const run = await tracker().startRun({ experiment: 'x' });
    const e = await rejection(run.logParams({ ok: 1, [key]: 1 }));
    expect(e).toBeInstanceOf(TrackingError);
    expect(e.message).toBe(message);
    expect((await readLocalRun(run.location)).params).toEqual({});
  });

  it('accepts 250-character and Unicode keys', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.logParams({ ['k'.repeat(250)]: 1, 'größe µ': 2 });
    expect(Object.keys((await readLocalRun(run.location)).params).sort()).toEqual(['größe µ', 'k'.repeat(250)]);
  });

  it('metric and tag keys are checked the same way', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    expect((await rejection(run.logMetrics({ 'acc@1': 1 }))).message).toBe(
      'invalid metric key "acc@1": names may only contain alphanumerics, underscores (_), dashes (-), ' +
        'periods (.), spaces ( ) and slashes (/)',
    );
    expect((await rejection(run.setTags({ 'a\nb': 'x' }))).message).toBe(
      'invalid tag key "a\\nb": names may only contain alphanumerics, underscores (_), dashes (-), periods ' +
        '(.), spaces ( ) and slashes (/)',
    );
    expect((await rejection(tracker().startRun({ experiment: 'x', tags: { '..': 'x' } }))).message).toBe(
      `invalid tag key "..": keys become file paths and must not resolve to another name (this one resolves ` +
        `to ".."); avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    );
  });

  it('param values up to 6000 and tag values up to 5000 characters, never truncated', async () => {
    const run = await tracker().startRun({ experiment: 'x' });
    await run.logParams({ long: 'p'.repeat(6000) });
    await run.setTags({ long: 't'.repeat(5000) });
    expect((await rejection(run.logParams({ longer: 'p'.repeat(6001) }))).message).toBe(
      'param "longer": value is 6001 characters long, MLflow allows at most 6000 (values are never ' +
        'truncated); log it as a text artifact with logText instead',
    );
    expect((await rejection(run.setTags({ longer: 't'.repeat(5001) }))).message).toBe(
      'tag "longer": value is 5001 characters long, MLflow allows at most 5000 (values are never truncated); ' +
        'log it as a text artifact with logText instead',
    );
    const back = await readLocalRun(run.location);
    expect(back.params.long.length).toBe(6000);
    expect(back.params.longer).toBeUndefined();
  });

  it('experiment names: non-empty, at most 500 characters', async () => {
    expect((await rejection(tracker().startRun({ experiment: '' }))).message).toBe(
      'invalid experiment name "": it must be a non-empty string',
    );
    expect((await rejection(tracker().startRun({ experiment: 'e'.repeat(501) }))).message).toBe(
      `invalid experiment name "${'e'.repeat(60)}"…: it is 501 characters long, MLflow allows at most 500`,
    );
  });
});

describe('nested runs', () => {
  it('tags the child with mlflow.parentRunId', async () => {
    const t = tracker();
    const parent = await t.startRun({ experiment: 'sweep', runName: 'parent' });
    const child = await t.startRun({ experiment: 'sweep', runName: 'fold-1', parentRunId: parent.runId });
    expect(await fs.readFile(path.join(child.location, 'tags', 'mlflow.parentRunId'), 'utf8')).toBe(parent.runId);
    expect((await findLocalRun(root, child.runId))?.tags['mlflow.parentRunId']).toBe(parent.runId);
    expect((await readLocalRun(parent.location)).tags['mlflow.parentRunId']).toBeUndefined();
  });

  it('refuses an unknown or malformed parent', async () => {
    const t = tracker();
    await t.startRun({ experiment: 'sweep' });
    const unknown = 'f'.repeat(32);
    expect((await rejection(t.startRun({ experiment: 'sweep', parentRunId: unknown }))).message).toBe(
      `startRun: parent run ${unknown} not found in ${root}; start the parent with the same tracking.uri first`,
    );
    expect((await rejection(t.startRun({ experiment: 'sweep', parentRunId: '../0' }))).message).toBe(
      'invalid parentRunId "../0": run ids are 32 hex characters (MLflow accepts [A-Za-z0-9][\\w-]{0,255})',
    );
  });

  it('refuses runName and a different mlflow.runName tag', async () => {
    expect(
      (await rejection(tracker().startRun({ experiment: 'x', runName: 'a', tags: { 'mlflow.runName': 'b' } }))).message,
    ).toBe('startRun: runName "a" and tag mlflow.runName="b" differ; give only one');
  });
});

describe('metric line format', () => {
  it('round-trips through the reader', () => {
    const line = formatMetricLine(1700000000000, -0.1, 12);
    expect(line).toBe('1700000000000 -0.1 12\n');
    expect(parseMetricLines(line + '1700000000001 Infinity\n', 'f')).toEqual([
      { timestamp: 1700000000000, value: -0.1, step: 12 },
      { timestamp: 1700000000001, value: Infinity, step: 0 },
    ]);
    expect(() => parseMetricLines('1 2 3 4\n', '/m/acc')).toThrow(
      '/m/acc:1: malformed metric line "1 2 3 4" (4 fields, expected 2, 3 or 5)',
    );
  });
});
