/**
 * The slice of BullMQ (6.x) and ioredis (6.x) the queue uses, typed here because neither package is a
 * dependency yet: they are loaded with a dynamic import() on first use, so every other command works
 * without them and a missing install is one clear user error.
 */
import { UsageError } from '@niwt/core';
import { displayQueueUrl, probeRedisUrl } from './redis-probe.js';

export const QUEUE_PACKAGES = { bullmq: '6.7.0', ioredis: '6.0.0' } as const;

export interface RedisConnection {
  quit(): Promise<unknown>;
  disconnect(): void;
  connect(): Promise<void>;
  ping(): Promise<string>;
  on(event: 'error', listener: (e: Error) => void): this;
  on(event: 'ready', listener: () => void): this;
}

export interface RedisOptions {
  /** null for BullMQ's blocking connections (they wait for Redis to come back); 0 for a probe. */
  readonly maxRetriesPerRequest: number | null;
  readonly lazyConnect?: boolean;
  readonly enableOfflineQueue?: boolean;
  readonly connectTimeout?: number;
  /** Milliseconds before the next reconnect, or null to give up. */
  readonly retryStrategy?: (times: number) => number | null;
}

export type RedisConstructor = new (url: string, options: RedisOptions) => RedisConnection;

export type JobState =
  'completed' | 'failed' | 'active' | 'delayed' | 'prioritized' | 'waiting' | 'waiting-children' | 'unknown';

export interface BullJob<D, R> {
  readonly id?: string;
  readonly data: D;
  readonly attemptsMade: number;
  readonly returnvalue: R | null;
  readonly failedReason?: string;
  /** What the worker last reported (updateProgress). */
  readonly progress?: unknown;
  getState(): Promise<JobState>;
  retry(state?: 'failed' | 'completed'): Promise<void>;
  remove(): Promise<void>;
  updateProgress(progress: object | number): Promise<void>;
  moveToDelayed(timestamp: number, token?: string): Promise<void>;
}

export interface AddOptions {
  readonly jobId: string;
  readonly attempts: number;
  readonly backoff: { readonly type: 'exponential' | 'fixed'; readonly delay: number };
  readonly removeOnComplete?: boolean | { readonly age?: number; readonly count?: number };
  readonly removeOnFail?: boolean | { readonly age?: number; readonly count?: number };
}

export interface BullQueue<D, R> {
  add(name: string, data: D, opts: AddOptions): Promise<BullJob<D, R>>;
  getJob(id: string): Promise<BullJob<D, R> | undefined>;
  getJobCounts(...types: string[]): Promise<Record<string, number>>;
  close(): Promise<void>;
}

export interface WorkerOptions {
  readonly connection: RedisConnection;
  readonly concurrency: number;
  readonly lockDuration: number;
  readonly stalledInterval: number;
  readonly maxStalledCount: number;
  readonly autorun?: boolean;
}

export interface BullWorker<D, R> {
  on(event: 'failed', listener: (job: BullJob<D, R> | undefined, error: Error) => void): this;
  on(event: 'completed', listener: (job: BullJob<D, R>, result: R) => void): this;
  on(event: 'stalled', listener: (jobId: string) => void): this;
  on(event: 'error', listener: (error: Error) => void): this;
  waitUntilReady(): Promise<unknown>;
  close(force?: boolean): Promise<void>;
}

export interface QueueLibs {
  readonly Redis: RedisConstructor;
  readonly Queue: new <D, R>(name: string, opts: { connection: RedisConnection }) => BullQueue<D, R>;
  readonly Worker: new <D, R>(
    name: string,
    processor: (job: BullJob<D, R>, token?: string) => Promise<R>,
    opts: WorkerOptions,
  ) => BullWorker<D, R>;
  /** Thrown by a processor: fail the job now, without the remaining attempts. */
  readonly UnrecoverableError: new (message?: string) => Error;
  /** Thrown by a processor after `job.moveToDelayed`: the job waits again without using an attempt. */
  readonly DelayedError: new (message?: string) => Error;
}

const MISSING =
  `the distributed sweep needs bullmq@${QUEUE_PACKAGES.bullmq} and ioredis@${QUEUE_PACKAGES.ioredis}: add ` +
  `"bullmq": "${QUEUE_PACKAGES.bullmq}" and "ioredis": "${QUEUE_PACKAGES.ioredis}" to apps/runner/package.json ` +
  `dependencies and run npm install`;

async function importOptional(name: string): Promise<Record<string, unknown>> {
  try {
    const mod: unknown = await import(name);
    return mod as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(`${MISSING} (import('${name}') failed: ${(e as Error).message.split('\n')[0]})`, { cause: e });
  }
}

let loaded: QueueLibs | undefined;

/** Loads bullmq and ioredis once; a missing or unexpected package is a UsageError naming what to add. */
export async function loadQueueLibs(): Promise<QueueLibs> {
  if (loaded) return loaded;
  const bull = await importOptional('bullmq');
  const redis = await importOptional('ioredis');
  const Redis = redis.Redis ?? redis.default;
  const classes = [
    ['bullmq.Queue', bull.Queue],
    ['bullmq.Worker', bull.Worker],
    ['bullmq.UnrecoverableError', bull.UnrecoverableError],
    ['bullmq.DelayedError', bull.DelayedError],
    ['ioredis.Redis', Redis],
  ] as const;
  for (const [name, v] of classes) {
    if (typeof v !== 'function') throw new UsageError(`${MISSING} (${name} is not a class in the installed version)`);
  }
  loaded = {
    Redis: Redis as RedisConstructor,
    Queue: bull.Queue as QueueLibs['Queue'],
    Worker: bull.Worker as QueueLibs['Worker'],
    UnrecoverableError: bull.UnrecoverableError as QueueLibs['UnrecoverableError'],
    DelayedError: bull.DelayedError as QueueLibs['DelayedError'],
  };
  return loaded;
}

/** `redis://[user:pass@]host:port[/db]` (or rediss://); anything else is a UsageError. */
export function parseQueueUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`--queue ${JSON.stringify(url)}: expected redis://host:port`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new UsageError(`--queue ${JSON.stringify(url)}: expected redis://host:port (got ${u.protocol})`);
  return url;
}

export { displayQueueUrl };

/** An unreachable Redis is one UsageError line (exit 2) before anything is created, not endless retries. */
export async function probeRedis(libs: QueueLibs, url: string, timeoutMs = 5000): Promise<void> {
  const problem = await probeRedisUrl(libs.Redis as unknown as Parameters<typeof probeRedisUrl>[0], url, timeoutMs);
  if (problem) throw new UsageError(problem);
}

/** BullMQ's connection: waits for Redis to come back, and says so once per outage instead of once per retry. */
export function queueConnection(libs: QueueLibs, url: string, say: (line: string) => void): RedisConnection {
  const connection = new libs.Redis(url, { maxRetriesPerRequest: null });
  let down = false;
  connection.on('error', (e) => {
    if (!down) say(`lost Redis at ${displayQueueUrl(url)} (${e.message.split('\n')[0]}); retrying until it is back`);
    down = true;
  });
  connection.on('ready', () => {
    if (down) say(`Redis at ${displayQueueUrl(url)} is back`);
    down = false;
  });
  return connection;
}
