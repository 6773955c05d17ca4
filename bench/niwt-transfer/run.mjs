#!/usr/bin/env node
/**
 * Stage D speed: the project's exact fast path (linearised head) against the straightforward reference
 * (double backprop through the whole head on every batch), on AWA2-shaped problems. Prints JSON.
 *
 * npm run build && node bench/niwt-transfer/run.mjs [--head vgg|resnet|both] [--pool 3000] [--ref-steps 4]
 * [--fast-only] [--max-steps 3000]
 *                                                     [--engine auto|ort|tfjs] [--ort-threads N]
 *
 * `--engine` picks the fast path's engine: `auto` (onnxruntime when it loads, else tfjs), `ort` or `tfjs`;
 * the JSON's `fast.implementation` says which ran ('fast-ort' or 'fast').
 *
 * `peakRssMB` of `--fast-only` runs at different `--pool` sizes shows stage D's memory does not grow with the pool.
 *
 * VGG-style head: tap 7×7×512 → fc 4096 → ReLU → fc 4096 → ReLU. ResNet-style head: tap 7×7×2048 → two
 * bottleneck units (1×1 512, BN, ReLU, 3×3 512, BN, ReLU, 1×1 2048, BN, + identity, ReLU) → global average pool.
 * 40 seen / 10 unseen classes, batch 64, random weights and activations (seeded). The pool is a float32 .npy
 * read on demand, so memory does not depend on the pool size.
 */
import { existsSync, mkdirSync, openSync, writeSync, closeSync, statSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { Rng, matrix, npyTaps } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { trainUnseenWeightsAsync } from '@niwt/niwt';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const which = arg('head', 'both');
const poolSize = Number(arg('pool', '3000'));
const refSteps = Number(arg('ref-steps', '4'));
const fastOnly = process.argv.includes('--fast-only');
const maxSteps = Number(arg('max-steps', '3000'));
const engine = arg('engine', 'auto');
if (!['auto', 'ort', 'tfjs'].includes(engine)) throw new Error(`--engine: expected auto, ort or tfjs, got '${engine}'`);
const fastImplementation = { auto: 'auto', ort: 'fast-ort', tfjs: 'fast' }[engine];
const ortThreads = arg('ort-threads') === undefined ? undefined : Number(arg('ort-threads'));
const backend = await initBackend(arg('backend', 'auto'));

function randn(rng, n, scale, offset = 0) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * rng.normal();
  return a;
}

/** A pool file of N × h × w × k non-negative activations, written once (streamed, bounded memory). */
function poolFile(name, n, shape) {
  const dir = path.join(root, '.cache/bench/niwt-transfer');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}-${n}.npy`);
  const per = shape[0] * shape[1] * shape[2];
  if (existsSync(file) && statSync(file).size > n * per * 4) return file;
  const fd = openSync(`${file}.tmp`, 'w');
  const text = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${shape.join(', ')}), }`;
  const pad = (64 - ((10 + text.length + 1) % 64)) % 64;
  const h = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(h);
  h.writeUInt16LE(text.length + pad + 1, 8);
  writeSync(fd, h);
  writeSync(fd, Buffer.from(text + ' '.repeat(pad) + '\n', 'latin1'));
  const rng = new Rng(1);
  for (let i = 0; i < n; i++) {
    const row = new Float32Array(per);
    for (let j = 0; j < per; j++) row[j] = Math.max(0, rng.normal() * 0.5 + 0.1);
    writeSync(fd, Buffer.from(row.buffer));
  }
  closeSync(fd);
  // atomic: a killed bench never leaves a truncated pool that a rerun trusts
  renameSync(`${file}.tmp`, file);
  return file;
}

function vggHead(rng) {
  const K = 512;
  const w6 = tf.tensor2d(randn(rng, 25088 * 4096, Math.sqrt(2 / 25088)), [25088, 4096]);
  const b6 = tf.tensor1d(randn(rng, 4096, 0.01, 0.01));
  const w7 = tf.tensor2d(randn(rng, 4096 * 4096, Math.sqrt(2 / 4096)), [4096, 4096]);
  const b7 = tf.tensor1d(randn(rng, 4096, 0.01, 0.01));
  const layers = [
    { kind: 'flatten' },
    { kind: 'dense', weights: w6, bias: b6 },
    { kind: 'relu' },
    { kind: 'dense', weights: w7, bias: b7 },
    { kind: 'relu' },
  ];
  const apply = (a) =>
    tf.tidy(() =>
      tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(tf.reshape(a, [a.shape[0], -1]), w6), b6)), w7), b7)),
    );
  return {
    name: 'vgg',
    shape: [7, 7, K],
    D: 4096,
    head: { tap: { name: 'tap', shape: [7, 7, K] }, outDim: 4096, apply, layers },
    dispose: () => tf.dispose([w6, b6, w7, b7]),
  };
}

function resnetHead(rng) {
  const C = 2048;
  const M = 512;
  const kept = [];
  const t = (x) => (kept.push(x), x);
  const unit = () => {
    const f1 = t(tf.tensor4d(randn(rng, C * M, Math.sqrt(2 / C)), [1, 1, C, M]));
    const f2 = t(tf.tensor4d(randn(rng, 9 * M * M, Math.sqrt(2 / (9 * M))), [3, 3, M, M]));
    const f3 = t(tf.tensor4d(randn(rng, M * C, Math.sqrt(2 / M) * 0.3), [1, 1, M, C]));
    const bn = (n) => [t(tf.tensor1d(randn(rng, n, 0.05, 1))), t(tf.tensor1d(randn(rng, n, 0.05, 0)))];
    const [s1, o1] = bn(M);
    const [s2, o2] = bn(M);
    const [s3, o3] = bn(C);
    return {
      layers: [
        {
          kind: 'residual',
          branch: [
            { kind: 'conv', filter: f1, stride: 1, padding: 'same' },
            { kind: 'affine', scale: s1, offset: o1 },
            { kind: 'relu' },
            { kind: 'conv', filter: f2, stride: 1, padding: 'same' },
            { kind: 'affine', scale: s2, offset: o2 },
            { kind: 'relu' },
            { kind: 'conv', filter: f3, stride: 1, padding: 'same' },
            { kind: 'affine', scale: s3, offset: o3 },
          ],
        },
        { kind: 'relu' },
      ],
      apply: (x) => {
        let b = tf.conv2d(x, f1, 1, 'same');
        b = tf.relu(tf.add(tf.mul(b, s1), o1));
        b = tf.relu(tf.add(tf.mul(tf.conv2d(b, f2, 1, 'same'), s2), o2));
        b = tf.add(tf.mul(tf.conv2d(b, f3, 1, 'same'), s3), o3);
        return tf.relu(tf.add(b, x));
      },
    };
  };
  const u1 = unit();
  const u2 = unit();
  const layers = [...u1.layers, ...u2.layers, { kind: 'gap' }];
  const apply = (a) => tf.tidy(() => tf.mean(u2.apply(u1.apply(a)), [1, 2]));
  return {
    name: 'resnet',
    shape: [7, 7, C],
    D: C,
    head: { tap: { name: 'tap', shape: [7, 7, C] }, outDim: C, apply, layers },
    dispose: () => tf.dispose(kept),
  };
}

function problem(h) {
  const rng = new Rng(7);
  const seen = matrix(h.D, 40, randn(rng, h.D * 40, 0.05));
  const targets = matrix(10, h.shape[2], randn(rng, 10 * h.shape[2], 1));
  return { seen, targets };
}

async function run(h, pool, implementation, maxSteps) {
  const { seen, targets } = problem(h);
  const t0 = performance.now();
  let tFirst = 0;
  const res = await trainUnseenWeightsAsync(
    { head: h.head, pool, seenWeights: seen, targets },
    {
      lambda: 1e-3,
      lr: 1e-3,
      batchSize: 64,
      pairsPerClass: Math.ceil(pool.size / 10),
      maxSteps,
      patience: 40,
      minImprovement: 0.01,
      seed: 3,
      implementation,
      ortThreads,
    },
    (step) => {
      if (step === 1) tFirst = performance.now();
    },
  );
  const total = performance.now() - t0;
  // step 1 includes the fast path's one-off state precomputation; per-step time excludes it
  const perStep = res.steps > 1 ? (performance.now() - tFirst) / (res.steps - 1) : total;
  return { res, totalMs: total, msPerStep: perStep, setupMs: tFirst - t0 };
}

const out = {
  bench: 'niwt-transfer',
  backend: backend.name,
  threads: backend.threads,
  node: process.version,
  pool: poolSize,
  batch: 64,
  seen: 40,
  unseen: 10,
  heads: [],
};
for (const make of [vggHead, resnetHead]) {
  const rng = new Rng(11);
  const h = make(rng);
  if (which !== 'both' && which !== h.name) {
    h.dispose();
    continue;
  }
  const file = poolFile(h.name, poolSize, h.shape);
  const pool = npyTaps(file);
  const rss0 = process.memoryUsage().rss;
  const fast = await run(h, pool, fastImplementation, maxSteps);
  const rssFast = process.memoryUsage().rss;
  const ref = fastOnly ? undefined : await run(h, pool, 'reference', refSteps + 1);
  pool.close();
  const n = ref ? Math.min(ref.res.losses.length, fast.res.losses.length) : 0;
  let maxDiff = 0;
  for (let i = 0; i < n; i++) maxDiff = Math.max(maxDiff, Math.abs(ref.res.losses[i] - fast.res.losses[i]));
  out.heads.push({
    head: h.name,
    tap: h.shape,
    penultimate: h.D,
    fast: {
      implementation: fast.res.implementation,
      ...(fast.res.ortUnavailableReason ? { ortUnavailableReason: fast.res.ortUnavailableReason } : {}),
      msPerStep: +fast.msPerStep.toFixed(1),
      setupMs: +fast.setupMs.toFixed(0),
      stepsToStop: fast.res.steps,
      initialLoss: fast.res.initialLoss,
      finalLoss: fast.res.finalLoss,
    },
    reference: ref ? { msPerStep: +ref.msPerStep.toFixed(1), stepsMeasured: ref.res.steps } : null,
    speedupPerStep: ref ? +(ref.msPerStep / fast.msPerStep).toFixed(1) : null,
    maxLossDiffFirstSteps: maxDiff,
    comparedSteps: n,
    rssGrowthDuringFastMB: +((rssFast - rss0) / 2 ** 20).toFixed(0),
  });
  h.dispose();
}
out.peakRssMB = +(process.resourceUsage().maxRSS / 1024).toFixed(0);
console.log(JSON.stringify(out, null, 2));
