/**
 * Seen-network training killed (SIGKILL) and resumed from its per-epoch checkpoint ends with the same bytes
 * as an uninterrupted run: killed exactly at an epoch boundary, and mid-epoch (killed from outside at a
 * moment that varies: both cores are kept busy by CPU burners). The child runs the built packages
 * (`seen-train-child.mjs`); the uninterrupted reference runs in this process, without checkpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EPOCHS, trainTiny } from './seen-train-child.mjs';
import type { SeenTrainingReport } from '@niwt/core';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'seen-train-child.mjs');
const tmp = (name: string): string => mkdtempSync(path.join(os.tmpdir(), `niwt-seen-${name}-`));

let burners: ChildProcess[] = [];
beforeAll(() => {
  burners = [0, 1].map(() => spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
});
afterAll(() => {
  for (const b of burners) b.kill('SIGKILL');
});

interface Done {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly ticks: string[];
}

/** Runs the child; `killWhen(ticks)` is checked on every progress line and SIGKILLs the child once true. */
function child(args: string[], killWhen?: (ticks: readonly string[]) => boolean): Promise<Done> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const ticks: string[] = [];
    let buf = '';
    let killed = false;
    p.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) if (l.startsWith('tick ')) ticks.push(l.slice(5));
      if (!killed && killWhen?.(ticks)) {
        killed = true;
        p.kill('SIGKILL');
      }
    });
    p.on('close', (code, signal) => resolve({ code, signal, ticks }));
  });
}

/** Every file of a saved network, by name, as bytes. */
function files(dir: string): Record<string, Buffer> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(path.join(dir, f))]),
  );
}

function expectSameNetwork(dir: string, reference: string): void {
  const [got, want] = [files(dir), files(reference)];
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const f of Object.keys(want)) expect(got[f].equals(want[f]), `${f} differs`).toBe(true);
}

const resumedAfter = (ticks: readonly string[]): number | undefined => {
  const t = ticks.find((d) => d.startsWith('resumed after epoch '));
  return t === undefined ? undefined : Number(t.slice('resumed after epoch '.length));
};

describe('seen-network training resumes bit-identically (small CNN, 2 cores saturated)', () => {
  let refDir = '';
  let ref: SeenTrainingReport;

  beforeAll(async () => {
    refDir = tmp('ref');
    ref = await trainTiny(undefined, refDir);
    // The run is long enough for kills mid-way, and early stopping or the epoch limit ends it after epoch 4.
    expect(ref.epochs).toBeGreaterThan(4);
    expect(ref.bestEpoch).toBeGreaterThan(1);
    expect(ref.valAccuracy).toBeGreaterThan(0.4);
  }, 120_000);

  it('killed right after the checkpoint of epoch 2, resumed: the same weights and report', async () => {
    const ckpt = tmp('ckpt');
    const killed = await child([ckpt, tmp('out'), '2']);
    expect(killed.signal).toBe('SIGKILL');
    expect(killed.ticks.at(-1)).toBe('epoch 2 checkpointed');
    const out = tmp('out');
    const resumed = await child([ckpt, out]);
    expect(resumed.code).toBe(0);
    expect(resumedAfter(resumed.ticks)).toBe(2);
    // Epochs 1–2 are not trained again: the resumed run's steps are those of epochs 3.. only.
    expect(resumed.ticks.filter((t) => /^epoch [12]$/.test(t))).toEqual([]);
    expectSameNetwork(out, refDir);
    expect(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'))).toEqual({ ...ref, seconds: 0 });
  }, 120_000);

  it('killed from outside mid-epoch 4, resumed from the last epoch boundary: the same weights and report', async () => {
    const ckpt = tmp('ckpt');
    // SIGKILL once the third step of epoch 4 is reported; under load the child runs on for a varying moment.
    const killed = await child([ckpt, tmp('out')], (ticks) => ticks.filter((t) => t === 'epoch 4').length >= 3);
    expect(killed.signal).toBe('SIGKILL');
    const out = tmp('out');
    const resumed = await child([ckpt, out]);
    expect(resumed.code).toBe(0);
    const after = resumedAfter(resumed.ticks)!;
    expect(after).toBeGreaterThanOrEqual(3);
    expect(after).toBeLessThanOrEqual(EPOCHS);
    expectSameNetwork(out, refDir);
    expect(JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'))).toEqual({ ...ref, seconds: 0 });
  }, 120_000);

  it('a checkpoint that is not one (a torn file) is ignored: training starts afresh, same result', async () => {
    const ckpt = tmp('ckpt');
    writeFileSync(path.join(ckpt, 'seen-loop.ckpt'), 'NIWTCKP1 torn');
    const out = tmp('out');
    const ticks: string[] = [];
    const report = await trainTiny(ckpt, out, (d) => void ticks.push(d));
    expect(resumedAfter(ticks)).toBeUndefined();
    expect(ticks.filter((t) => t === 'epoch 1').length).toBe(8);
    expectSameNetwork(out, refDir);
    expect(report.epochs).toBe(ref.epochs);
  }, 120_000);
});
