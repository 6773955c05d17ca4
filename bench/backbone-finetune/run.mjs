// Full-size VGG16 and ResNet-101 fine-tuning on each tfjs backend (native TensorFlow, WASM with its 4 GB heap)
// and on PyTorch CPU, the peer: `finetune` mode for 2 optimizer steps of batch 4 in micro-batches of 2 at
// 224×224, He-normal random weights, on 8 generated training images (+2 validation). Each network and backend
// runs in its own child process, so its peak RSS is its own. Prints JSON: seconds per step, images/s of the
// steady steps (the first is warm-up), peak RSS, the WASM heap size at the end, whether it finished, and each
// backend's images/s over PyTorch's (goal: native TF >= 0.5x).
//   node bench/backbone-finetune/run.mjs            (run `npm run build` and scripts/tfjs-native.sh first)
//   MODELS=vgg16,resnet101  BACKENDS=tensorflow,wasm  TORCH=1  SIZE=224  WIDTH=1  (SIZE/WIDTH: smoke test only)
//   PyTorch: bench/lib/torch-python.sh (NIWT_TORCH_PYTHON=/path/to/python to use another)
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const size = Number(process.env.SIZE ?? 224);
const width = Number(process.env.WIDTH ?? 1);

if (process.argv[2]) {
  process.stdout.write(JSON.stringify(await runOne(process.argv[2], process.argv[3] ?? 'wasm')) + '\n');
} else {
  const models = (process.env.MODELS ?? 'vgg16,resnet101').split(',');
  const backends = (process.env.BACKENDS ?? 'tensorflow,wasm').split(',');
  const out = {
    size,
    width,
    steps: 2,
    batchSize: 4,
    microBatch: 2,
    cpus: os.cpus().length,
    loadavg: os.loadavg().map((l) => +l.toFixed(2)),
    models: {},
  };
  for (const m of models) {
    out.models[m] = {};
    for (const b of backends) {
      const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), m, b], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 1 << 24,
      });
      const last = r.stdout.trim().split('\n').pop();
      out.models[m][b] =
        r.status === 0 && last
          ? JSON.parse(last)
          : { completed: false, exit: r.status, signal: r.signal, stderr: r.stderr.split('\n').slice(-12).join('\n') };
    }
  }
  if (process.env.TORCH !== '0' && size === 224 && width === 1) {
    const here = path.dirname(fileURLToPath(import.meta.url));
    const py = spawnSync(path.join(here, '../lib/torch-python.sh'), {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const python = py.stdout.trim().split('\n').pop();
    const t = python
      ? spawnSync(python, [path.join(here, 'torch_finetune.py'), models.join(','), '2'], {
          encoding: 'utf8',
          maxBuffer: 1 << 24,
        })
      : undefined;
    out.pytorch =
      t?.status === 0
        ? JSON.parse(t.stdout.trim().split('\n').pop())
        : { error: t?.stderr?.slice(-800) ?? 'no python with torch' };
    out.ratioToPytorch = {};
    for (const m of models) {
      const p = out.pytorch.models?.[m]?.imagesPerSecond;
      out.ratioToPytorch[m] = Object.fromEntries(
        backends.map((b) => [
          b,
          p && out.models[m][b].imagesPerSecond ? +(out.models[m][b].imagesPerSecond / p).toFixed(3) : null,
        ]),
      );
    }
    out.goal = 'fine-tuning on native TF >= 0.5x PyTorch CPU';
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

async function runOne(name, backend) {
  const { initBackend } = await import('@niwt/compute');
  const { Vgg16, ResNet101, imagenetOptions } = await import('@niwt/backbones');
  const tf = await import('@tensorflow/tfjs');
  const info = await initBackend(backend);
  const heapBytes = () => tf.backend().wasm?.HEAPU8?.buffer.byteLength ?? null;
  const classes = 4;
  const dataset = {
    name: 'generated',
    root: '/nonexistent',
    classes: Array.from({ length: classes }, (_, i) => ({ index: i, name: `c${i}` })),
    samples: Array.from({ length: 10 }, (_, i) => ({
      index: i,
      classIndex: i % classes,
      path: `/nonexistent/${i}.png`,
    })),
    split: {},
    // Class c: a bright channel c mod 3 with stripes along x (even c) or y (odd), plus per-image noise.
    async *readImages(indices, spec, bs) {
      for (let s = 0; s < indices.length; s += bs) {
        const idx = indices.slice(s, s + bs);
        const per = spec.height * spec.width * 3;
        const pixels = new Float32Array(idx.length * per);
        idx.forEach((i, k) => {
          const c = i % classes;
          for (let y = 0; y < spec.height; y++) {
            for (let x = 0; x < spec.width; x++) {
              const stripe = ((c % 2 === 0 ? x : y) >> 4) % 2;
              for (let ch = 0; ch < 3; ch++) {
                const noise = (((i * 7919 + y * 104729 + x * 1299709 + ch) * 2654435761) >>> 0) % 61;
                pixels[k * per + (y * spec.width + x) * 3 + ch] = Math.min(
                  255,
                  (ch === c % 3 ? 170 : 50) + 50 * stripe + noise,
                );
              }
            }
          }
        });
        yield { indices: idx, pixels, spec };
      }
    },
  };
  const cacheDir = path.join(os.tmpdir(), `niwt-bench-finetune-${name}-${process.pid}`);
  const ticks = [];
  let heapMax = 0;
  const note = () => (heapMax = Math.max(heapMax, heapBytes() ?? 0));
  const log = {
    info: (m) => process.stderr.write(m + '\n'),
    warn: (m) => process.stderr.write(m + '\n'),
    stage: () => ({ end: () => 0 }),
    progress: (label, total) => {
      const bar = { label, total, t: [performance.now()] };
      if (label.startsWith('fine-tune')) ticks.push(bar);
      return {
        tick: () => {
          note();
          bar.t.push(performance.now());
          process.stderr.write(
            `${label}: step ${bar.t.length - 1}/${total} ${((bar.t.at(-1) - bar.t.at(-2)) / 1000).toFixed(1)} s\n`,
          );
        },
        done: () => undefined,
      };
    },
  };
  const opts = imagenetOptions(name).parse({
    inputSize: size,
    width,
    ...(name === 'vgg16' ? {} : { tap: 'conv5_block1_out' }),
    train: {
      mode: 'finetune',
      resume: false,
      head: { epochs: 2, lr: 1e-3 },
      finetune: { epochs: 1, batchSize: 4, microBatch: 2, patience: 1 },
    },
  });
  const Cls = name === 'vgg16' ? Vgg16 : ResNet101;
  const bb = new Cls(opts, { seed: 1, baseDir: '.', cacheDir, runDir: cacheDir }, log);
  const t0 = performance.now();
  try {
    await bb.ensureWeights();
    const params = bb.net.trainableVariables().reduce((a, v) => a + v.size, 0);
    const report = await bb.trainSeen({
      dataset,
      seenClasses: [0, 1, 2, 3],
      trainIndices: [0, 1, 2, 3, 4, 5, 6, 7],
      valIndices: [8, 9],
    });
    note();
    const t = ticks[0]?.t ?? [];
    const stepSeconds = t.slice(1).map((x, k) => +((x - t[k]) / 1000).toFixed(2));
    const ru = process.resourceUsage();
    return {
      completed: true,
      backend: info.name,
      trainableParameters: params,
      stepSeconds,
      // steady state: the steps after the first (graph warm-up, weight packing)
      imagesPerSecond:
        stepSeconds.length > 1
          ? +((4 * (stepSeconds.length - 1)) / stepSeconds.slice(1).reduce((a, b) => a + b, 0)).toFixed(3)
          : null,
      trainSeenSeconds: +((performance.now() - t0) / 1000).toFixed(1),
      loss: bb.trainingLosses,
      peakRssGiB: +(ru.maxRSS / 2 ** 20).toFixed(2),
      wasmHeapGiB: heapMax ? +(heapMax / 2 ** 30).toFixed(2) : null,
      fineTuneEpochs: report.epochs,
    };
  } finally {
    bb.dispose();
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
