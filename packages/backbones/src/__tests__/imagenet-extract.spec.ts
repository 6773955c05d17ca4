/**
 * Whole-split extraction to .npy (resumable; 2 worker threads give the single-thread outputs exactly),
 * tfjs layers model.json import, and a config's wrong-architecture .h5 error.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fs, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { ResNet50, Vgg16, imagenetOptions } from '../index.js';
import { workerScript } from '../extract/extract-split.js';
import { kerasFixtures, REPO } from './keras-fixtures.js';
import { colourDataset, log, runContext } from './test-data.js';

beforeAll(async () => {
  await initBackend('wasm');
  if (!workerScript())
    execFileSync('npx', ['tsc', '-b', 'packages/backbones/tsconfig.lib.json'], { cwd: REPO, stdio: 'inherit' });
}, 600_000);

// engine tfjs: this file tests the tfjs paths (workers, model.json); onnx-engine.spec.ts compares the engines.
const tiny = (extra: Record<string, unknown> = {}) =>
  imagenetOptions('resnet50').parse({ inputSize: 64, width: 1 / 8, engine: 'tfjs', ...extra });

describe('extractSplit', () => {
  it('streams a split to .npy; 2 workers match 1 thread exactly; a partial file resumes', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-extract-'));
    const ds = colourDataset(3, 8);
    const idx = ds.samples.map((s) => s.index);
    const one = new ResNet50(tiny(), runContext(cache), log);
    const r1 = await one.extractSplit(ds, idx, path.join(cache, 'one'), { batchSize: 4 });
    const two = new ResNet50(tiny({ workers: 2 }), runContext(cache), log);
    const r2 = await two.extractSplit(ds, idx, path.join(cache, 'two'), { batchSize: 4 });
    expect(r2.features).toEqual(r1.features);
    const t1 = await readNpy(path.join(cache, 'one', 'tap.npy'));
    const t2 = await readNpy(path.join(cache, 'two', 'tap.npy'));
    expect(t1.shape).toEqual([24, ...one.tap.shape]);
    expect(Array.from(t2.data)).toEqual(Array.from(t1.data));
    // the streamed batches equal extract()
    const batches: Float32Array[] = [];
    for await (const b of one.extract(ds, idx.slice(0, 4), 4)) batches.push(b.features);
    expect(Array.from(batches[0])).toEqual(Array.from(r1.features.subarray(0, 4 * one.penultimateDim)));
    // Simulate a kill after 8 rows: truncate and leave a progress marker; the rerun completes it identically.
    const f = path.join(cache, 'one', 'features.npy');
    const st = await fs.stat(f);
    await fs.truncate(f, st.size - 16 * one.penultimateDim * 4);
    await fs.writeFile(`${f}.progress`, JSON.stringify({ rows: 8 }));
    await fs.writeFile(path.join(cache, 'one', 'tap.npy.progress'), JSON.stringify({ rows: 8 }));
    const r3 = await one.extractSplit(ds, idx, path.join(cache, 'one'), { batchSize: 4 });
    expect(r3.features).toEqual(r1.features);
    one.dispose();
    two.dispose();
  }, 240_000);
});

describe('weights in a config', () => {
  it('tfjs layers model.json loads (same outputs as the values it was written from)', async () => {
    const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-tfjs-'));
    const src = new ResNet50(tiny(), runContext(cache), log);
    await src.ensureWeights();
    const weights: { name: string; shape: number[]; dtype: string }[] = [];
    const bufs: Buffer[] = [];
    for (const l of src.net.spec.layers) {
      const names = l.kind === 'bn' ? ['gamma', 'beta', 'moving_mean', 'moving_variance'] : ['kernel', 'bias'];
      l.vars.forEach((v, i) => {
        weights.push({ name: `${l.name}/${names[i]}`, shape: v.shape, dtype: 'float32' });
        const d = v.dataSync() as Float32Array;
        bufs.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
      });
    }
    writeFileSync(path.join(cache, 'group1-shard1of1.bin'), Buffer.concat(bufs));
    writeFileSync(
      path.join(cache, 'model.json'),
      JSON.stringify({ format: 'layers-model', weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights }] }),
    );
    const dst = new ResNet50(tiny({ weights: 'model.json' }), runContext(cache), log);
    await dst.ensureWeights();
    const x = tf.randomUniform([1, 64, 64, 3], 0, 255) as tf.Tensor4D;
    const [a, b] = tf.tidy(() => [src.net.features(x), dst.net.features(x)]);
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    src.dispose();
    dst.dispose();
  });

  it('a .h5 of the wrong architecture is a config error naming the first mismatching layer', async () => {
    const dir = kerasFixtures();
    const bb = new Vgg16(
      imagenetOptions('vgg16').parse({ weights: path.join(dir, 'resnet50.apps.h5') }),
      runContext(dir),
      log,
    );
    await expect(bb.ensureWeights()).rejects.toThrow(
      new RegExp(
        String.raw`backbone.weights: .*resnet50.apps.h5 does not fit vgg16 .*layer 'block1_conv1' \(expected ` +
          String.raw`\[3, 3, 3, 64\] \+ \[64\]\) is missing`,
      ),
    );
  }, 1_800_000);
});
