/**
 * Stage D interrupted and resumed from its checkpoint ends with the same W_u bytes and the same loss history
 * as an uninterrupted run: for the engine `auto` picks here (onnxruntime) and for the reference (double
 * backprop). The interruption is an exception thrown from the step callback, after the state of that step
 * was computed but before it could be saved; the resumed call starts from a fresh `StageD` built from the
 * checkpoint file alone.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { matrix, memoryTaps, type Matrix } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import {
  STAGE_D_CHECKPOINT_FILE,
  trainUnseenWeightsAsync,
  type StageDCheckpointing,
  type TransferResult,
} from '../index.js';
import { randomTap } from './fixtures.js';
import { vggHead } from './heads.js';

await initBackend('wasm');

const shape: [number, number, number] = [4, 4, 3];
const D = 6;
const head = vggHead(1, shape, D);
afterAll(() => head.dispose());
const data = {
  head,
  pool: memoryTaps(randomTap(8, 10, ...shape), shape),
  seenWeights: matrix(
    D,
    4,
    Float32Array.from({ length: D * 4 }, (_, i) => Math.cos(i)),
  ),
  targets: matrix(3, 3, Float32Array.from([1, 0.2, -0.3, 0.1, 0.9, 0.4, -0.5, 0.3, 0.8])),
};
// 5 pairs per class and batches of 4: passes over the pairs end mid-way, so the sampler's order and cursor matter.
const opts = {
  lambda: 0.02,
  lr: 0.1,
  batchSize: 4,
  pairsPerClass: 5,
  maxSteps: 60,
  patience: 20,
  minImprovement: 0.01,
  seed: 5,
};

const bytes = (m: Matrix): Buffer => Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);

describe.each(['auto', 'reference'] as const)('stage D (%s) resumes bit-identically', (implementation) => {
  // Interrupted at step 40: the last checkpoint is at step 35, while the early-stop counter runs.
  it('interrupted and resumed: same W_u bytes, losses, steps; a finished checkpoint is reused', async () => {
    const o = { ...opts, implementation };
    const ref = await trainUnseenWeightsAsync(data, o);
    if (implementation === 'auto') expect(ref.implementation).toBe('fast-ort');
    // The early stop state is part of the checkpoint: the run stops early, after the interruption.
    expect(ref.steps).toBeGreaterThan(40);
    expect(ref.steps).toBeLessThan(opts.maxSteps);

    const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-stage-d-'));
    const events: string[] = [];
    const ck: StageDCheckpointing = {
      dir,
      everySteps: 7,
      everySeconds: 3600,
      onResumed: (s) => void events.push(`resumed ${s}`),
      onIgnored: (r) => void events.push(`ignored ${r}`),
    };
    const seen: number[] = [];
    await expect(
      trainUnseenWeightsAsync(
        data,
        o,
        (step) => {
          if (step === 40) throw new Error('interrupted');
          seen.push(step);
        },
        ck,
      ),
    ).rejects.toThrow('interrupted');
    expect(seen.at(-1)).toBe(39);

    const after: number[] = [];
    const resumed = await trainUnseenWeightsAsync(data, o, (step) => void after.push(step), ck);
    expect(events).toEqual(['resumed 35']);
    expect(after[0]).toBe(36);
    const same = (r: TransferResult): void => {
      expect(r.implementation).toBe(ref.implementation);
      expect(r.steps).toBe(ref.steps);
      expect(r.losses).toEqual(ref.losses);
      expect([r.initialLoss, r.finalLoss]).toEqual([ref.initialLoss, ref.finalLoss]);
      expect(bytes(r.weights).equals(bytes(ref.weights))).toBe(true);
    };
    same(resumed);

    // Killed after the end: the final checkpoint (written at the early stop) is the whole result, no step runs.
    const again: number[] = [];
    same(await trainUnseenWeightsAsync(data, o, (step) => void again.push(step), ck));
    expect(again).toEqual([]);
    expect(events).toEqual(['resumed 35', `resumed ${ref.steps}`]);
  }, 60_000);
});

describe('stage D checkpoints that do not fit are ignored', () => {
  it('other options or a torn file: a warning, and the run starts from step 1 (the uninterrupted result)', async () => {
    const o = { ...opts, maxSteps: 12, implementation: 'reference' as const };
    const ref = await trainUnseenWeightsAsync(data, o);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-stage-d-'));
    await trainUnseenWeightsAsync(data, { ...o, lr: 0.01 }, undefined, { dir, everySteps: 5 });
    const warnings: string[] = [];
    const steps: number[] = [];
    const ck = { dir, onIgnored: (r: string) => void warnings.push(r) };
    const r = await trainUnseenWeightsAsync(data, o, (s) => void steps.push(s), ck);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/stage-d\.ckpt: written for other inputs or settings \(fingerprint \w+, expected \w+/);
    expect(steps[0]).toBe(1);
    expect(bytes(r.weights).equals(bytes(ref.weights))).toBe(true);

    writeFileSync(path.join(dir, STAGE_D_CHECKPOINT_FILE), 'NIWTCKP1\u0010\u0000\u0000\u0000{"fingerprint":');
    warnings.length = 0;
    steps.length = 0;
    const torn = await trainUnseenWeightsAsync(data, o, (s) => void steps.push(s), ck);
    expect(warnings[0]).toMatch(/stage-d\.ckpt: unreadable/);
    expect(steps[0]).toBe(1);
    expect(torn.losses).toEqual(ref.losses);
  }, 60_000);
});

describe(
  "stage D with the release's final weights (best epoch by mean loss, maxEpochs) resumes " + 'bit-identically',
  () => {
    // 15 pairs, batches of 4: 3 steps per epoch; 12 epochs = 36 steps. Interrupted at step 20 (checkpoint at 14),
    // when a best epoch (and its weights) is already held: both must come back from the file.
    it('same W_u bytes, best epoch and losses as an uninterrupted run', async () => {
      const o = {
        ...opts,
        implementation: 'auto' as const,
        patience: 1000,
        finalWeights: 'best-epoch-loss' as const,
        maxEpochs: 12,
      };
      const ref = await trainUnseenWeightsAsync(data, o);
      expect(ref.steps).toBe(36);
      expect(ref.bestEpoch?.epoch).toBeGreaterThan(0);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'niwt-stage-d-best-'));
      const events: string[] = [];
      const ck: StageDCheckpointing = {
        dir,
        everySteps: 7,
        everySeconds: 3600,
        onResumed: (s) => void events.push(`resumed ${s}`),
      };
      await expect(
        trainUnseenWeightsAsync(
          data,
          o,
          (step) => {
            if (step === 20) throw new Error('interrupted');
          },
          ck,
        ),
      ).rejects.toThrow('interrupted');
      const resumed = await trainUnseenWeightsAsync(data, o, undefined, ck);
      expect(events).toEqual(['resumed 14']);
      expect(resumed.bestEpoch).toEqual(ref.bestEpoch);
      expect(resumed.losses).toEqual(ref.losses);
      expect(bytes(resumed.weights).equals(bytes(ref.weights))).toBe(true);
    }, 60_000);
  },
);
