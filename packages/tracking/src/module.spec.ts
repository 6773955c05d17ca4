import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOKENS, type PluginSpec, type RunContext, type Tracker } from '@niwt/core';
import {
  FileStoreTracker,
  MlflowTracker,
  mlflowTrackerOptions,
  readLocalRun,
  resolveStoreRoot,
  RestTracker,
  trackingModule,
} from './index.js';

let tmp: string;
beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-module-'));
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Constructs a plugin the way the runner's PluginRegistry does: options in a child container. */
function construct(options: Record<string, unknown>, baseDir: string): Tracker {
  const container = new Container();
  container.load(trackingModule);
  const context: RunContext = {
    seed: 1,
    baseDir,
    cacheDir: path.join(baseDir, '.niwt/cache'),
    runDir: path.join(baseDir, '.niwt/run'),
  };
  container.bind(TOKENS.runContext).toConstantValue(context);
  const spec = container
    .getAll<PluginSpec>(TOKENS.pluginSpec)
    .find((s) => s.group === 'tracker' && s.name === 'mlflow');
  if (!spec) throw new Error('tracker:mlflow not registered');
  const child = new Container({ parent: container });
  child.bind(TOKENS.options).toConstantValue(spec.schema.parse(options));
  child.bind(spec.impl).toSelf();
  return child.get(spec.impl) as Tracker;
}

describe('trackingModule', () => {
  it('registers tracker:mlflow with a strict schema defaulting uri to file:./mlruns', () => {
    const container = new Container();
    container.load(trackingModule);
    const specs = container.getAll<PluginSpec>(TOKENS.pluginSpec);
    expect(specs.map((s) => `${s.group}:${s.name}`)).toEqual(['tracker:mlflow']);
    expect(specs[0].impl).toBe(MlflowTracker);
    expect(mlflowTrackerOptions.parse({})).toEqual({ uri: 'file:./mlruns' });
    expect(mlflowTrackerOptions.safeParse({ uri: 'file:./x', url: 'typo' }).success).toBe(false);
    expect(mlflowTrackerOptions.safeParse({ uri: '' }).success).toBe(false);
  });

  it('constructs through DI and writes under RunContext.baseDir', async () => {
    const tracker = construct({}, tmp);
    expect(tracker).toBeInstanceOf(MlflowTracker);
    expect((tracker as MlflowTracker).root).toBe(path.join(tmp, 'mlruns'));
    const run = await tracker.startRun({ experiment: 'di' });
    await run.logParams({ a: 1 });
    await run.end('FINISHED');
    expect(run.location.startsWith(path.join(tmp, 'mlruns') + path.sep)).toBe(true);
    expect((await readLocalRun(run.location)).params).toEqual({ a: '1' });
  });

  it('picks the REST tracker for http(s) uris and rejects other schemes naming the config value', () => {
    const t = construct({ uri: 'http://user:pw-secret@127.0.0.1:5000/' }, tmp) as MlflowTracker;
    expect(t.store).toBeInstanceOf(RestTracker);
    expect(t.root).toBe('http://127.0.0.1:5000');
    expect(t.redactor.text('x pw-secret y')).toBe('x *** y');
    expect((t.store as RestTracker).spoolDir).toBe(path.join(tmp, '.niwt/spool'));
    expect(() => construct({ uri: 'databricks://profile' }, tmp)).toThrow(
      `tracking.uri = "databricks://profile": 'databricks:' tracking is not supported; use an MLflow ` +
        `server's http(s):// URI or a file store ("file:./mlruns")`,
    );
  });

  it('says where its runs live through the Tracker contract (runStore), for the runner to search', () => {
    expect(construct({}, tmp).runStore?.()).toEqual({ kind: 'mlflow-file', root: path.join(tmp, 'mlruns') });
    expect(construct({ uri: 'file:///abs/store' }, tmp).runStore?.()).toEqual({
      kind: 'mlflow-file',
      root: '/abs/store',
    });
    const uri = 'http://user:pw@127.0.0.1:5000/';
    expect(construct({ uri }, tmp).runStore?.()).toEqual({ kind: 'mlflow-server', uri });
  });

  it('redacts secret config keys in the file store too', async () => {
    const tracker = construct({ secretKeys: ['dataset.auth'] }, tmp);
    const run = await tracker.startRun({ experiment: 'red' });
    await run.logParams({ 'dataset.auth.user': 'alice', 'backbone.apiKey': 'k-123456', lr: 0.1 });
    await run.logText('config/config.yaml', 'backbone:\n  apiKey: k-123456\n');
    await run.end('FINISHED');
    const back = await readLocalRun(run.location);
    expect(back.params).toEqual({ 'dataset.auth.user': '***', 'backbone.apiKey': '***', lr: '0.1' });
    expect(await fs.readFile(path.join(run.location, 'artifacts/config/config.yaml'), 'utf8')).toBe(
      'backbone:\n  apiKey: ***\n',
    );
  });
});

describe('resolveStoreRoot', () => {
  it.each([
    ['file:./mlruns', '/cfg/mlruns'],
    ['file:mlruns', '/cfg/mlruns'],
    ['file:../runs/my%20store', '/runs/my store'],
    ['file:///abs/mlruns', '/abs/mlruns'],
    ['file:/abs/mlruns', '/abs/mlruns'],
    ['file://localhost/abs/mlruns', '/abs/mlruns'],
    ['./mlruns', '/cfg/mlruns'],
    ['out/mlruns', '/cfg/out/mlruns'],
    ['/abs/mlruns', '/abs/mlruns'],
  ])('%s → %s', (uri, expected) => {
    expect(resolveStoreRoot(uri, '/cfg')).toBe(expected);
  });

  it('names the value for every unsupported uri', () => {
    expect(() => resolveStoreRoot('https://mlflow.example.org', '/cfg')).toThrow(
      'tracking.uri = "https://mlflow.example.org": this is a tracking server, but a local file store is ' +
        'needed here ("file:./mlruns", "file:///abs/mlruns" or a plain path)',
    );
    expect(() => resolveStoreRoot('sqlite:///mlflow.db', '/cfg')).toThrow(
      `tracking.uri = "sqlite:///mlflow.db": unsupported scheme 'sqlite:'; use an MLflow file store ` +
        `("file:./mlruns", "file:///abs/mlruns" or a plain path) or a tracking server (http://host:port). ` +
        ('For a database store, log to a file store and run mlflow migrate-filestore --source ./mlruns ' +
          '--target sqlite:///mlflow.db'),
    );
    expect(() => resolveStoreRoot('file://nas/share/mlruns', '/cfg')).toThrow(
      `tracking.uri = "file://nas/share/mlruns": file URIs on another host ('nas') are not supported; for a ` +
        `relative path write "file:./mlruns" (no '//')`,
    );
    expect(() => resolveStoreRoot(' ', '/cfg')).toThrow('tracking.uri = " ": empty tracking URI; use "file:./mlruns"');
  });

  it('FileStoreTracker.fromUri is usable without DI', () => {
    expect(FileStoreTracker.fromUri('file:./mlruns', tmp).root).toBe(path.join(tmp, 'mlruns'));
  });
});
