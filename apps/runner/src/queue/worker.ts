/**
 * `niwt worker --queue redis://…`: takes runs off the queue one at a time and runs them in this process
 * (composeExperiment with the job's overrides + runExperiment), logging to the tracking store its config
 * names. A killed worker's job is moved back to the queue by BullMQ's stalled-job check once its lock
 * expires, and the rerun resumes from the shared stage cache (seen network, activations, importances).
 */
import os from 'node:os';
import { ConfigError, isNiwtError, type Logger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { runExperiment } from '../pipeline.js';
import { loadQueueLibs, parseQueueUrl, type BullJob, type BullWorker, type QueueLibs } from './adapter.js';
import { DEFAULT_QUEUE_NAME, type RunJobData, type RunJobResult } from './jobs.js';

export interface WorkerOptions {
  readonly queue: string;
  readonly queueName?: string;
  readonly logger: Logger;
  /** Where relative config paths resolve (default: the working directory). */
  readonly cwd?: string;
  /** How long a job's lock lasts without renewal; a killed worker's job is retried after about this long. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** Times a job may stall (its worker died) before it is failed. */
  readonly maxStalledCount?: number;
  /** Printed with every line; default host:pid. */
  readonly name?: string;
  /** Called with one line per job event (default: stderr). */
  readonly onEvent?: (line: string) => void;
}

export interface RunningWorker {
  readonly name: string;
  close(): Promise<void>;
}

/** Composes and runs one job; config problems are not retried (they would fail the same way). */
export async function processRunJob(libs: QueueLibs, job: BullJob<RunJobData, RunJobResult>, opts: WorkerOptions, name: string): Promise<RunJobResult> {
  const d = job.data;
  const t0 = performance.now();
  let exp;
  try {
    exp = await composeExperiment(d.file, { overrides: d.overrides, inlineText: d.text, cwd: opts.cwd, logger: opts.logger });
  } catch (e) {
    throw isNiwtError(e) ? new libs.UnrecoverableError(`${e.message}`) : e;
  }
  if (exp.hash !== d.hash) {
    throw new libs.UnrecoverableError(new ConfigError(`config hash ${exp.hash} on ${name} differs from the queued ${d.hash}: workers must run the same niwt version and plugins as the enqueuer`).message);
  }
  const r = await runExperiment(exp, opts.logger, { parentRunId: d.parentRunId });
  return { runId: r.runId, location: r.location, hash: r.configHash, worker: name, seconds: (performance.now() - t0) / 1000, methods: r.methods.map((m) => ({ label: m.label, s: m.s, u: m.u, H: m.H, zslT1: m.zslT1 })) };
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const url = parseQueueUrl(opts.queue);
  const libs = await loadQueueLibs();
  const name = opts.name ?? `${os.hostname()}:${process.pid}`;
  const say = opts.onEvent ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const connection = new libs.Redis(url, { maxRetriesPerRequest: null });
  const worker: BullWorker<RunJobData, RunJobResult> = new libs.Worker<RunJobData, RunJobResult>(
    opts.queueName ?? DEFAULT_QUEUE_NAME,
    async (job) => {
      say(`worker ${name}: start ${job.id} attempt ${job.attemptsMade + 1}`);
      return processRunJob(libs, job, opts, name);
    },
    {
      connection,
      concurrency: 1, // one run per process: tfjs uses every core
      lockDuration: opts.lockDurationMs ?? 120_000,
      stalledInterval: opts.stalledIntervalMs ?? 30_000,
      maxStalledCount: opts.maxStalledCount ?? 2,
    },
  );
  worker.on('completed', (job, r) => say(`worker ${name}: done ${job.id} run ${r.runId} in ${r.seconds.toFixed(1)}s`));
  worker.on('failed', (job, e) => say(`worker ${name}: failed ${job?.id ?? '?'} attempt ${job?.attemptsMade ?? '?'}: ${e.message}`));
  worker.on('stalled', (id) => say(`worker ${name}: requeued stalled ${id}`));
  worker.on('error', (e) => say(`worker ${name}: error: ${e.message}`));
  await worker.waitUntilReady();
  say(`worker ${name}: ready on ${url.replace(/\/\/[^@/]*@/, '//***@')} queue ${opts.queueName ?? DEFAULT_QUEUE_NAME}`);
  return {
    name,
    close: async () => {
      await worker.close();
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
