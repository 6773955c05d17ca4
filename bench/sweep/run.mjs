#!/usr/bin/env node
/**
 * Sweep wall time: the same grid run sequentially (`niwt sweep`), with `-j 2` (points in two child
 * processes, no Redis), and on a BullMQ queue with two `niwt worker` processes (loopback Redis from
 * scripts/redis.sh). Each mode starts cold: its own cache folder and MLflow store, so every mode trains
 * each seed's network and extracts its activations. Prints JSON; `sameTable` checks the three summaries agree.
 *
 *   npm run build && node bench/sweep/run.mjs [--config configs/demo-lambda.yaml] [--set path=value …]
 *
 * The default grid is configs/demo-lambda.yaml cut to λ ∈ {0, 1e-3, 1e-2} × seed ∈ {7, 1} (6 points).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const main = path.join(root, 'apps/runner/dist/main.js');
const args = process.argv.slice(2);
const sets = args.flatMap((a, i) => (a === '--set' ? ['--set', args[i + 1]] : []));
const work = mkdtempSync(path.join(os.tmpdir(), 'niwt-bench-sweep-'));
let config = args.includes('--config') ? path.resolve(args[args.indexOf('--config') + 1]) : undefined;
if (!config) {
  const demo = parse(readFileSync(path.join(root, 'configs/demo-lambda.yaml'), 'utf8'));
  demo.sweep = { 'methods.0.lambda': [0, 1.0e-3, 1.0e-2], seed: [7, 1] };
  config = path.join(work, 'demo-lambda-6.yaml');
  writeFileSync(config, stringify(demo));
}
const store = (mode) => [
  '--set',
  `cacheDir=${path.join(work, mode, 'cache')}`,
  '--set',
  `tracking.uri=file:${path.join(work, mode, 'mlruns')}`,
];

function run(argv, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, [main, ...argv], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('exit', (code) =>
      code === 0
        ? resolve({ seconds: (performance.now() - t0) / 1000, out })
        : reject(new Error(`niwt ${argv.join(' ')} exited ${code}:\n${err}`)),
    );
  });
}

const tableOf = (out) => JSON.parse(out).table;
const result = {
  config: args.includes('--config')
    ? path.relative(root, config)
    : 'configs/demo-lambda.yaml, λ ∈ {0, 1e-3, 1e-2} × seed ∈ {7, 1}',
  overrides: sets.filter((_, i) => i % 2 === 1),
  cores: os.availableParallelism(),
  modes: {},
};

const seq = await run(['sweep', config, ...sets, ...store('seq'), '--json', '-q']);
result.modes.sequential = { seconds: seq.seconds };
result.points = JSON.parse(seq.out).points.length;
const par = await run(['sweep', config, '-j', '2', ...sets, ...store('j2'), '--json', '-q']);
result.modes.j2 = { seconds: par.seconds };

const started = execFileSync('bash', [path.join(root, 'scripts/redis.sh'), 'start', path.join(work, 'redis')], {
  encoding: 'utf8',
})
  .trim()
  .split('\n')
  .pop();
const [url, redisDir] = started.split(' ');
const workers = [0, 1].map(() =>
  spawn(process.execPath, [main, 'worker', '--queue', url, '-q'], { cwd: root, stdio: 'ignore' }),
);
let queued;
try {
  await new Promise((r) => setTimeout(r, 3000)); // workers connect
  queued = await run(['sweep', config, '--queue', url, ...sets, ...store('queue'), '--json', '-q']);
  result.modes.queue2 = { seconds: queued.seconds };
} finally {
  for (const w of workers) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode !== null ? r() : w.once('exit', r)))));
  execFileSync('bash', [path.join(root, 'scripts/redis.sh'), 'stop', redisDir]);
}
result.sameTable = tableOf(seq.out) === tableOf(par.out) && tableOf(seq.out) === tableOf(queued.out);
result.speedup = {
  j2: result.modes.sequential.seconds / result.modes.j2.seconds,
  queue2: result.modes.sequential.seconds / result.modes.queue2.seconds,
};
rmSync(work, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
