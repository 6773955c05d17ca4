#!/usr/bin/env node
/**
 * One ALE epoch and one DEM epoch at AWA2 scale (23,527 trainval images × 2048-d features, 85 attributes,
 * 40 seen classes; synthetic, seeded values), in this project (@niwt/baselines, tfjs WASM) and in NumPy
 * (ALE) / PyTorch (DEM) on the same machine in the same run. Prints JSON: seconds per epoch and peak RSS.
 *
 *   npm run build && node bench/baselines/run.mjs [--skip-python] [--only ale|dem]
 *
 * Each measurement runs in its own process (so peak RSS is that method's), on the same .npy files under
 * .cache/bench-baselines/. The Python side lives in a venv this script owns (.cache/bench-baselines-venv,
 * `pip install numpy torch==2.13.0`), created on first use. Timed: the epoch only (data loading,
 * preprocessing, tensor upload and parameter init are setup, on both sides). No warm-up on either side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dataDir = path.join(root, '.cache/bench-baselines');
const venv = path.join(root, '.cache/bench-baselines-venv');
const python = path.join(venv, 'bin/python');
const SHAPE = { N: 23527, D: 2048, E: 85, C: 40 };
const SETTINGS = {
  ale: { lr: 0.01, margin: 1, featureNorm: 'xian', blockSize: 64 },
  dem: { hidden: 1600, lambda: 1e-3, lr: 1e-4, batchSize: 64, preset: 'awa2' },
};

const worker = process.argv.indexOf('--worker');
if (worker > 0) {
  await runWorker(process.argv[worker + 1]);
} else {
  await main();
}

async function main() {
  const skipPython = process.argv.includes('--skip-python');
  const onlyAt = process.argv.indexOf('--only');
  const only = onlyAt > 0 ? process.argv[onlyAt + 1] : undefined;
  if (only !== undefined && only !== 'ale' && only !== 'dem') {
    console.error(
      `bench/baselines/run.mjs --only: expected 'ale' or 'dem', got ${only === undefined ? 'nothing' : `'${only}'`}`,
    );
    process.exit(2);
  }
  const runs = (kind) => only === undefined || only === kind;
  ensureData();
  const self = fileURLToPath(import.meta.url);
  const out = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', node: process.version },
    shape: { trainval: SHAPE.N, featureDim: SHAPE.D, attributes: SHAPE.E, seenClasses: SHAPE.C },
    settings: only === undefined ? SETTINGS : { [only]: SETTINGS[only] },
  };
  if (runs('ale')) out.ale = { niwtLab: child(process.execPath, [self, '--worker', 'ale']) };
  // DEM twice: the default engine (onnxruntime when it loads) and the tfjs fallback, for the record.
  if (runs('dem'))
    out.dem = {
      niwtLab: child(process.execPath, [self, '--worker', 'dem']),
      niwtLabTfjs: child(process.execPath, [self, '--worker', 'dem-tfjs']),
    };
  if (!skipPython) {
    const versions = ensureVenv();
    out.machine.python = versions;
    out.speedup = {};
    if (runs('ale')) {
      out.ale.numpy = child(python, [path.join(here, 'reference.py'), 'ale', dataDir]);
      out.speedup.ale_vs_numpy = round(out.ale.numpy.seconds / out.ale.niwtLab.seconds);
    }
    if (runs('dem')) {
      out.dem.pytorch = child(python, [path.join(here, 'reference.py'), 'dem', dataDir]);
      out.dem.pytorch1Thread = child(python, [path.join(here, 'reference.py'), 'dem', dataDir, '1']);
      out.speedup.dem_vs_pytorch = round(out.dem.pytorch.seconds / out.dem.niwtLab.seconds);
      out.speedup.dem_vs_pytorch_1_thread = round(out.dem.pytorch1Thread.seconds / out.dem.niwtLab.seconds);
    }
  }
  console.log(JSON.stringify(out, null, 2));
}

function round(x) {
  return Math.round(x * 100) / 100;
}

/** Runs a worker process and parses the JSON it prints last. */
function child(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 24, env: { ...process.env } });
  if (r.status !== 0)
    throw new Error(`${path.basename(cmd)} ${args.slice(1).join(' ')} failed (${r.status}):\n${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

function ensureVenv() {
  const probe = () =>
    spawnSync(
      python,
      [
        '-c',
        'import json, numpy, torch; print(json.dumps({"python": __import__("sys").version.split()[0], ' +
          '"numpy": numpy.__version__, "torch": torch.__version__, "torchThreads": torch.get_num_threads()}))',
      ],
      {
        encoding: 'utf8',
      },
    );
  let p = existsSync(python) ? probe() : { status: 1 };
  if (p.status !== 0) {
    console.error(`bench: creating ${path.relative(root, venv)} (numpy, torch==2.13.0)…`);
    const run = (cmd, args) => {
      const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed`);
    };
    if (!existsSync(python)) run('python3', ['-m', 'venv', venv]);
    run(python, ['-m', 'pip', 'install', '-q', 'numpy', 'torch==2.13.0']);
    p = probe();
    if (p.status !== 0) throw new Error(`the bench venv does not import numpy and torch:\n${p.stderr}`);
  }
  return JSON.parse(p.stdout.trim());
}

/** Features (N × D, non-negative: class means + noise, ReLU'd), labels (int32) and attributes (C × E), as .npy. */
function ensureData() {
  const files = ['features.npy', 'labels.npy', 'attributes.npy'].map((f) => path.join(dataDir, f));
  if (files.every(existsSync)) return;
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--worker', 'data'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error('writing the bench data failed');
}

async function runWorker(kind) {
  const { Rng, writeNpy, readNpy, matrix } = await import('@niwt/core');
  const { initBackend } = await import('@niwt/compute');
  const { N, D, E, C } = SHAPE;
  if (kind === 'data') {
    mkdirSync(dataDir, { recursive: true });
    const rng = new Rng(2048);
    const att = Float32Array.from({ length: C * E }, () => 100 * rng.next());
    const means = Float32Array.from({ length: C * D }, () => Math.max(0, 0.5 + 0.5 * rng.normal()));
    const labels = Int32Array.from({ length: N }, (_, i) => i % C);
    const x = new Float32Array(N * D);
    for (let i = 0; i < N; i++)
      for (let d = 0; d < D; d++) x[i * D + d] = Math.max(0, means[labels[i] * D + d] + 0.3 * rng.normal());
    await writeNpy(path.join(dataDir, 'attributes.npy'), att, [C, E]);
    await writeNpy(path.join(dataDir, 'labels.npy'), labels, [N]);
    await writeNpy(path.join(dataDir, 'features.npy'), x, [N, D]);
    return;
  }
  const backend = await initBackend('wasm');
  const base = await import('@niwt/baselines');
  const x = matrix(N, D, (await readNpy(path.join(dataDir, 'features.npy'))).data);
  const labels = Int32Array.from((await readNpy(path.join(dataDir, 'labels.npy'))).data);
  const att = matrix(C, E, (await readNpy(path.join(dataDir, 'attributes.npy'))).data);
  let seconds;
  let detail;
  if (kind === 'ale') {
    const s = SETTINGS.ale;
    const pre = base.fitPreprocessing(s.featureNorm, x);
    const trainer = new base.AleTrainer(
      { x: base.applyPreprocessing(pre, x), labels, classEmb: base.l2NormalizeRows(att) },
      { lr: s.lr, margin: s.margin, blockSize: s.blockSize, seed: 1 },
    );
    const t = performance.now();
    const ep = trainer.epoch();
    seconds = (performance.now() - t) / 1000;
    detail = { updates: ep.updates };
    trainer.dispose();
  } else {
    const s = kind === 'dem-tfjs' ? { ...SETTINGS.dem, engine: 'tfjs' } : SETTINGS.dem;
    const trainer = new base.DemTrainer({ x, labels, knowledge: att }, s, 1);
    // Engine creation (for onnx: compiling the step graph) is setup, like parameter init.
    const engine = await trainer.ready();
    const t = performance.now();
    const loss = await trainer.epoch();
    seconds = (performance.now() - t) / 1000;
    detail = { engine: engine.note, steps: Math.ceil(N / s.batchSize), meanLoss: loss };
    await trainer.dispose();
  }
  console.log(
    JSON.stringify({
      seconds: round(seconds),
      peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
      tfjsBackend: `${backend.name} (${backend.threads} thread)`,
      ...detail,
    }),
  );
}
