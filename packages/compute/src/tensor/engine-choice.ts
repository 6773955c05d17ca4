/**
 * Which engine `auto` runs each job on, chosen from measured throughput (a committed table, not a benchmark at
 * start-up: measuring takes minutes and the machine may be busy). The jobs and their candidate engines:
 * - forward extraction: onnxruntime (`onnx`) or tfjs on the native backend (`tensorflow`) or WASM (`wasm`);
 * - fine-tuning: tfjs on `tensorflow` or `wasm` (onnxruntime has no autograd);
 * - stage D (NIWT weight transfer, the linearised head): `onnx` or tfjs on `tensorflow` / `wasm`.
 * The table comes from bench/backbone-forward, bench/backbone-finetune and bench/niwt-transfer on the machine
 * named in `ENGINE_TABLE.machine`; bench/README.md says how to re-measure and update it.
 */

export type Job = 'forward' | 'finetune' | 'stageD';
export type Engine = 'onnx' | 'tensorflow' | 'wasm';

export interface EngineTable {
  /** Where and when the numbers were measured, and how busy the machine was. */
  readonly machine: string;
  readonly measured: string;
  /** Commands that produced the numbers. */
  readonly commands: readonly string[];
  /** Throughput (higher is faster: images/s, or stage D steps/s) per job, engine and network. */
  readonly jobs: Readonly<Record<Job, Partial<Record<Engine, Readonly<Record<string, number>>>>>>;
}

/**
 * Measured on the project's CI machine kind, idle (load < 4), on 2026-12-04. Forward: both engines in one
 * process; stage D: the same config on each engine (tensorflow's from bench/pipeline-scale's run); fine-tuning:
 * native from bench/pipeline-scale's run, WASM from tfjs-node-offline.md's run (load about 1.7). Update with
 * the bench commands below (bench/README.md).
 */
export const ENGINE_TABLE: EngineTable = {
  machine:
    'AMD EPYC (Zen 4), 2 vCPU, AVX-512, 23 GiB, no GPU; Node 20.20.2; TensorFlow 2.21.0 (tfjs-node 4.22.0); ' +
    'onnxruntime-node 1.30.0',
  measured: '2026-12-04',
  commands: [
    'NIWT_BACKEND=tensorflow BATCH=8 node bench/backbone-forward/bench.mjs',
    'node bench/pipeline-scale/run.mjs --images 200 --pool 3000 --stage-d-steps 40',
    'node bench/niwt-transfer/run.mjs --fast-only --backend tensorflow --engine ort --pool 3000 --max-steps 40',
    'BACKENDS=wasm node bench/backbone-finetune/run.mjs',
  ],
  jobs: {
    // images/s, batch 8, 224×224
    forward: {
      onnx: { vgg16: 6.12, resnet101: 13.6 },
      tensorflow: { vgg16: 3.34, resnet101: 6.85 },
    },
    // images/s of the steady steps (batch 4 in micro-batches of 2, every layer, 224×224)
    finetune: {
      tensorflow: { vgg16: 4 / 6.44, resnet101: 4 / 3.14 },
      wasm: { vgg16: 4 / 49.15, resnet101: 4 / 20.33 },
    },
    // steps/s of the exact fast path (batch 64, AWA2-shaped heads, pool 3000, 40 steps)
    stageD: {
      onnx: { vgg: 1000 / 39.4, resnet: 1000 / 1053.1 },
      tensorflow: { vgg: 1000 / 45.9, resnet: 1000 / 803.1 },
    },
  },
};

export interface EngineChoice {
  readonly engine: Engine;
  /** One line for the run log: the choice, the measured speed-up and where it comes from. */
  readonly why: string;
}

/**
 * An engine replaces the default (the first available one the table measures) only when it is at least this
 * much faster: measurements on a shared machine scatter by about ±10 %, and switching engines for less is noise.
 */
export const SWITCH_MARGIN = 1.1;

/** Geometric mean over the table's networks of a/b: the typical speed-up of engine a over b. */
function speedup(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): number {
  const keys = Object.keys(a).filter((k) => (a[k] ?? 0) > 0 && (b[k] ?? 0) > 0);
  if (!keys.length) return NaN;
  return Math.exp(keys.reduce((s, k) => s + Math.log((a[k] as number) / (b[k] as number)), 0) / keys.length);
}

/**
 * The fastest of `available` for `job` by the table: the first available engine the table measures (the
 * default) unless another is at least `SWITCH_MARGIN` faster (geometric mean over the table's networks).
 * Without any measurement, the first available. Throws when `available` is empty.
 */
export function chooseEngine(job: Job, available: readonly Engine[], table: EngineTable = ENGINE_TABLE): EngineChoice {
  if (!available.length) throw new Error(`chooseEngine(${job}): no engine available`);
  const rows = table.jobs[job];
  const measured = available.filter((e) => rows[e] !== undefined && Object.values(rows[e]!).some((v) => v > 0));
  if (!measured.length) return { engine: available[0] as Engine, why: `no measurement for ${job}; first available` };
  const first = measured[0] as Engine;
  const geo = (e: Engine) => speedup(rows[e]!, rows[first]!);
  const fastest = measured.reduce((b, e) => (geo(e) > geo(b) ? e : b));
  const best = geo(fastest) >= SWITCH_MARGIN ? fastest : first;
  const others = measured.filter((e) => e !== best);
  const vs = others.map((e) => `${speedup(rows[best]!, rows[e]!).toFixed(1)}× ${e}`).join(', ');
  const margin = best === first && fastest !== first ? `, under the ${SWITCH_MARGIN}× switching margin` : '';
  return {
    engine: best,
    why: `${job} on ${best}: measured ${vs ? `${vs} ` : ''}(engine table, ${table.measured}${margin}; bench/README.md)`,
  };
}
