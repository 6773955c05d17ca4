/**
 * `niwt worker --queue redis://…`: takes runs off the queue one at a time and runs each in a child process
 * (point-process.ts), so this process's event loop stays free: BullMQ renews the job's lock every
 * lockDuration / 2 however long and CPU-heavy the run is (hours of VGG16 extraction included), job
 * progress is reported per stage, and SIGTERM/SIGINT are answered at once.
 *
 * Lock settings: a live worker never loses its job, so `lockDuration` only sets how long a job of a worker
 * that died (kill -9, power loss) waits before another worker takes it: about lockDuration + stalledInterval.
 * Before a point runs (again), RUNNING runs of that point under the sweep from an earlier attempt are
 * marked KILLED, so each grid point ends with exactly one FINISHED run.
 */
import os from 'node:os';
import { ConfigError, isNiwtError, type Logger, type Tracker } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { runPointInChild, type PointProcess } from '../point-process.js';
import { killStaleRuns } from '../sweep-runs.js';
import {
  displayQueueUrl,
  loadQueueLibs,
  parseQueueUrl,
  probeRedis,
  queueConnection,
  type BullJob,
  type BullWorker,
  type QueueLibs,
} from './adapter.js';
import { DEFAULT_QUEUE_NAME, type RunJobData, type RunJobProgress, type RunJobResult } from './jobs.js';

/** Defaults for runs of minutes to hours (see the module comment). */
export const WORKER_DEFAULTS = { lockDurationMs: 60_000, stalledIntervalMs: 30_000, maxStalledCount: 2 } as const;

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
  /** Print the runs' stage lines (default: only job events). */
  readonly verbose?: boolean;
}

export interface RunningWorker {
  readonly name: string;
  /** Stops: a run in progress is stopped (SIGTERM, then SIGKILL), marked KILLED and put back on the queue. */
  close(): Promise<void>;
}

interface Current {
  readonly job: BullJob<RunJobData, RunJobResult>;
  readonly child: PointProcess;
}

/** Composes a job's config here (cheap; no run) to check its hash and find stale runs of its point. */
async function composeJob(libs: QueueLibs, job: BullJob<RunJobData, RunJobResult>, opts: WorkerOptions, name: string) {
  const d = job.data;
  let exp;
  try {
    exp = await composeExperiment(d.file, {
      overrides: d.overrides,
      inlineText: d.text,
      cwd: opts.cwd,
      logger: opts.logger,
    });
  } catch (e) {
    throw isNiwtError(e) ? new libs.UnrecoverableError(e.message) : e;
  }
  if (exp.hash !== d.hash) {
    throw new libs.UnrecoverableError(
      new ConfigError(
        `config hash ${exp.hash} on ${name} differs from the queued ${d.hash}: workers must run the same ` +
          `niwt version and plugins as the enqueuer`,
      ).message,
    );
  }
  return exp;
}

export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const url = parseQueueUrl(opts.queue);
  const libs = await loadQueueLibs();
  await probeRedis(libs, url);
  const name = opts.name ?? `${os.hostname()}:${process.pid}`;
  const say = opts.onEvent ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const connection = queueConnection(libs, url, (l) => say(`worker ${name}: ${l}`));
  let current: Current | undefined;
  let stopping = false;

  const processor = async (job: BullJob<RunJobData, RunJobResult>, token?: string): Promise<RunJobResult> => {
    say(`worker ${name}: start ${job.id} attempt ${job.attemptsMade + 1}`);
    const d = job.data;
    const exp = await composeJob(libs, job, opts, name);
    const tracker = exp.registry.create(exp.tracker.spec, exp.tracker.options) as Tracker;
    const stale = { parentRunId: d.parentRunId ?? '', hash: d.hash };
    // An earlier attempt's run (its worker died or stalled): the job's lock expired, so it is abandoned.
    if (d.parentRunId) {
      const ended = await killStaleRuns(exp, tracker, { ...stale, evenIfOwnerUnknown: true });
      if (ended.length > 0) say(`worker ${name}: marked KILLED the abandoned run(s) ${ended.join(', ')} of ${job.id}`);
    }
    const t0 = performance.now();
    let stages = 0;
    const child = runPointInChild(
      {
        file: d.file,
        text: d.text,
        overrides: d.overrides,
        hash: d.hash,
        cwd: opts.cwd ?? process.cwd(),
        parentRunId: d.parentRunId,
        runName: d.runName,
        tags: d.tags,
        verbose: opts.verbose,
      },
      (stage) =>
        void job
          .updateProgress({ worker: name, stage, stages: ++stages } satisfies RunJobProgress)
          .catch(() => undefined),
    );
    current = { job, child };
    try {
      const r = await child.result;
      return {
        runId: r.runId,
        location: r.location,
        hash: r.configHash,
        worker: name,
        seconds: (performance.now() - t0) / 1000,
        seenNetworkCached: r.seenNetwork.cached,
        activationsCached: r.activationsCached,
        methods: r.methods.map((m) => ({ label: m.label, s: m.s, u: m.u, H: m.H, zslT1: m.zslT1 })),
      };
    } catch (e) {
      if (d.parentRunId) await killStaleRuns(exp, tracker, stale).catch(() => undefined);
      if (stopping) {
        // Back to the queue without using an attempt: another worker (or this one, restarted) takes it.
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new libs.DelayedError(`worker ${name} stopped`);
      }
      throw isNiwtError(e) && e.name !== 'StateError' ? new libs.UnrecoverableError(e.message) : e;
    } finally {
      current = undefined;
    }
  };

  const worker: BullWorker<RunJobData, RunJobResult> = new libs.Worker<RunJobData, RunJobResult>(
    opts.queueName ?? DEFAULT_QUEUE_NAME,
    processor,
    {
      connection,
      concurrency: 1, // one run per worker: a run uses every core
      lockDuration: opts.lockDurationMs ?? WORKER_DEFAULTS.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs ?? WORKER_DEFAULTS.stalledIntervalMs,
      maxStalledCount: opts.maxStalledCount ?? WORKER_DEFAULTS.maxStalledCount,
    },
  );
  let lastError = '';
  worker.on('completed', (job, r) => say(`worker ${name}: done ${job.id} run ${r.runId} in ${r.seconds.toFixed(1)}s`));
  worker.on('failed', (job, e) => {
    if (e.name !== 'DelayedError')
      say(`worker ${name}: failed ${job?.id ?? '?'} attempt ${job?.attemptsMade ?? '?'}: ${e.message}`);
  });
  worker.on('stalled', (id) => say(`worker ${name}: requeued stalled ${id}`));
  worker.on('error', (e) => {
    // one line per distinct error, not per retry
    if (e.message !== lastError) say(`worker ${name}: error: ${e.message}`);
    lastError = e.message;
  });
  await worker.waitUntilReady();
  say(`worker ${name}: ready on ${displayQueueUrl(url)} queue ${opts.queueName ?? DEFAULT_QUEUE_NAME}`);
  return {
    name,
    close: async () => {
      stopping = true;
      const running = current;
      const closed = worker.close();
      if (running) {
        say(`worker ${name}: stopping run of ${running.job.id}; it goes back to the queue`);
        await running.child.stop(1000);
      }
      await closed;
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}
