/**
 * The slice of BullMQ (6.x) and ioredis (6.x) the queue uses, typed here because neither package is a
 * dependency yet: they are loaded with a dynamic import() on first use, so every other command works
 * without them and a missing install is one clear user error.
 */
import { UsageError } from '@niwt/core';

export const QUEUE_PACKAGES = { bullmq: '6.7.0', ioredis: '6.0.0' } as const;

export interface RedisConnection {
  quit(): Promise<unknown>;
  disconnect(): void;
}

export type RedisConstructor = new (url: string, options: { maxRetriesPerRequest: null; lazyConnect?: boolean }) => RedisConnection;

export type JobState = 'completed' | 'failed' | 'active' | 'delayed' | 'prioritized' | 'waiting' | 'waiting-children' | 'unknown';

export interface BullJob<D, R> {
  readonly id?: string;
  readonly data: D;
  readonly attemptsMade: number;
  readonly returnvalue: R | null;
  readonly failedReason?: string;
  getState(): Promise<JobState>;
  retry(state?: 'failed' | 'completed'): Promise<void>;
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
  readonly Worker: new <D, R>(name: string, processor: (job: BullJob<D, R>) => Promise<R>, opts: WorkerOptions) => BullWorker<D, R>;
  /** Thrown by a processor: fail the job now, without the remaining attempts. */
  readonly UnrecoverableError: new (message?: string) => Error;
}

const MISSING = `the distributed sweep needs bullmq@${QUEUE_PACKAGES.bullmq} and ioredis@${QUEUE_PACKAGES.ioredis}: add "bullmq": "${QUEUE_PACKAGES.bullmq}" and "ioredis": "${QUEUE_PACKAGES.ioredis}" to apps/runner/package.json dependencies and run npm install`;

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
  for (const [name, v] of [['bullmq.Queue', bull.Queue], ['bullmq.Worker', bull.Worker], ['bullmq.UnrecoverableError', bull.UnrecoverableError], ['ioredis.Redis', Redis]] as const) {
    if (typeof v !== 'function') throw new UsageError(`${MISSING} (${name} is not a class in the installed version)`);
  }
  loaded = { Redis: Redis as RedisConstructor, Queue: bull.Queue as QueueLibs['Queue'], Worker: bull.Worker as QueueLibs['Worker'], UnrecoverableError: bull.UnrecoverableError as QueueLibs['UnrecoverableError'] };
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
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new UsageError(`--queue ${JSON.stringify(url)}: expected redis://host:port (got ${u.protocol})`);
  return url;
}
