/**
 * runFinder on a file store (the server side runs against a real MLflow server in the runner's
 * sweep-server.spec.ts): queries by tags and status, newest first, last steps, artifact text; a store that is not
 * there finds nothing, and a server that does not answer fails the lookup and is not asked again at once.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileStoreTracker } from './file-store.js';
import { runFinder } from './stored-runs.js';
import { freePort } from './testing/server.js';

let tmp: string;
let root: string;
let clock: number;

beforeEach(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-stored-runs-'));
  root = path.join(tmp, 'mlruns');
  clock = 1_765_000_000_000;
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('runFinder on a file store', () => {
  it('finds runs by tags and status, newest first, with last steps and artifact text', async () => {
    const tracker = new FileStoreTracker(root, { now: () => clock });
    const start = async (name: string, tags: Record<string, string>) => {
      clock += 1000;
      return tracker.startRun({ experiment: 'e', runName: name, tags });
    };
    const a = await start('a', { h: 'x' });
    await a.logMetrics({ loss: 1 }, 3);
    await a.logMetrics({ loss: 0.5 }, 7);
    await a.logText('results/results.json', '{"ok":1}');
    await a.end('FINISHED');
    const b = await start('b', { h: 'x' });
    await b.end('KILLED');
    const c = await start('c', { h: 'y' });
    await (await start('d', { h: 'x' })).end('FINISHED');

    const finder = runFinder({ kind: 'mlflow-file', root });
    const names = async (q: Parameters<typeof finder.runs>[1]): Promise<string[]> =>
      (await finder.runs('e', q)).map((r) => r.runName);
    expect(await names({ tags: { h: 'x' } })).toEqual(['d', 'b', 'a']);
    expect(await names({ tags: { h: 'x' }, status: 'FINISHED' })).toEqual(['d', 'a']);
    expect(await names({ notStatus: 'FINISHED' })).toEqual(['c', 'b']);
    expect(await names({ tags: { h: 'x', other: 'z' } })).toEqual([]);
    const [found] = await finder.runs('e', { tags: { h: 'x' }, status: 'FINISHED' });
    const runA = (await finder.runs('e', { status: 'FINISHED' })).find((r) => r.runName === 'a')!;
    expect([runA.runId, runA.lastSteps, runA.tags.h]).toEqual([a.runId, { loss: 7 }, 'x']);
    expect(await finder.readText(runA, 'results/results.json')).toBe('{"ok":1}');
    expect(await finder.readText(found, 'results/results.json')).toBeUndefined();
    expect(await finder.runs('no-such-experiment')).toEqual([]);
    await c.end('FINISHED');
  });

  it('a store that does not exist yet finds nothing', async () => {
    expect(await runFinder({ kind: 'mlflow-file', root: path.join(tmp, 'none') }).runs('e')).toEqual([]);
  });
});

describe('runFinder on a server that does not answer', () => {
  it('fails the lookup, then fails the next one without asking again', async () => {
    const finder = runFinder(
      { kind: 'mlflow-server', uri: `http://127.0.0.1:${await freePort()}` },
      { timeoutMs: 2_000, retryBudgetMs: 200 },
    );
    await expect(finder.runs('e')).rejects.toThrow(/cannot reach/);
    await expect(finder.runs('e')).rejects.toThrow(/did not answer a moment ago/);
  });
});
