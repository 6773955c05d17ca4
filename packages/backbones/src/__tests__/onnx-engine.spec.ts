/**
 * The onnxruntime extraction engine: the ONNX export of every HeadLayer kind against tfjs ops, the
 * exported VGG16 / ResNet-50 / real-size ResNet-101 against the tfjs networks (tap and features within
 * 1e-4 relative, BN statistics randomised so folding is exercised), `extractSplit` on 'onnx' against 'tfjs'
 * row for row (and resumed), and the choice of engine when onnxruntime is missing (injected loader).
 */
import { mkdtempSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BackendError, Rng, readNpy, silentLogger, type HeadLayer, type Logger } from '@niwt/core';
import { OnnxGraph, OrtProgram, initBackend, loadOnnxRuntime, type OnnxRuntime } from '@niwt/compute';
import { ResNet50, ResNet101, Vgg16, imagenetOptions, type ImagenetBackbone } from '../index.js';
import { OnnxEmitter } from '../onnx/emit.js';
import { OnnxForward } from '../onnx/engine.js';
import { relMaxError } from './keras-fixtures.js';
import { colourDataset, log, runContext } from './test-data.js';

let ort: OnnxRuntime;
beforeAll(async () => {
  await initBackend('wasm');
  const r = await loadOnnxRuntime();
  if (!r)
    throw new Error('onnxruntime-node does not load here: it is a dependency of @niwt/core and these tests need it');
  ort = r;
});

/** Random biases and BN statistics (He init leaves BN an identity, which would hide folding mistakes). */
function perturb(bb: ImagenetBackbone, seed: number): void {
  const rng = new Rng(seed);
  for (const l of bb.net.spec.layers) {
    l.vars.forEach((v, i) => {
      if (l.kind !== 'bn' && i === 0) return;
      const n = v.size;
      const vals = Float32Array.from({ length: n }, () => {
        if (l.kind !== 'bn') return 0.1 * rng.normal(); // bias
        if (i === 0 || i === 3) return 0.5 + rng.next(); // gamma, variance in [0.5, 1.5)
        return 0.2 * rng.normal(); // beta, mean
      });
      tf.tidy(() => v.assign(tf.tensor(vals, v.shape)));
    });
  }
}

/** tfjs reference of HeadLayers (NHWC), independent of the emitter. */
function applyRef(x: tf.Tensor, layers: readonly HeadLayer[]): tf.Tensor {
  let h = x;
  for (const l of layers) {
    if (l.kind === 'conv') h = tf.add(tf.conv2d(h as tf.Tensor4D, l.filter, l.stride, l.padding), l.bias ?? 0);
    else if (l.kind === 'affine') h = tf.add(tf.mul(h, l.scale), l.offset);
    else if (l.kind === 'relu') h = tf.relu(h);
    else if (l.kind === 'maxpool') h = tf.maxPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
    else if (l.kind === 'avgpool') h = tf.avgPool(h as tf.Tensor4D, l.size, l.stride, l.padding);
    else if (l.kind === 'flatten') h = tf.reshape(h, [h.shape[0], -1]);
    else if (l.kind === 'dense') h = tf.add(tf.matMul(tf.reshape(h, [h.shape[0], -1]), l.weights), l.bias ?? 0);
    else if (l.kind === 'gap') h = tf.mean(h, [1, 2]);
    else h = tf.add(l.shortcut ? applyRef(h, l.shortcut) : h, applyRef(h, l.branch));
  }
  return h;
}

describe('ONNX export of HeadLayers', () => {
  it(
    'every layer kind (TF same padding on odd sizes, folded and standalone affine, pads merged or not) matches ' +
      'tfjs',
    async () => {
      const rng = new Rng(5);
      const t = (shape: number[], s = 1): tf.Tensor =>
        tf.tensor(
          Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => s * rng.normal()),
          shape,
        );
      const [N, H, C] = [2, 9, 3];
      const conv = (k: number, ci: number, co: number, stride: number, padding: 'same' | 'valid'): HeadLayer => ({
        kind: 'conv',
        filter: t([k, k, ci, co], 0.5) as tf.Tensor4D,
        bias: t([co]) as tf.Tensor1D,
        stride,
        padding,
      });
      const affine = (c: number): HeadLayer => ({
        kind: 'affine',
        scale: t([c]) as tf.Tensor1D,
        offset: t([c]) as tf.Tensor1D,
      });
      const layers: HeadLayer[] = [
        conv(3, C, 4, 2, 'same'), // 9 → 5, pads 1/1
        affine(4), // folded into the conv
        { kind: 'maxpool', size: 2, stride: 2, padding: 'same' }, // 5 → 3 on signed values: pads bottom/right
        affine(4), // standalone Mul/Add
        {
          kind: 'residual',
          branch: [conv(1, 4, 6, 1, 'valid'), { kind: 'relu' }, conv(3, 6, 6, 1, 'same')],
          shortcut: [conv(1, 4, 6, 1, 'valid')],
        },
        { kind: 'avgpool', size: 2, stride: 1, padding: 'same' }, // padding not counted, as in TF
        { kind: 'residual', branch: [affine(6), { kind: 'relu' }] },
        { kind: 'dense', weights: t([3 * 3 * 6, 5]) as tf.Tensor2D, bias: t([5]) as tf.Tensor1D }, // NHWC flattening
      ];
      const g = new OnnxGraph('layers');
      const e = new OnnxEmitter(g);
      const x = g.input('x', ['batch', H, H, C]);
      const nchw = {
        name: g.op('Transpose', [x], { perm: { ints: [0, 3, 1, 2] } }),
        shape: [C, H, H],
        nonNegative: false,
      };
      const mid = e.layers(nchw, layers.slice(0, 4));
      e.output(mid, 'mid');
      e.output(e.layers(mid, layers.slice(4)), 'out');
      // a zero pad before a max pool: merged after a ReLU (the same maximum as −∞ padding); refused on signed
      // values (onnxruntime fuses a Pad node before MaxPool into −∞ padding, which would be wrong)
      expect(() => e.pool(e.pad(mid, 1), 'max', 3, 2, 'valid')).toThrow(
        /zero pad before a max pool of values that may be negative/,
      );
      e.output(e.pool(e.pad(e.relu(mid), 1), 'max', 3, 2, 'valid'), 'padded');
      const prog = await OrtProgram.create(g, { threads: 1 }, ort);
      const xs = t([N, H, H, C], 2);
      const got = await prog.run({ x: { data: xs.dataSync() as Float32Array, dims: [N, H, H, C] } });
      await prog.dispose();
      const [refMid, refOut, refPad] = tf.tidy(() => {
        const m = applyRef(xs, layers.slice(0, 4));
        return [
          m,
          applyRef(m, layers.slice(4)),
          tf.maxPool(
            tf.pad(tf.relu(m) as tf.Tensor4D, [
              [0, 0],
              [1, 1],
              [1, 1],
              [0, 0],
            ]),
            3,
            2,
            'valid',
          ),
        ];
      });
      expect(got.mid.dims).toEqual([N, 3, 3, 4]);
      expect(got.out.dims).toEqual([N, 5]);
      expect(got.padded.dims).toEqual([N, 2, 2, 4]);
      const refMidData = refMid.dataSync();
      expect(Array.from(refMidData).some((v) => v < 0)).toBe(true); // signed: the standalone affine is not folded away
      expect(relMaxError(got.mid.data, refMidData)).toBeLessThan(1e-5);
      expect(relMaxError(got.out.data, refOut.dataSync())).toBeLessThan(1e-5);
      expect(relMaxError(got.padded.data, refPad.dataSync())).toBeLessThan(1e-5);
      tf.dispose([xs, refMid, refOut, refPad]);
      for (const l of layers) if (l.kind === 'conv') tf.dispose([l.filter, l.bias!]);
    },
  );
});

/** ORT and tfjs on the same images: max error relative to the largest |value|, for the tap and the features. */
async function compare(
  bb: ImagenetBackbone,
  n: number,
  seed: number,
): Promise<{ tap: number; features: number; tapDims: number[] }> {
  const s = bb.opts.inputSize;
  const rng = new Rng(seed);
  const pixels = Float32Array.from({ length: n * s * s * 3 }, () => 255 * rng.next());
  const fwd = await OnnxForward.create(bb.net, bb.tap.name, ort, 2);
  const got = await fwd.run(pixels, n);
  await fwd.dispose();
  const [a, f] = tf.tidy(() => {
    const t = bb.net.toTap(tf.tensor4d(pixels, [n, s, s, 3]), bb.tap.name);
    return [t, bb.net.fromTap(t, bb.tap.name)];
  });
  expect(got.tap!.length).toBe(a.size);
  expect(got.features.length).toBe(f.size);
  const out = {
    tap: relMaxError(got.tap!, a.dataSync()),
    features: relMaxError(got.features, f.dataSync()),
    tapDims: a.shape,
  };
  tf.dispose([a, f]);
  return out;
}

describe('ONNX export of the networks matches tfjs', () => {
  it.each([
    ['block5_conv3', 'caffe'],
    ['block2_pool', 'torch'],
  ])('VGG16 (width 1/16, 32²) at %s with %s preprocessing', async (tap, preprocessing) => {
    const bb = new Vgg16(
      imagenetOptions('vgg16').parse({ inputSize: 32, width: 1 / 16, tap, preprocessing }),
      runContext('/tmp'),
      log,
    );
    await bb.ensureWeights();
    perturb(bb, 11);
    const r = await compare(bb, 19, 1); // 19 images: runs of 16 + 3 (the second fed from an offset view)
    expect(r.tapDims).toEqual([19, ...bb.tap.shape]);
    expect(r.tap).toBeLessThan(1e-4);
    expect(r.features).toBeLessThan(1e-4);
    bb.dispose();
  });

  it.each(['pool1_pool', 'conv3_block1_out', 'conv5_block1_out'])('ResNet-50 (width 1/8, 64²) at %s', async (tap) => {
    const bb = new ResNet50(
      imagenetOptions('resnet50').parse({ inputSize: 64, width: 1 / 8, tap }),
      runContext('/tmp'),
      log,
    );
    await bb.ensureWeights();
    perturb(bb, 12);
    const r = await compare(bb, 2, 2);
    expect(r.tapDims).toEqual([2, ...bb.tap.shape]);
    expect(r.tap).toBeLessThan(1e-4);
    expect(r.features).toBeLessThan(1e-4);
    bb.dispose();
  });

  it('real-size ResNet-101 (224², the stem tap and the 2048-d features)', async () => {
    const bb = new ResNet101(imagenetOptions('resnet101').parse({ tap: 'pool1_pool' }), runContext('/tmp'), log);
    await bb.ensureWeights();
    perturb(bb, 13);
    const r = await compare(bb, 2, 3);
    expect(r.tapDims).toEqual([2, 56, 56, 64]);
    expect(r.tap).toBeLessThan(1e-4);
    expect(r.features).toBeLessThan(1e-4);
    bb.dispose();
  }, 300_000);
});

/** A logger that keeps the progress labels and info lines (the engine must be said, not silent). */
function recordingLogger(lines: string[]): Logger {
  return {
    ...silentLogger,
    info: (m) => void lines.push(m),
    progress: (label) => {
      lines.push(label);
      return { tick: () => undefined, done: (d) => void lines.push(d ?? '') };
    },
  };
}

describe('extractSplit engines', () => {
  const tiny = (extra: Record<string, unknown>) =>
    imagenetOptions('resnet50').parse({ inputSize: 64, width: 1 / 8, ...extra });

  it(
    "'onnx' writes the rows 'tfjs' writes (same files and shapes, values within 1e-4), resumes, and says its " +
      'engine',
    async () => {
      const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-onnx-'));
      const ds = colourDataset(3, 7); // 21 images: batches of 5 leave a short last one
      const idx = ds.samples.map((s) => s.index).reverse();
      const lines: string[] = [];
      const bb = new ResNet50(tiny({ engine: 'tfjs' }), runContext(cache), recordingLogger(lines));
      await bb.ensureWeights();
      perturb(bb, 14);
      const rt = await bb.extractSplit(ds, idx, path.join(cache, 'tfjs'), { batchSize: 5 });
      const ro = await bb.extractSplit(ds, idx, path.join(cache, 'onnx'), { batchSize: 5, engine: 'onnx' });
      expect([rt.engine, ro.engine]).toEqual(['tfjs', 'onnx']);
      expect(ro.threads).toBe(os.availableParallelism());
      expect(lines).toContain(
        `extract resnet50 at conv5_block1_out (onnx, ${ro.threads} thread${ro.threads > 1 ? 's' : ''})`,
      );
      expect(lines).toContain('extract resnet50 at conv5_block1_out (tfjs wasm)');
      expect(ro.features.length).toBe(21 * bb.penultimateDim);
      const tt = await readNpy(path.join(cache, 'tfjs', 'tap.npy'));
      const to = await readNpy(path.join(cache, 'onnx', 'tap.npy'));
      expect(to.shape).toEqual([21, ...bb.tap.shape]);
      const rowErr = (a: ArrayLike<number>, b: ArrayLike<number>, rows: number): number => {
        const per = b.length / rows;
        let worst = 0;
        for (let r = 0; r < rows; r++) {
          const sl = (x: ArrayLike<number>) => Array.prototype.slice.call(x, r * per, (r + 1) * per) as number[];
          worst = Math.max(worst, relMaxError(sl(a), sl(b)));
        }
        return worst;
      };
      expect(rowErr(ro.features, rt.features, 21)).toBeLessThan(1e-4);
      expect(rowErr(to.data as Float32Array, tt.data as Float32Array, 21)).toBeLessThan(1e-4);
      expect(await fs.readFile(path.join(cache, 'onnx', 'indices.json'), 'utf8')).toBe(JSON.stringify(idx));
      // the streamed extract() on onnx (a twin: same seed, same perturbation) gives the same rows and taps
      const twin = new ResNet50(tiny({ engine: 'onnx' }), runContext(cache), recordingLogger(lines));
      await twin.ensureWeights();
      perturb(twin, 14);
      const got: { features: Float32Array; tap: Float32Array }[] = [];
      for await (const b of twin.extract(ds, idx.slice(0, 7), 4)) got.push(b);
      expect(got.map((b) => b.features.length)).toEqual([4 * bb.penultimateDim, 3 * bb.penultimateDim]);
      expect(
        rowErr(got[1].features, rt.features.subarray(4 * bb.penultimateDim, 7 * bb.penultimateDim), 3),
      ).toBeLessThan(1e-4);
      expect(rowErr(got[0].tap, (tt.data as Float32Array).subarray(0, (4 * got[0].tap.length) / 4), 4)).toBeLessThan(
        1e-4,
      );
      expect(lines).toContain(
        `resnet50: forward extraction on onnxruntime, ${ro.threads} thread${ro.threads > 1 ? 's' : ''}`,
      );
      twin.dispose();
      // Kill after 10 rows: the rerun on onnx completes the file with the same rows.
      const f = path.join(cache, 'onnx', 'features.npy');
      await fs.truncate(f, (await fs.stat(f)).size - 11 * bb.penultimateDim * 4);
      await fs.writeFile(`${f}.progress`, JSON.stringify({ rows: 10 }));
      await fs.writeFile(path.join(cache, 'onnx', 'tap.npy.progress'), JSON.stringify({ rows: 10 }));
      const rr = await bb.extractSplit(ds, idx, path.join(cache, 'onnx'), { batchSize: 5, engine: 'onnx' });
      expect(rowErr(rr.features, ro.features, 21)).toBeLessThan(1e-5);
      bb.dispose();
    },
    120_000,
  );

  it(
    "'onnx' without onnxruntime is a BackendError naming the option; 'auto' falls back to tfjs and says " + 'so',
    async () => {
      const cache = mkdtempSync(path.join(os.tmpdir(), 'niwt-noort-'));
      const ds = colourDataset(2, 2);
      const idx = ds.samples.map((s) => s.index);
      const lines: string[] = [];
      const bb = new ResNet50(tiny({ engine: 'onnx' }), runContext(cache), recordingLogger(lines));
      const missing = () => Promise.resolve(undefined);
      const err = await bb
        .extractSplit(ds, idx, path.join(cache, 'a'), { loadRuntime: missing })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackendError);
      expect((err as Error).message).toBe(
        "backbone.engine: 'onnx' needs onnxruntime-node, which does not load on this machine; install the " +
          'optional dependency onnxruntime-node, or set engine: tfjs (or auto, which falls back to tfjs)',
      );
      const r = await bb.extractSplit(ds, idx, path.join(cache, 'b'), { loadRuntime: missing, engine: 'auto' });
      expect(r.engine).toBe('tfjs');
      expect(lines).toContain('extract resnet50 at conv5_block1_out (tfjs wasm)');
      bb.dispose();
    },
  );
});
