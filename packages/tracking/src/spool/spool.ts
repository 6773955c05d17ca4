/**
 * The on-disk spool of a run logged to a tracking server. Everything a run logs is appended here
 * first, so the experiment never waits for, or fails because of, the network; the syncer replays it.
 *
 *   <spool>/<run key>/run.json    what runs/create needs (written once); no credentials
 *                     ops.jsonl   one line per call: entities (params/tags/metrics), artifact, end
 *                     files/      copies of logged artifacts
 *                     state.json  server run id, replay cursor (byte offset + item), in-flight batch
 *
 * The run key (a uuid, also sent as tag `niwt.run_key`) makes creation idempotent; the cursor and
 * the in-flight marker make replays idempotent (see sync.ts).
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { TrackingError } from '@niwt/core';
import { errno, writeFileAtomic } from '../atomic.js';
import type { KeyValue, RestRunStatus, WireMetric } from '../rest/types.js';

export const RUN_KEY_TAG = 'niwt.run_key';
export const DEFAULT_SPOOL_DIR = '.niwt/spool';

export interface SpoolMeta {
  readonly version: 1;
  readonly key: string;
  /** Tracking server, without user info. */
  readonly uri: string;
  readonly experiment: string;
  readonly runName: string;
  readonly startTime: number;
  readonly user: string;
  readonly tags: Readonly<Record<string, string>>;
  /** Key of the parent run when it is spooled too. */
  readonly parentKey?: string;
  /** Server id of a parent not in the spool. */
  readonly parentRunId?: string;
}

export type SpoolOp =
  | {
      readonly t: 'entities';
      readonly params?: readonly KeyValue[];
      readonly tags?: readonly KeyValue[];
      readonly metrics?: readonly WireMetric[];
    }
  | {
      readonly t: 'artifact';
      /** relative to the spool run dir, or absolute (push) */ readonly file: string;
      readonly path: string;
    }
  | { readonly t: 'end'; readonly status: RestRunStatus; readonly endTime: number };

export interface Cursor {
  /** Byte offset of the current op's line in ops.jsonl. */
  readonly offset: number;
  /** Items of that op already acknowledged. */
  readonly item: number;
}

export interface SpoolState {
  readonly runId?: string;
  readonly experimentId?: string;
  readonly artifactUri?: string;
  /** Incremented before each runs/create: > 0 means a run may exist on the server already. */
  readonly createAttempts: number;
  readonly cursor: Cursor;
  /** A batch sent without an answer: the server may hold it, so its metrics are checked before resending. */
  readonly inflight?: { readonly from: Cursor; readonly to: Cursor };
  /** The server run was found by key, not created here: check every metric against the server. */
  readonly adopted?: boolean;
  readonly done?: boolean;
  readonly lastError?: string;
}

export interface ReadOp {
  readonly op: SpoolOp;
  readonly offset: number;
  readonly next: number;
}

export class SpoolRun {
  constructor(readonly dir: string) {}

  get key(): string {
    return path.basename(this.dir);
  }

  static async create(spoolRoot: string, meta: SpoolMeta): Promise<SpoolRun> {
    const dir = path.join(spoolRoot, meta.key);
    try {
      await fs.mkdir(path.join(dir, 'files'), { recursive: true });
      await writeFileAtomic(path.join(dir, 'state.json'), JSON.stringify(initialState()), dir);
      await writeFileAtomic(path.join(dir, 'ops.jsonl'), '', dir);
      await writeFileAtomic(path.join(dir, 'run.json'), JSON.stringify(meta, null, 2), dir, { durable: true });
    } catch (e) {
      throw new TrackingError(
        `cannot create the tracking spool at ${dir}: ${(e as Error).message}; set tracking.spoolDir to a ` +
          `writable folder`,
        { cause: e },
      );
    }
    return new SpoolRun(dir);
  }

  async meta(): Promise<SpoolMeta> {
    return JSON.parse(await fs.readFile(path.join(this.dir, 'run.json'), 'utf8')) as SpoolMeta;
  }

  async state(): Promise<SpoolState> {
    try {
      return {
        ...initialState(),
        ...(JSON.parse(await fs.readFile(path.join(this.dir, 'state.json'), 'utf8')) as Partial<SpoolState>),
      };
    } catch (e) {
      if (errno(e) === 'ENOENT') return initialState();
      throw e;
    }
  }

  async saveState(s: SpoolState): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'state.json'), JSON.stringify(s), this.dir);
  }

  /** One line per call; a crash mid-append leaves a partial last line that readers ignore. */
  async append(op: SpoolOp): Promise<void> {
    await fs.appendFile(path.join(this.dir, 'ops.jsonl'), `${JSON.stringify(op)}\n`);
  }

  /** Ops whose line starts at or after `offset`, with their byte offsets. */
  async opsFrom(offset: number): Promise<ReadOp[]> {
    const buf = await fs.readFile(path.join(this.dir, 'ops.jsonl'));
    const out: ReadOp[] = [];
    let pos = offset;
    while (pos < buf.length) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break; // partial last line: not yet (or never) complete
      const line = buf.subarray(pos, nl).toString('utf8');
      try {
        out.push({ op: JSON.parse(line) as SpoolOp, offset: pos, next: nl + 1 });
      } catch (e) {
        throw new TrackingError(
          `${path.join(this.dir, 'ops.jsonl')}: unreadable line at byte ${pos}; the spool is damaged`,
          { cause: e },
        );
      }
      pos = nl + 1;
    }
    return out;
  }

  /** Absolute path of an artifact op's file. */
  file(op: { readonly file: string }): string {
    return path.isAbsolute(op.file) ? op.file : path.join(this.dir, op.file);
  }
}

export function initialState(): SpoolState {
  return { createAttempts: 0, cursor: { offset: 0, item: 0 } };
}

/** Items of an entities op, in replay order. */
export function opItems(
  op: Extract<SpoolOp, { t: 'entities' }>,
): ({ kind: 'param' | 'tag'; item: KeyValue } | { kind: 'metric'; item: WireMetric })[] {
  return [
    ...(op.params ?? []).map((item) => ({ kind: 'param' as const, item })),
    ...(op.tags ?? []).map((item) => ({ kind: 'tag' as const, item })),
    ...(op.metrics ?? []).map((item) => ({ kind: 'metric' as const, item })),
  ];
}

/** Spooled runs under `root` (folders with run.json), oldest first. */
export async function listSpoolRuns(root: string): Promise<SpoolRun[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (e) {
    if (errno(e) === 'ENOENT') return [];
    throw e;
  }
  const runs: { run: SpoolRun; start: number }[] = [];
  for (const d of entries) {
    if (!d.isDirectory()) continue;
    const run = new SpoolRun(path.join(root, d.name));
    try {
      runs.push({ run, start: (await run.meta()).startTime });
    } catch {
      // an interrupted create: no run.json yet
    }
  }
  return runs.sort((a, b) => a.start - b.start || a.run.key.localeCompare(b.run.key)).map((r) => r.run);
}
