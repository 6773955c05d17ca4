/**
 * `niwt sweep --queue redis://…`: checks that Redis answers (an unreachable one is exit 2 before anything
 * exists), composes every grid point (a bad value fails before anything is queued), attaches to the sweep's
 * parent run, queues one job per point with jobId = config hash, and — unless told not to — waits for the
 * workers, printing progress, and logs the same summary artifacts as a local sweep.
 */
import { StateError, withoutSecrets, type Logger } from '@niwt/core';
import type { Experiment } from '../compose.js';
import { lifecycle, ownerTags } from '../lifecycle.js';
import { finishSweep, pointTags, prepareSweep } from '../sweep.js';
import type { SweepMetric, SweepRow } from '../sweep-summary.js';
import { SweepProgress } from '../sweep-progress.js';
import { openSweepParent, pointName, SWEEP_TAGS } from '../sweep-runs.js';
import { displayQueueUrl, loadQueueLibs, parseQueueUrl, probeRedis, queueConnection, type BullJob } from './adapter.js';
import { DEFAULT_QUEUE_NAME, jobIdFor, type RunJobData, type RunJobResult } from './jobs.js';

export interface EnqueueOptions {
  /** redis://host:port */
  readonly queue: string;
  readonly queueName?: string;
  readonly overrides?: readonly string[];
  readonly metric?: SweepMetric;
  readonly cwd?: string;
  readonly logger: Logger;
  readonly inlineText?: string;
  /** Wait for every job and write the summary (default true); false returns once queued. */
  readonly wait?: boolean;
  /** Attempts per run before it is failed (default 3). */
  readonly attempts?: number;
  /** First retry delay, doubled each time (default 5 s). */
  readonly backoffMs?: number;
  readonly pollMs?: number;
  /** Queue finished points again (their completed jobs are removed first). */
  readonly force?: boolean;
  /** Where progress lines go (default: the logger's info). */
  readonly progress?: (line: string) => void;
}

export interface EnqueuedJob {
  readonly jobId: string;
  readonly hash: string;
  readonly name: string;
  readonly assignment: Readonly<Record<string, string | number | boolean>>;
  /** false when a job with this id was already on the queue (queued or run before). */
  readonly added: boolean;
}

export interface QueuedSweepResult {
  readonly sweepRunId: string;
  readonly location: string;
  readonly reattached: boolean;
  readonly jobs: readonly EnqueuedJob[];
  /** Set when waited for. */
  readonly rows?: readonly SweepRow[];
  readonly best?: SweepRow;
  readonly results?: readonly RunJobResult[];
  readonly table?: string;
  readonly outDir?: string;
  readonly plot?: string;
}

/**
 * The warning for a config that carries a credential (user info in a URL, a key naming a secret, the tracker's
 * `secretKeys`), which each job's data holds as written in Redis; undefined when it carries none.
 */
export function credentialWarning(exp: Experiment): string | undefined {
  const secretKeys = exp.tracker.options.secretKeys;
  const paths = Array.isArray(secretKeys) ? secretKeys.map(String) : [];
  if (JSON.stringify(withoutSecrets(exp.resolved, paths)) === JSON.stringify(exp.resolved)) return undefined;
  return (
    'the config carries a credential, which every queued job holds as written in Redis: give each worker ' +
    'MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) in its environment instead'
  );
}

export async function enqueueSweep(file: string, opts: EnqueueOptions): Promise<QueuedSweepResult> {
  const url = parseQueueUrl(opts.queue);
  const log = opts.logger;
  const libs = await loadQueueLibs();
  await probeRedis(libs, url);
  const metric = opts.metric ?? 'H';
  const s = await prepareSweep(file, opts);
  const { keys, grid, points, exps } = s;
  const secret = credentialWarning(exps[0]);
  if (secret) log.warn(secret);
  const parentTags = { [SWEEP_TAGS.params]: keys.join(','), [SWEEP_TAGS.queue]: displayQueueUrl(url), ...ownerTags() };
  const opened = await openSweepParent(exps[0], s.tracker, s.sweepHash, parentTags);
  // interrupted while waiting: the lifecycle ends the parent KILLED (a rerun attaches to it); jobs stay queued
  const parent = lifecycle.opened(opened.run);
  const reattached = opened.reattached;
  if (reattached) log.info(`sweep ${s.sweepHash.slice(0, 8)}: attached to its run ${parent.runId}`);
  const connection = queueConnection(libs, url, (l) => log.warn(l));
  const queue = new libs.Queue<RunJobData, RunJobResult>(opts.queueName ?? DEFAULT_QUEUE_NAME, { connection });
  try {
    await parent.logParams(Object.fromEntries(keys.map((k) => [`sweep.${k}`, grid[k].map(String).join(',')])));
    const jobs: EnqueuedJob[] = [];
    for (const [i, exp] of exps.entries()) {
      const jobId = jobIdFor(exp.hash);
      const name = pointName(keys, points[i]);
      let existing = await queue.getJob(jobId);
      const state = existing ? await existing.getState() : undefined;
      if (existing && opts.force && (state === 'completed' || state === 'failed')) {
        await existing.remove();
        existing = undefined;
      }
      const data: RunJobData = {
        file,
        text: s.text,
        overrides: exp.overrides,
        hash: exp.hash,
        assignment: points[i],
        parentRunId: parent.runId,
        sweepHash: s.sweepHash,
        runName: name,
        tags: pointTags(s, i),
      };
      if (existing && state === 'failed') await existing.retry('failed');
      if (!existing) {
        const keep = { age: 7 * 86400 };
        await queue.add('run', data, {
          jobId,
          attempts: opts.attempts ?? 3,
          backoff: { type: 'exponential', delay: opts.backoffMs ?? 5000 },
          removeOnComplete: keep,
          removeOnFail: keep,
        });
      }
      jobs.push({ jobId, hash: exp.hash, name, assignment: points[i], added: !existing });
      log.info(
        `queued ${i + 1}/${exps.length} ${name} (job ` +
          `${jobId})${
            existing
              ? ` — already on the queue ` + `(${state}${state === 'completed' ? '; --force runs it again' : ''})`
              : ''
          }`,
      );
    }
    if (opts.wait === false) return { sweepRunId: parent.runId, location: parent.location, reattached, jobs };

    const progress = new SweepProgress(jobs.length, 1, opts.progress ?? ((l) => log.info(l)));
    const results = await waitForJobs(jobs, (id) => queue.getJob(id), opts.pollMs ?? 1000, progress);
    const { summary, outDir, plot } = await finishSweep(s, parent, metric, results);
    return {
      sweepRunId: parent.runId,
      location: parent.location,
      reattached,
      jobs,
      rows: summary.rows,
      best: summary.best,
      results,
      table: summary.table,
      outDir,
      plot,
    };
  } catch (e) {
    await parent.end('FAILED').catch(() => undefined);
    throw e;
  } finally {
    await queue.close().catch(() => undefined);
    await connection.quit().catch(() => connection.disconnect());
  }
}

/**
 * Polls until every job completed (results in the order of `jobs`), printing a progress line whenever the
 * counts change; a job failed after its attempts is a StateError.
 */
export async function waitForJobs(
  jobs: readonly Pick<EnqueuedJob, 'jobId' | 'name'>[],
  get: (id: string) => Promise<BullJob<RunJobData, RunJobResult> | undefined>,
  pollMs: number,
  progress: SweepProgress,
): Promise<RunJobResult[]> {
  const done = new Map<string, RunJobResult>();
  const seconds: number[] = [];
  let active = new Set<string>();
  for (;;) {
    const nowActive = new Set<string>();
    const events: string[] = [];
    for (const j of jobs) {
      if (done.has(j.jobId)) continue;
      const job = await get(j.jobId);
      if (!job)
        throw new StateError(
          `job ${j.jobId} (${j.name}) vanished from the queue (removed by someone else?); rerun the sweep to ` +
            `queue it again`,
        );
      const state = await job.getState();
      if (state === 'failed') {
        progress.set(done.size, nowActive.size, 1);
        progress.failed(j.name, job.failedReason ?? 'unknown reason');
        throw new StateError(
          `run ${j.name} (job ${j.jobId}) failed after ${job.attemptsMade} attempt(s): ` +
            `${job.failedReason ?? 'unknown reason'} (see the worker's log; rerun the sweep to retry it)`,
        );
      }
      if (state === 'completed' && job.returnvalue) {
        done.set(j.jobId, job.returnvalue);
        seconds.push(job.returnvalue.seconds);
        events.push(`finished ${j.name} on ${job.returnvalue.worker} in ${job.returnvalue.seconds.toFixed(1)}s`);
      } else if (state === 'active') {
        nowActive.add(j.jobId);
        if (!active.has(j.jobId)) events.push(`started ${j.name}`);
      }
    }
    active = nowActive;
    for (const e of events) {
      progress.set(done.size, active.size, 0);
      progress.observe(seconds, active.size);
      progress.emit(e);
    }
    if (done.size === jobs.length) return jobs.map((j) => done.get(j.jobId)!);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
