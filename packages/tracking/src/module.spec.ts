import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Container } from 'inversify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TOKENS, TrackingError, type PluginSpec, type RunContext, type Tracker } from '@niwt/core';
import { FileStoreTracker, MlflowTracker, mlflowTrackerOptions, readLocalRun, resolveStoreRoot, trackingModule } from './index.js';

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
  const context: RunContext = { seed: 1, baseDir, cacheDir: path.join(baseDir, '.niwt/cache'), runDir: path.join(baseDir, '.niwt/run') };
  container.bind(TOKENS.runContext).toConstantValue(context);
  const spec = container.getAll<PluginSpec>(TOKENS.pluginSpec).find((s) => s.group === 'tracker' && s.name === 'mlflow');
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

  it('fails at construction for a tracking server uri, naming the config value', () => {
    expect(() => construct({ uri: 'http://127.0.0.1:5000' }, tmp)).toThrow(TrackingError);
    expect(() => construct({ uri: 'http://127.0.0.1:5000' }, tmp)).toThrow(
      'tracking.uri = "http://127.0.0.1:5000": the MLflow REST client (tracking servers over http) is not available yet in this version of @niwt/tracking; it will be added later. ' +
        'Meanwhile log to a local store ("file:./mlruns") and browse it with MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri ./mlruns',
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
      /^tracking\.uri = "https:\/\/mlflow\.example\.org": the MLflow REST client \(tracking servers over https\) is not available yet/,
    );
    expect(() => resolveStoreRoot('sqlite:///mlflow.db', '/cfg')).toThrow(
      `tracking.uri = "sqlite:///mlflow.db": unsupported scheme 'sqlite:'; this version writes only MLflow file stores ("file:./mlruns", "file:///abs/mlruns" or a plain path). ` +
        'For a database store, log to a file store and run mlflow migrate-filestore --source ./mlruns --target sqlite:///mlflow.db',
    );
    expect(() => resolveStoreRoot('file://nas/share/mlruns', '/cfg')).toThrow(
      `tracking.uri = "file://nas/share/mlruns": file URIs on another host ('nas') are not supported; for a relative path write "file:./mlruns" (no '//')`,
    );
    expect(() => resolveStoreRoot(' ', '/cfg')).toThrow('tracking.uri = " ": empty tracking URI; use "file:./mlruns"');
  });

  it('FileStoreTracker.fromUri is usable without DI', () => {
    expect(FileStoreTracker.fromUri('file:./mlruns', tmp).root).toBe(path.join(tmp, 'mlruns'));
  });
});
