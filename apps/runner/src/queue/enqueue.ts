/**
 * `niwt sweep --queue redis://…`: composes every grid point (so a bad value fails before anything is
 * queued), opens the sweep run, queues one job per point with jobId = config hash, and — unless told
 * not to — waits for the workers and writes the same summary artifacts as a local sweep.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, StateError, hashOf, readConfigSource, validateTopConfig, withoutSecrets, type Logger, type Tracker } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { expandGrid } from '../sweep.js';
import { summarizeSweep, writeSweepArtifacts, type SweepRow } from '../sweep-summary.js';
import { loadQueueLibs, parseQueueUrl, type BullJob } from './adapter.js';
import { DEFAULT_QUEUE_NAME, jobIdFor, type RunJobData, type RunJobResult } from './jobs.js';

export interface EnqueueOptions {
  /** redis://host:port */
  readonly queue: string;
  readonly queueName?: string;
  readonly overrides?: readonly string[];
  readonly metric?: 'H' | 's' | 'u' | 'zslT1';
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
}

export interface EnqueuedJob {
  readonly jobId: string;
  readonly hash: string;
  readonly assignment: Readonly<Record<string, string | number | boolean>>;
  /** false when a job with this id was already on the queue (queued or run before). */
  readonly added: boolean;
}

export interface QueuedSweepResult {
  readonly sweepRunId: string;
  readonly location: string;
  readonly jobs: readonly EnqueuedJob[];
  /** Set when waited for. */
  readonly rows?: readonly SweepRow[];
  readonly best?: SweepRow;
  readonly results?: readonly RunJobResult[];
  readonly table?: string;
}

const toOverride = (k: string, v: string | number | boolean): string => `${k}=${typeof v === 'string' ? JSON.stringify(v) : v}`;

export async function enqueueSweep(file: string, opts: EnqueueOptions): Promise<QueuedSweepResult> {
  const url = parseQueueUrl(opts.queue);
  const log = opts.logger;
  const libs = await loadQueueLibs();
  const metric = opts.metric ?? 'H';
  const text = opts.inlineText ?? (await fs.readFile(path.resolve(opts.cwd ?? process.cwd(), file), 'utf8'));
  const source = readConfigSource(file, opts.overrides ?? [], text);
  const top = validateTopConfig(source);
  if (!top.sweep || Object.keys(top.sweep).length === 0) throw new ConfigError(`${source.locate([])} sweep: missing; a sweep config lists values per dotted path, e.g. sweep: { methods.0.lambda: [0, 1e-4, 1e-3] }`);
  const grid = top.sweep;
  const keys = Object.keys(grid);
  const points = expandGrid(grid);
  const exps = [];
  for (const p of points) exps.push(await composeExperiment(file, { overrides: [...(opts.overrides ?? []), ...keys.map((k) => toOverride(k, p[k]))], cwd: opts.cwd, logger: log, inlineText: text }));
  const tracker = exps[0].registry.create(exps[0].tracker.spec, exps[0].tracker.options) as Tracker;
  // the points' experiment hashes, never the resolved config: it may hold a password
  const sweepHash = hashOf({ grid: withoutSecrets(grid), base: exps[0].hash });
  const parent = await tracker.startRun({ experiment: top.experiment, runName: `sweep-${sweepHash.slice(0, 8)}`, tags: { 'niwt.sweep': sweepHash, 'niwt.sweep.params': keys.join(','), 'niwt.sweep.queue': url.replace(/\/\/[^@/]*@/, '//***@') } });
  const connection = new libs.Redis(url, { maxRetriesPerRequest: null });
  const queue = new libs.Queue<RunJobData, RunJobResult>(opts.queueName ?? DEFAULT_QUEUE_NAME, { connection });
  try {
    await parent.logParams(Object.fromEntries(keys.map((k) => [`sweep.${k}`, grid[k].map(String).join(',')])));
    const jobs: EnqueuedJob[] = [];
    for (const [i, exp] of exps.entries()) {
      const jobId = jobIdFor(exp.hash);
      const existing = await queue.getJob(jobId);
      const data: RunJobData = { file, text, overrides: exp.overrides, hash: exp.hash, assignment: points[i], parentRunId: parent.runId, sweepHash };
      if (existing && (await existing.getState()) === 'failed') await existing.retry('failed');
      if (!existing) await queue.add('run', data, { jobId, attempts: opts.attempts ?? 3, backoff: { type: 'exponential', delay: opts.backoffMs ?? 5000 }, removeOnComplete: { age: 7 * 86400 }, removeOnFail: { age: 7 * 86400 } });
      jobs.push({ jobId, hash: exp.hash, assignment: points[i], added: !existing });
      log.info(`queued ${i + 1}/${exps.length} ${jobId}${existing ? ' (already on the queue)' : ''}: ${keys.map((k) => `${k}=${String(points[i][k])}`).join(' ')}`);
    }
    if (opts.wait === false) return { sweepRunId: parent.runId, location: parent.location, jobs };

    const results = await waitForJobs(jobs.map((j) => j.jobId), (id) => queue.getJob(id), opts.pollMs ?? 1000, log);
    const summary = summarizeSweep(keys, results.map((r, i) => ({ assignment: points[i], methods: r.methods })), metric);
    const outDir = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-sweep-'));
    await writeSweepArtifacts(outDir, {
      summary,
      metric,
      points,
      resolved: exps.map((e) => e.resolved),
      results: results.map((r, i) => ({ assignment: points[i], runId: r.runId, worker: r.worker, methods: r.methods })),
    });
    await parent.logArtifact(outDir, 'sweep');
    await fs.rm(outDir, { recursive: true, force: true });
    await parent.logMetrics({ [`best_${metric}`]: summary.best[metric] });
    await parent.end('FINISHED');
    return { sweepRunId: parent.runId, location: parent.location, jobs, rows: summary.rows, best: summary.best, results, table: summary.table };
  } catch (e) {
    await parent.end('FAILED').catch(() => undefined);
    throw e;
  } finally {
    await queue.close().catch(() => undefined);
    await connection.quit().catch(() => connection.disconnect());
  }
}

/** Polls until every job completed (in order of `ids`); a job failed after its attempts is a StateError. */
export async function waitForJobs(ids: readonly string[], get: (id: string) => Promise<BullJob<RunJobData, RunJobResult> | undefined>, pollMs: number, log: Logger): Promise<RunJobResult[]> {
  const done = new Map<string, RunJobResult>();
  for (;;) {
    for (const id of ids) {
      if (done.has(id)) continue;
      const job = await get(id);
      if (!job) throw new StateError(`job ${id} vanished from the queue (removed by someone else?); rerun the sweep to queue it again`);
      const state = await job.getState();
      if (state === 'failed') throw new StateError(`run ${id} failed after ${job.attemptsMade} attempt(s): ${job.failedReason ?? 'unknown reason'} (see the worker's log; rerun the sweep to retry it)`);
      if (state === 'completed' && job.returnvalue) {
        done.set(id, job.returnvalue);
        log.info(`done ${done.size}/${ids.length}: ${id} → run ${job.returnvalue.runId} on ${job.returnvalue.worker}`);
      }
    }
    if (done.size === ids.length) return ids.map((id) => done.get(id)!);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
