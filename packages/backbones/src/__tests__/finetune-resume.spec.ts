/**
 * Fine-tuning (tiny VGG16, the same anatomy at 1/16 width) interrupted mid-epoch and resumed from its last
 * per-epoch checkpoint ends bit-identical to an uninterrupted run: the same weights, the same Adam moments and
 * step count (FusedAdam's, in JS memory), the same losses and report. The interruption is an exception thrown
 * from the progress bar in the middle of epoch 2; the resumed run is a new backbone that knows only the folder.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger, type Logger, type SeenTrainingData } from '@niwt/core';
import { initBackend, readCheckpoint } from '@niwt/compute';
import { Vgg16, imagenetOptions } from '../index.js';
import { colourDataset, runContext } from './test-data.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const tmp = (name: string): string => mkdtempSync(path.join(os.tmpdir(), `niwt-ft-${name}-`));

function make(cacheDir: string, log: Logger = silentLogger): Vgg16 {
  const opts = imagenetOptions('vgg16').parse({
    inputSize: 32,
    width: 1 / 16,
    train: {
      mode: 'finetune',
      head: { epochs: 2, lr: 1e-3 },
      finetune: { epochs: 3, batchSize: 8, microBatch: 4, lr: 1e-3, patience: 5, dropout: 0.2, clipNorm: 1 },
    },
  });
  return new Vgg16(opts, runContext(cacheDir), log);
}

/** Every file under `dir` (relative path → bytes). */
function tree(dir: string, base = dir): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) for (const [k, v] of tree(p, base)) out.set(k, v);
    else out.set(path.relative(base, p), readFileSync(p));
  }
  return out;
}

describe('fine-tuning resumes bit-identically', () => {
  it('tiny VGG16 interrupted mid-epoch 2: same weights, Adam moments and step, losses and report', async () => {
    const ds = colourDataset(4, 6);
    const data = (checkpointDir: string): SeenTrainingData => ({
      dataset: ds,
      seenClasses: [0, 1, 2, 3],
      trainIndices: ds.samples.filter((s) => s.index < 16).map((s) => s.index),
      valIndices: ds.samples.filter((s) => s.index >= 16).map((s) => s.index),
      checkpointDir,
    });
    const cache = tmp('cache'); // shared: the fixed-feature cache, as in a rerun

    const refCkpt = tmp('ref');
    const ref = make(cache);
    const refReport = await ref.trainSeen(data(refCkpt));
    const refOut = tmp('ref-out');
    await ref.save(refOut);
    ref.dispose();
    expect(ref.trainingLosses).toHaveLength(3);

    const ckpt = tmp('ckpt');
    let ticks = 0;
    const interrupting: Logger = {
      ...silentLogger,
      progress: () => ({
        tick: (_n, detail) => {
          if (detail === 'epoch 2' && ++ticks === 1) throw new Error('interrupted'); // after step 1 of 2
        },
        done: () => undefined,
      }),
    };
    const first = make(cache, interrupting);
    await expect(first.trainSeen(data(ckpt))).rejects.toThrow('interrupted');
    first.dispose();
    expect(readdirSync(path.join(ckpt, 'finetune')).filter((n) => n.startsWith('epoch-'))).toEqual(['epoch-1']);

    const infos: string[] = [];
    const again = make(cache, { ...silentLogger, info: (m) => void infos.push(m) });
    const report = await again.trainSeen(data(ckpt));
    expect(infos.some((m) => m.startsWith('vgg16: resuming fine-tuning after epoch 1 from '))).toBe(true);
    expect(infos.filter((m) => m.includes('fine-tune epoch 1:'))).toEqual([]); // epoch 1 was not trained again
    const out = tmp('out');
    await again.save(out);
    expect(again.trainingLosses).toEqual(ref.trainingLosses);
    again.dispose();
    expect({ ...report, seconds: 0 }).toEqual({ ...refReport, seconds: 0 });

    // The saved networks: byte for byte.
    const [got, want] = [tree(out), tree(refOut)];
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k)!.equals(v), `${k} differs`).toBe(true);

    // The last checkpoints (weights, Adam's step and moments, losses): byte for byte, fingerprint included.
    const [a, b] = [tree(path.join(ckpt, 'finetune')), tree(path.join(refCkpt, 'finetune'))];
    expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
    for (const [k, v] of b) expect(a.get(k)!.equals(v), `checkpoint ${k} differs`).toBe(true);
    // ... and they hold real Adam state: the step count of 3 epochs × 2 steps, non-zero moments.
    const state = [...b.keys()].find((k) => k.endsWith('state.ckpt'))!;
    const header = readFileSync(path.join(refCkpt, 'finetune', state))
      .subarray(12)
      .toString('latin1');
    const fp = /"fingerprint":"([0-9a-f]+)"/.exec(header)![1];
    const r = readCheckpoint<{ adamStep: number }>(path.join(refCkpt, 'finetune', state), fp);
    if (r.status !== 'ok') throw new Error(`unreadable checkpoint: ${JSON.stringify(r)}`);
    expect(r.content.meta.adamStep).toBe(6);
    const m0 = r.content.arrays.get('adam/m0') as Float32Array;
    expect(m0.some((x) => x !== 0)).toBe(true);
  }, 240_000);
});
