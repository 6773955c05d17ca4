/**
 * RunLifecycle in process, against a real file store: what a signal, a second signal and an uncaught error
 * do to the open runs, the process's temporaries and the message (the kill matrix covers the real CLI).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { temporaryFor } from '@niwt/core';
import { FileStoreTracker, readLocalRun } from '@niwt/tracking';
import { RunLifecycle, shellQuote } from '../lifecycle.js';
import { tempDir } from './helpers.js';

function harness(): { life: RunLifecycle; err: string[]; exits: number[] } {
  const err: string[] = [];
  const exits: number[] = [];
  const life = new RunLifecycle({ stderr: (s) => void err.push(s), exit: (c) => void exits.push(c) });
  life.resumeCommand = 'niwt run k.yaml --set seed=3 --resume';
  return { life, err, exits };
}

describe('RunLifecycle', () => {
  it(
    'SIGTERM ends open runs KILLED with the stage and reason, removes temporaries, prints one line, exits ' + '143',
    async () => {
      const dir = tempDir('life');
      const tracker = new FileStoreTracker(path.join(dir, 'mlruns'));
      const { life, err, exits } = harness();
      const parent = life.opened(await tracker.startRun({ experiment: 'e' }));
      const child = life.opened(await tracker.startRun({ experiment: 'e', parentRunId: parent.runId }));
      const done = life.opened(await tracker.startRun({ experiment: 'e', parentRunId: parent.runId }));
      await done.end('FINISHED'); // closed runs are left alone
      life
        .trackStages({
          info: () => undefined,
          warn: () => undefined,
          progress: () => ({ tick: () => undefined, done: () => undefined }),
          stage: () => ({ end: () => 0 }),
        })
        .stage('niwt D: importance → weights');
      const tmp = temporaryFor(path.join(dir, 'entry'));
      mkdirSync(tmp);

      await life.onSignal('SIGTERM');

      expect(exits).toEqual([143]);
      expect(err).toEqual([
        `niwt: interrupted during niwt D: importance → weights; run ${parent.runId} marked KILLED (with 1 ` +
          `nested); resume with: niwt run k.yaml --set seed=3 --resume\n`,
      ]);
      for (const r of [parent, child]) {
        const stored = await readLocalRun(r.location);
        expect(stored.status).toBe('KILLED');
        expect(stored.endTime).toBeGreaterThan(0);
        expect(stored.tags['niwt.interrupted_at']).toBe('niwt D: importance → weights');
        expect(stored.tags['niwt.error']).toBe('interrupted by SIGTERM');
        expect(readFileSync(path.join(r.location, 'artifacts', 'error.txt'), 'utf8')).toMatch(
          /^KILLED during stage "niwt D: importance → weights" at .*\ninterrupted by SIGTERM\n$/,
        );
      }
      expect((await readLocalRun(done.location)).status).toBe('FINISHED');
      expect(existsSync(tmp)).toBe(false);
      // the pipeline is parked: its next tracking call never settles
      let settled = false;
      void parent.logMetrics({ x: 1 }).then(() => (settled = true));
      await new Promise((r) => setTimeout(r, 50));
      expect(settled).toBe(false);

      // a second signal exits at once
      await life.onSignal('SIGINT');
      expect(exits).toEqual([143, 130]);
      expect(err[1]).toMatch(/^niwt: SIGINT again: exiting now/);
    },
  );

  it('an uncaught error ends open runs FAILED with the message, prints the resume line, exits 1', async () => {
    const dir = tempDir('life');
    const tracker = new FileStoreTracker(path.join(dir, 'mlruns'));
    const { life, err, exits } = harness();
    const parent = life.opened(await tracker.startRun({ experiment: 'e' }));
    life.stage = 'activations at conv3';
    await life.onCrash(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expect(exits).toEqual([1]);
    const stored = await readLocalRun(parent.location);
    expect(stored.status).toBe('FAILED');
    expect(stored.tags['niwt.error']).toBe('ENOSPC: no space left on device, write');
    expect(readFileSync(path.join(parent.location, 'artifacts', 'error.txt'), 'utf8')).toContain(
      'ENOSPC: no space left on device, write',
    );
    expect(err.join('')).toContain(
      `niwt: failed during activations at conv3; run ${parent.runId} marked FAILED; resume with: niwt run ` +
        `k.yaml --set seed=3 --resume\n`,
    );
  });

  it('quotes resume commands for a POSIX shell', () => {
    expect(['niwt', 'run', 'a b.yaml', '--set', "name='x'", 'seed=3'].map(shellQuote).join(' ')).toBe(
      `niwt run 'a b.yaml' --set 'name='\\''x'\\''' seed=3`,
    );
  });
});
