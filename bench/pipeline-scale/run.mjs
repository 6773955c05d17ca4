#!/usr/bin/env node
/**
 * Every stage of a NIWT run at full size, on a few hundred random images, with the engines `auto` picks
 * (backend, extraction engine, stage D engine: the run log's choices), and the wall time and disk extrapolated
 * to AWA2 (37,322 images) and CUB (11,788), with the backbone fixed or fine-tuned. Each stage runs in its own
 * child process, so its peak RSS is its own. Prints one JSON line per stage, then the extrapolation.
 *
 *   npm run build && scripts/tfjs-native.sh && node bench/pipeline-scale/run.mjs
 *   [--images 300] [--models vgg16,resnet101] [--pool 3000] [--stage-d-steps 40]
 *   [--backend auto] [--size 224 --width 1: smaller only for a smoke test]
 *
 * Stages: extraction (tap activations + penultimate features to .npy, as `niwt run`), stage B (importances
 * of every image for its class, batch 64), stage D (the exact fast path on a pool of --pool images, per step;
 * a run is the default maxSteps bound, 3000 steps, at most), a fine-tuning slice (bench/backbone-finetune: 2 optimizer
 * steps of batch 4 through every layer, the first a warm-up; an epoch = trainval / 4 steps, epochs = the backbone's
 * default). Stage D's tap activations are synthetic and random (its cost does not depend on their values).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const images = Number(arg('images', '300'));
const models = arg('models', 'vgg16,resnet101').split(',');
const pool = Number(arg('pool', '3000'));
const stageDSteps = Number(arg('stage-d-steps', '40'));
const backendPref = arg('backend', 'auto');
const size = Number(arg('size', '224'));
const width = Number(arg('width', '1'));
const stage = arg('stage');

/** Dataset sizes: total images, trainval (seen classes' training images: fine-tuning, stage B, the stage D pool). */
const DATASETS = { AWA2: { images: 37322, trainval: 23527 }, CUB: { images: 11788, trainval: 7057 } };
/**
 * The backbones' default fine-tuning epochs (imagenetOptions: train.finetune.epochs; early stopping may end sooner).
 */
const FINETUNE_EPOCHS = 30;
/** Stage D's step bound (niwt `maxSteps` default); most runs stop earlier on the 1 %-in-40-steps rule. */
const STAGE_D_MAX_STEPS = 3000;

function du(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    n += e.isDirectory() ? du(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).size;
  return n;
}

/** Random RGB images, deterministic per index (decoding cost excluded: the images are generated in memory). */
function randomDataset(n) {
  return {
    name: 'random',
    root: '/nonexistent',
    classes: Array.from({ length: 10 }, (_, i) => ({ index: i, name: `c${i}` })),
    split: {},
    samples: Array.from({ length: n }, (_, i) => ({ index: i, classIndex: i % 10, path: `/nonexistent/${i}.png` })),
    async *readImages(indices, spec, bs) {
      for (let s = 0; s < indices.length; s += bs) {
        const idx = indices.slice(s, s + bs);
        const per = spec.height * spec.width * 3;
        const pixels = new Float32Array(idx.length * per);
        idx.forEach((i, k) => {
          for (let j = 0; j < per; j++) pixels[k * per + j] = (((i * 7919 + j) * 2654435761) >>> 0) % 256;
        });
        yield { indices: idx, pixels, spec };
      }
    },
  };
}

async function child(name, workDir) {
  const { npyTaps, silentLogger } = await import('@niwt/core');
  const { initBackend } = await import('@niwt/compute');
  const { Vgg16, ResNet101, imagenetOptions } = await import('@niwt/backbones');
  const { importanceInBatches } = await import('@niwt/niwt');
  const tf = await import('@tensorflow/tfjs');
  const info = await initBackend(backendPref);
  const notes = [];
  const log = { ...silentLogger, info: (m) => notes.push(m) };
  const opts = imagenetOptions(name).parse({
    inputSize: size,
    width,
    ...(name === 'vgg16' ? {} : { tap: 'conv5_block1_out' }),
  });
  const bb = new (name === 'vgg16' ? Vgg16 : ResNet101)(
    opts,
    { seed: 1, baseDir: '.', cacheDir: workDir, runDir: workDir },
    log,
  );
  await bb.ensureWeights();
  const dataset = randomDataset(images);
  const idx = dataset.samples.map((s) => s.index);
  const base = { stage, model: name, backend: info.name, backendNote: info.note };
  if (stage === 'extract') {
    const { NpyRowWriter } = await import('@niwt/backbones');
    const dir = path.join(workDir, 'acts');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const tapW = await NpyRowWriter.open(path.join(dir, 'tap.npy'), images, bb.tap.shape);
    const featW = await NpyRowWriter.open(path.join(dir, 'features.npy'), images, [bb.penultimateDim]);
    const t0 = performance.now();
    for await (const b of bb.extract(dataset, idx, 64)) {
      await tapW.append(b.tap);
      await featW.append(b.features);
    }
    await tapW.close();
    await featW.close();
    const seconds = (performance.now() - t0) / 1000;
    return {
      ...base,
      engine: notes.find((n) => n.includes('forward extraction')) ?? null,
      images,
      seconds,
      imagesPerSecond: images / seconds,
      bytesPerImage: du(dir) / images,
      tapShape: bb.tap.shape,
    };
  }
  if (stage === 'stageB') {
    const tap = npyTaps(path.join(workDir, 'acts', 'tap.npy'));
    const head = bb.head();
    const C = 40;
    const w = tf.randomNormal([head.outDim, C], 0, 0.01, 'float32', 3);
    const cols = Int32Array.from(idx, (i) => i % C);
    importanceInBatches(head, tap, w, cols.subarray(0, 2), 2); // warm-up
    const t0 = performance.now();
    importanceInBatches(head, tap, w, cols, 64);
    const seconds = (performance.now() - t0) / 1000;
    return {
      ...base,
      images,
      seconds,
      imagesPerSecond: images / seconds,
      importanceBytesPerImage: bb.tap.shape[2] * 4,
    };
  }
  throw new Error(`unknown stage '${stage}'`);
}

function runChild(args) {
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
    env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  // one JSON value on stdout (a line, or pretty-printed)
  const text = r.stdout.slice(r.stdout.indexOf('{'));
  if (r.status !== 0 || !text) return { error: `exit ${r.status}: ${r.stderr.split('\n').slice(-8).join(' | ')}` };
  return JSON.parse(text);
}

if (stage) {
  const out = await child(arg('model'), arg('work'));
  out.peakRssGiB = +(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
}

const work = path.join(os.tmpdir(), `niwt-pipeline-scale-${process.pid}`);
const report = {
  images,
  pool,
  size,
  width,
  cpus: os.cpus().length,
  loadavg: os.loadavg().map((l) => +l.toFixed(2)),
  stages: [],
  extrapolated: {},
};
try {
  for (const m of models) {
    const dir = path.join(work, m);
    mkdirSync(dir, { recursive: true });
    const me = fileURLToPath(import.meta.url);
    const ex = runChild([
      me,
      '--stage',
      'extract',
      '--model',
      m,
      '--work',
      dir,
      '--images',
      String(images),
      '--backend',
      backendPref,
      '--size',
      String(size),
      '--width',
      String(width),
    ]);
    const sb = ex.error
      ? ex
      : runChild([
          me,
          '--stage',
          'stageB',
          '--model',
          m,
          '--work',
          dir,
          '--images',
          String(images),
          '--backend',
          backendPref,
          '--size',
          String(size),
          '--width',
          String(width),
        ]);
    const head = m === 'vgg16' ? 'vgg' : 'resnet';
    const sdRaw = runChild([
      path.join(root, 'bench/niwt-transfer/run.mjs'),
      '--head',
      head,
      '--pool',
      String(pool),
      '--fast-only',
      '--max-steps',
      String(stageDSteps),
      '--backend',
      backendPref,
    ]);
    const sdHead = sdRaw.error ? undefined : sdRaw.heads.find((h) => h.head === head);
    const sdFast = sdHead
      ? { ...sdHead.fast, backend: sdRaw.backend, peakRssGiB: +(sdRaw.peakRssMB / 1024).toFixed(2) }
      : sdRaw;
    const ftEnv = {
      ...process.env,
      MODELS: m,
      BACKENDS: backendPref === 'auto' ? 'tensorflow' : backendPref,
      TORCH: '0',
      SIZE: String(size),
      WIDTH: String(width),
    };
    const ftR = spawnSync(process.execPath, [path.join(root, 'bench/backbone-finetune/run.mjs')], {
      cwd: root,
      encoding: 'utf8',
      env: ftEnv,
      maxBuffer: 1 << 26,
    });
    const ft =
      ftR.status === 0 ? Object.values(JSON.parse(ftR.stdout).models[m])[0] : { error: ftR.stderr.slice(-600) };
    const stages = [
      { ...ex, stage: 'extract' },
      { ...sb, stage: 'stageB' },
      {
        stage: 'stageD',
        model: m,
        pool,
        ...sdFast,
        stepsPerSecond: sdFast.msPerStep ? +(1000 / sdFast.msPerStep).toFixed(2) : null,
      },
      { stage: 'finetune', model: m, ...ft },
    ];
    for (const s of stages) process.stdout.write(JSON.stringify(s) + '\n');
    report.stages.push(...stages);
    // Extrapolation (seconds, bytes) per dataset, fixed and fine-tuned.
    const epochs = FINETUNE_EPOCHS;
    const sdStepSeconds = sdFast.msPerStep ? sdFast.msPerStep / 1000 : null;
    for (const [name, d] of Object.entries(DATASETS)) {
      const extractS = d.images / ex.imagesPerSecond;
      const poolS = Math.min(pool, d.trainval) / ex.imagesPerSecond;
      const stageBS = d.trainval / sb.imagesPerSecond;
      const stageDS = sdStepSeconds ? STAGE_D_MAX_STEPS * sdStepSeconds : null;
      const fixedS = extractS + stageBS + (stageDS ?? 0);
      const ftS = ft.imagesPerSecond ? (epochs * d.trainval) / ft.imagesPerSecond : null;
      const disk = d.images * (ex.bytesPerImage ?? 0);
      report.extrapolated[`${m}/${name}`] = {
        fixed: {
          hours: +(fixedS / 3600).toFixed(2),
          diskGB: +(disk / 1e9).toFixed(1),
          extractHours: +(extractS / 3600).toFixed(2),
          stageBHours: +(stageBS / 3600).toFixed(2),
          stageDHoursAtMaxSteps: stageDS && +(stageDS / 3600).toFixed(2),
          poolExtractHours: +(poolS / 3600).toFixed(2),
        },
        finetuned:
          ftS === null
            ? null
            : {
                hours: +((fixedS + ftS) / 3600).toFixed(1),
                fineTuneEpochs: epochs,
                fineTuneHours: +(ftS / 3600).toFixed(1),
                diskGB: +(disk / 1e9).toFixed(1),
              },
      };
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(report.extrapolated, null, 2) + '\n');
