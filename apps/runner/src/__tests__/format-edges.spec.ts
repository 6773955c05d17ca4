/**
 * The format edges of issue 17, each with its exact message (and exit code where the CLI reports it):
 * Keras 3 `.keras` archives, non-HDF5 and truncated `.h5`, word2vec text/binary by content, every NumPy integer and
 * float `.npy` dtype, NIWT stage D with a single unseen class. Fixtures come from h5py / NumPy / zipfile.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { matrix, memoryTaps, readNpy, type TapHead } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { readWord2Vec, writeWord2Vec } from '@niwt/domain-knowledge';
import { trainUnseenWeights } from '@niwt/niwt';
import { REPO, runCli, tempDir } from './helpers.js';

await initBackend('wasm');

describe('format edges', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('format-edges');
    const py = execFileSync(path.join(REPO, 'scripts/scipy-venv.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    })
      .trim()
      .split('\n')
      .pop()!;
    execFileSync(py, [path.join(REPO, 'scripts/format-edge-fixtures.py'), dir], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  }, 300_000);

  it('weights inspect reads a Keras 3 .keras archive and says what is inside', async () => {
    const r = await runCli(['weights', 'inspect', path.join(dir, 'model.keras')], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `${path.join(dir, 'model.keras')}: keras3-archive, 2 layers with weights, 24 parameters`,
    );
    expect(r.stdout).toContain(
      "Keras 3.10.0 archive; Sequential 'tiny' of 3 layers; entries: metadata.json, config.json, model.weights.h5",
    );
    expect(r.stdout).toMatch(/^dense {24}\[3, 4\] \[4\]$/m);
    expect(r.stdout).toMatch(/^dense_1 {22}\[4, 2\]$/m);
  }, 120_000);

  it('a non-HDF5 .h5 is exit 2 naming the file and what it looks like, without HDF5 diagnostics', async () => {
    const f = path.join(dir, 'notes.h5');
    await fs.writeFile(f, 'these are not weights\n');
    const r = await runCli(['weights', 'inspect', f], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `niwt: ${f}: not an HDF5 file or a Keras archive — it looks like a text file; expected a Keras .h5 / ` +
        `.keras file or a tfjs model.json`,
    );
    expect(r.stderr).not.toContain('HDF5-DIAG');
  }, 120_000);

  it('a truncated .h5 is exit 2 with the sizes', async () => {
    const f = path.join(dir, 'cut.h5');
    const full = await fs.readFile(path.join(dir, 'plain.h5'));
    await fs.writeFile(f, full.subarray(0, 1000));
    const r = await runCli(['weights', 'inspect', f], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(
      `niwt: ${f}: truncated HDF5 file (1000 bytes; its superblock says ${full.length}); copy or download it again`,
    );
    expect(r.stderr).not.toContain('HDF5-DIAG');
  }, 120_000);

  it('word2vec: text named .bin and binary named .txt are read by their content', async () => {
    const words = ['cat', 'dog'];
    const vectors = [Float32Array.from([1, 2, 3]), Float32Array.from([-1, 0.5, 4])];
    const entries = words.map((word, i): [string, Float32Array] => [word, vectors[i]]);
    const text = path.join(dir, 'vectors.bin');
    const bin = path.join(dir, 'vectors.txt');
    await writeWord2Vec(text, { vocab: 2, dim: 3 }, entries, { format: 'text' });
    await writeWord2Vec(bin, { vocab: 2, dim: 3 }, entries, { format: 'binary' });
    for (const [f, format] of [
      [text, 'text'],
      [bin, 'binary'],
    ] as const) {
      const r = await readWord2Vec(f, words);
      expect(r.format).toBe(format);
      expect(r.matchedExact).toBe(2);
      expect(Array.from(r.vectors.get('dog')!)).toEqual([-1, 0.5, 4]);
    }
  });

  it('readNpy reads every NumPy integer and float dtype (both byte orders), as NumPy wrote them', async () => {
    const want = [0, 1, 2, 3, 100, 7];
    const files = (await fs.readdir(dir)).filter((f) => f.endsWith('.npy'));
    expect(files).toHaveLength(14);
    for (const f of files) {
      const a = await readNpy(path.join(dir, f));
      expect(a.shape, f).toEqual([2, 3]);
      expect(Array.from(a.data), f).toEqual(f.includes('b1') ? [0, 1, 1, 1, 1, 1] : want);
    }
    expect((await readNpy(path.join(dir, 'alei8.npy'))).dtype).toBe('<i8');
  });

  it('NIWT stage D with exactly one unseen class (fast and double backprop agree)', () => {
    const shape = [2, 2, 3] as const;
    const tap = Float32Array.from({ length: 6 * 12 }, (_, i) => Math.abs(Math.sin(i)));
    const w = tf.tensor2d(
      Float32Array.from({ length: 12 * 5 }, (_, i) => Math.cos(i)),
      [12, 5],
    );
    const bias = tf.tensor1d(Float32Array.from({ length: 5 }, (_, i) => 0.1 * i));
    const head: TapHead = {
      tap: { name: 't', shape },
      outDim: 5,
      apply: (a) => tf.relu(tf.add(tf.matMul(tf.reshape(a, [a.shape[0], 12]), w), bias)) as tf.Tensor2D,
      layers: [{ kind: 'flatten' }, { kind: 'dense', weights: w, bias }, { kind: 'relu' }],
    };
    const seenWeights = matrix(
      5,
      3,
      Float32Array.from({ length: 15 }, (_, i) => Math.sin(2 * i)),
    );
    const targets = matrix(1, 3, Float32Array.from([0.5, -1, 2]));
    const go = (implementation: 'fast' | 'reference') =>
      trainUnseenWeights(
        { head, pool: memoryTaps(tap, shape), seenWeights, targets },
        {
          lambda: 1e-3,
          lr: 1e-2,
          batchSize: 3,
          pairsPerClass: 6,
          maxSteps: 12,
          patience: 1000,
          minImprovement: 0.01,
          seed: 2,
          implementation,
        },
      );
    const fast = go('fast');
    const ref = go('reference');
    expect(fast.weights.cols).toBe(1);
    expect(fast.losses).toHaveLength(12);
    for (let i = 0; i < 12; i++) expect(Math.abs(fast.losses[i] - ref.losses[i])).toBeLessThan(1e-4);
    tf.dispose([w, bias]);
  });
});
