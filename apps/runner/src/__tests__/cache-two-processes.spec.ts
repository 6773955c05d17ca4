/**
 * Two `niwt run` processes (the built CLI) started together on the same cold config, with both cores saturated
 * by CPU burners: the seen network is trained once — one process computes it, the other waits for its lock and
 * reads it — asserted from the cache log; both runs report identical metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CacheEvent } from '@niwt/core';
import { generateShapes } from '@niwt/datasets';
import { REPO, tempDir } from './helpers.js';

const MAIN = path.join(REPO, 'apps/runner/dist/main.js');

const CONFIG = `experiment: two-processes
seed: 6
dataset: { name: folder, root: data/shapes }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 8, patience: 8 } }
methods: [{ name: niwt, map: { epochs: 30 }, maxSteps: 30 }]
explain: { enabled: false }
`;

const burners: ChildProcess[] = [];
afterAll(() => {
  for (const b of burners) b.kill('SIGKILL');
});

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

function cli(args: string[], cwd: string): Promise<Done> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, CI: 'true' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr, pid: child.pid! }));
  });
}

describe('one computation per cache entry', () => {
  it('two processes on one cold config train the network once; the other waits and reports it cached', async () => {
    const dir = tempDir('two-procs');
    const shapes = { seed: 5, imageSize: 16, imagesPerClass: 24, seenClasses: 6, unseenClasses: 3 };
    await generateShapes(shapes, path.join(dir, 'data/shapes'));
    writeFileSync(path.join(dir, 'c.yaml'), CONFIG);
    for (let i = 0; i < 2; i++) burners.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    // separate MLflow stores, so the only shared state is the cache
    const [a, b] = await Promise.all(
      ['a', 'b'].map((t) => cli(['run', 'c.yaml', '--json', '--set', `tracking.uri=file:./mlruns-${t}`], dir)),
    );
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);

    const log = readFileSync(path.join(dir, '.niwt/cache/cache-log.jsonl'), 'utf8')
      .split('\n')
      .filter((l) => l)
      .map((l) => JSON.parse(l) as CacheEvent);
    const net = log.filter((e) => e.stage === 'seen-network');
    const computed = net.filter((e) => e.event === 'computed');
    expect(computed).toHaveLength(1);
    const [owner, waiter] = computed[0].pid === a.pid ? [a, b] : [b, a];
    expect(net.filter((e) => e.pid === owner.pid).map((e) => e.event)).toEqual(['miss', 'computed']);
    expect(net.filter((e) => e.pid === waiter.pid).map((e) => e.event)).toEqual(['miss', 'waited']);
    expect(net.find((e) => e.event === 'waited')!.owner!.pid).toBe(owner.pid);
    // every other entry is computed once as well (the waiter may also find it finished: a plain hit)
    for (const stage of ['activations', 'importances']) {
      expect(
        log.filter((e) => e.stage === stage && e.event === 'computed'),
        stage,
      ).toHaveLength(1);
    }
    expect(log.filter((e) => e.event === 'failed' || e.event === 'stale-lock')).toEqual([]);

    interface Out {
      seenNetwork: { cached: boolean; testSeenAccuracy: number };
      methods: { s: number; u: number; H: number; zslT1: number }[];
    }
    const [ro, rw] = [JSON.parse(owner.stdout) as Out, JSON.parse(waiter.stdout) as Out];
    expect(ro.seenNetwork.cached).toBe(false);
    expect(rw.seenNetwork.cached).toBe(true);
    expect(rw.seenNetwork.testSeenAccuracy).toBe(ro.seenNetwork.testSeenAccuracy);
    expect(rw.methods.map((m) => [m.s, m.u, m.H, m.zslT1])).toEqual(ro.methods.map((m) => [m.s, m.u, m.H, m.zslT1]));
  }, 600_000);
});
