/**
 * A `Tracker` for MLflow tracking servers. Every call is validated, appended to the run's spool on
 * disk and acknowledged at once; a background flusher replays the spool to the server, and `end()`
 * replays what is left. When the server is down the experiment keeps running: the spool is replayed
 * by the next `end()` or by `niwt runs sync`.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  TrackingError,
  silentLogger,
  type Logger,
  type RunStatus,
  type StartRunOptions,
  type TrackedRun,
  type Tracker,
} from '@niwt/core';
import { parseServerUri, type ServerUri } from './credentials.js';
import { MLFLOW_TAGS } from './file-store.js';
import { MlflowRestClient } from './rest/client.js';
import { DEFAULT_RETRY, MlflowHttpError, type RetryPolicy } from './rest/http.js';
import { toWireDouble } from './rest/types.js';
import { initialState, SpoolRun, type SpoolOp } from './spool/spool.js';
import { Syncer } from './spool/sync.js';
import { PROBE_TIMEOUT_MS, probeClient, probeServer } from './probe.js';
import {
  normalizeArtifactPath,
  paramToString,
  validateExperimentName,
  validateKey,
  validateMetric,
  validateParamValue,
  validateRunId,
  validateTagValue,
} from './validation.js';

export interface RestTrackerOptions {
  /** `http(s)://[user:pass@]host:port[/prefix]`. */
  readonly uri: string;
  /** Absolute spool folder. */
  readonly spoolDir: string;
  /** Per HTTP attempt. */
  readonly timeoutMs?: number;
  /** Total time for one call including retries, at the end of a run and in `niwt runs sync`. */
  readonly retryBudgetMs?: number;
  /** Milliseconds between background flushes while a run is logging. */
  readonly flushIntervalMs?: number;
  readonly logger?: Logger;
  readonly user?: string;
  readonly sourceName?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => number;
}

/** Background flushes give up sooner than the final sync: they must not delay `end()` much. */
const LIVE_BUDGET_MS = 5_000;
const MAX_OFFLINE_MS = 30_000;

export function makeClient(server: ServerUri, timeoutMs: number, retry: RetryPolicy): MlflowRestClient {
  return new MlflowRestClient({ baseUrl: server.baseUrl, credentials: server.credentials, timeoutMs, retry });
}

export class RestTracker implements Tracker {
  readonly server: ServerUri;
  readonly spoolDir: string;
  /** Full retry budget: the end of a run, reads in tests. */
  readonly client: MlflowRestClient;
  /** Used at the end of a run (full retry budget). */
  readonly syncer: Syncer;
  /** Used by background flushes (short budget). */
  readonly liveSyncer: Syncer;
  /** One attempt of at most PROBE_TIMEOUT_MS: is the server there at the end of a run? */
  private readonly probe: MlflowRestClient;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly user: string;
  private readonly sourceName: string;
  private readonly flushIntervalMs: number;
  private readonly runs = new Map<string, RestTrackedRun>();
  private offlineUntil = 0;
  private failures = 0;
  private warned = false;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(readonly options: RestTrackerOptions) {
    this.server = parseServerUri(options.uri, options.env ?? process.env);
    this.spoolDir = options.spoolDir;
    const timeout = options.timeoutMs ?? 30_000;
    const budget = options.retryBudgetMs ?? DEFAULT_RETRY.budgetMs;
    const full = (this.client = makeClient(this.server, timeout, { ...DEFAULT_RETRY, budgetMs: budget }));
    const live = makeClient(this.server, Math.min(timeout, LIVE_BUDGET_MS), {
      ...DEFAULT_RETRY,
      budgetMs: Math.min(budget, LIVE_BUDGET_MS),
    });
    const envFor = (fallback: MlflowRestClient) => (uri: string) =>
      uri === this.server.baseUrl
        ? fallback
        : makeClient(parseServerUri(uri, options.env ?? process.env), timeout, { ...DEFAULT_RETRY, budgetMs: budget });
    this.probe = probeClient(this.server, Math.min(timeout, PROBE_TIMEOUT_MS));
    this.syncer = new Syncer(envFor(full), this.spoolDir);
    this.liveSyncer = new Syncer(envFor(live), this.spoolDir);
    this.log = options.logger ?? silentLogger;
    this.now = options.now ?? Date.now;
    this.user = options.user ?? safeUser();
    this.sourceName = options.sourceName ?? (process.argv[1] ? path.resolve(process.argv[1]) : 'niwt');
    this.flushIntervalMs = options.flushIntervalMs ?? 1_000;
  }

  async startRun(options: StartRunOptions): Promise<TrackedRun> {
    validateExperimentName(options.experiment);
    const userTags = { ...(options.tags ?? {}) };
    for (const [k, v] of Object.entries(userTags)) {
      validateKey('tag', k);
      validateTagValue(k, v);
    }
    if (options.parentRunId !== undefined) validateRunId('parentRunId', options.parentRunId);
    const key = randomUUID().replace(/-/g, '');
    const runName = options.runName ?? userTags[MLFLOW_TAGS.runName] ?? `run-${key.slice(0, 8)}`;
    const parent =
      options.parentRunId === undefined
        ? undefined
        : [...this.runs.values()].find((r) => r.runId === options.parentRunId || r.spool.key === options.parentRunId);
    const tags: Record<string, string> = {
      [MLFLOW_TAGS.runName]: runName,
      [MLFLOW_TAGS.user]: this.user,
      [MLFLOW_TAGS.sourceType]: 'LOCAL',
      [MLFLOW_TAGS.sourceName]: this.sourceName,
      ...userTags,
    };
    for (const [k, v] of Object.entries(tags)) validateTagValue(k, v);
    const spool = await SpoolRun.create(this.spoolDir, {
      version: 1,
      key,
      uri: this.server.baseUrl,
      experiment: options.experiment,
      runName,
      startTime: Math.trunc(this.now()),
      user: this.user,
      tags,
      ...(parent
        ? { parentKey: parent.spool.key }
        : options.parentRunId !== undefined
          ? { parentRunId: options.parentRunId }
          : {}),
    });
    let runId = key;
    let experimentId = '';
    let location = spool.dir;
    if (this.online()) {
      try {
        const state = await this.liveSyncer.ensureCreated(spool);
        runId = state.runId ?? key;
        experimentId = state.experimentId ?? '';
        location = `${this.server.baseUrl}/#/experiments/${experimentId}/runs/${runId}`;
        this.succeeded();
      } catch (e) {
        if (!(e instanceof MlflowHttpError && e.transient)) {
          await fs.rm(spool.dir, { recursive: true, force: true });
          throw e;
        }
        this.failed(e);
      }
    }
    const run = new RestTrackedRun(this, spool, runId, experimentId, location, parent === undefined, this.now);
    this.runs.set(key, run);
    return run;
  }

  /**
   * Reopens a server run (`niwt run --resume`): `runs/update` sets it RUNNING again (MLflow keeps the old
   * end_time until the run ends again), and a fresh spool bound to the same run id carries what is logged
   * next. Needs the server: a run that cannot be read cannot be continued.
   */
  async resumeRun(runId: string): Promise<TrackedRun> {
    validateRunId('run id', runId);
    let stored;
    try {
      stored = await this.client.getRun(runId);
      await this.client.updateRun(runId, 'RUNNING');
    } catch (e) {
      throw new TrackingError(
        `resumeRun: cannot reopen run ${runId} on ${this.server.baseUrl}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    const info = stored.info;
    const parentRunId = stored.data.tags?.find((t) => t.key === MLFLOW_TAGS.parentRunId)?.value;
    const parent = parentRunId === undefined ? undefined : [...this.runs.values()].find((r) => r.runId === parentRunId);
    const key = randomUUID().replace(/-/g, '');
    const spool = await SpoolRun.create(this.spoolDir, {
      version: 1,
      key,
      uri: this.server.baseUrl,
      experiment: info.experiment_id,
      runName: info.run_name ?? runId,
      startTime: info.start_time ?? Math.trunc(this.now()),
      user: this.user,
      tags: {},
      ...(parent ? { parentKey: parent.spool.key } : parentRunId !== undefined ? { parentRunId } : {}),
    });
    // Bound to the existing run: the syncer never creates it again.
    await spool.saveState({
      ...initialState(),
      runId,
      experimentId: info.experiment_id,
      artifactUri: info.artifact_uri,
    });
    const location = `${this.server.baseUrl}/#/experiments/${info.experiment_id}/runs/${runId}`;
    const run = new RestTrackedRun(this, spool, runId, info.experiment_id, location, parent === undefined, this.now);
    this.runs.set(key, run);
    return run;
  }

  private online(): boolean {
    return this.now() >= this.offlineUntil;
  }

  private succeeded(): void {
    this.failures = 0;
    this.offlineUntil = 0;
  }

  private failed(e: unknown, warn = true): void {
    this.failures++;
    this.offlineUntil = this.now() + Math.min(MAX_OFFLINE_MS, 1_000 * 2 ** this.failures);
    if (warn && !this.warned) {
      this.warned = true;
      this.log.warn(
        `tracking: ${(e as Error).message}; logging continues into the spool ${this.spoolDir} and is ` +
          `replayed at the end of the run or by 'niwt runs sync'`,
      );
    }
  }

  /** Called after each spooled call: flushes in the background, at most once per interval. */
  schedule(): void {
    if (this.timer !== undefined || this.flushing !== undefined) return;
    const wait = Math.max(this.flushIntervalMs, this.offlineUntil - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushing = this.flushOpen().finally(() => {
        this.flushing = undefined;
      });
    }, wait);
    this.timer.unref();
  }

  private async flushOpen(): Promise<void> {
    if (!this.online()) return;
    for (const run of this.runs.values()) {
      if (run.ended) continue;
      try {
        await this.liveSyncer.syncRun(run.spool);
        this.succeeded();
      } catch (e) {
        if (e instanceof MlflowHttpError && e.transient) {
          this.failed(e);
          return;
        }
        this.log.warn(`tracking: run ${run.runId} cannot be replayed: ${(e as Error).message}`);
        return;
      }
    }
  }

  /**
   * End of a run: replay what is left. A root run replays its whole family (children whose own end
   * found the server down). Never throws for an unreachable server: the spool keeps everything.
   */
  async finish(run: RestTrackedRun): Promise<void> {
    if (this.timer !== undefined && run.root) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    await this.flushing;
    if (!run.root && !this.online()) return;
    const family = run.root ? [...this.runs.values()].filter((r) => r.ended) : [run];
    // One quick probe finds a down server; the replay's retry budget is for a server that answers.
    const down = await probeServer(this.probe).catch(() => undefined);
    if (down !== undefined) {
      this.failed(down, false);
      if (run.root) {
        this.log.warn(
          `tracking server ${this.server.baseUrl} unreachable: run ${run.runId} spooled to ${run.spool.dir}; ` +
            `push it later with niwt runs sync`,
        );
        for (const r of family) this.runs.delete(r.spool.key);
      }
      return;
    }
    const pending: string[] = [];
    for (const r of family) {
      try {
        if (!(await this.syncer.syncRun(r.spool))) pending.push(r.spool.key);
        this.succeeded();
      } catch (e) {
        pending.push(r.spool.key);
        if (e instanceof MlflowHttpError && e.transient) this.failed(e);
        else this.log.warn(`tracking: run ${r.runId} cannot be replayed: ${(e as Error).message}`);
        if (!this.online()) break;
      }
    }
    if (run.root && pending.length > 0) {
      this.log.warn(
        `tracking: ${this.server.baseUrl} not reachable; the run is safe in ${this.spoolDir}. Replay it ` +
          `with: niwt runs sync`,
      );
    }
    if (run.root) for (const r of family) this.runs.delete(r.spool.key);
  }
}

function safeUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? 'unknown';
  }
}

export class RestTrackedRun implements TrackedRun {
  private tail: Promise<unknown> = Promise.resolve();
  private readonly params = new Map<string, string>();
  private seq = 0;
  ended = false;

  constructor(
    private readonly tracker: RestTracker,
    readonly spool: SpoolRun,
    readonly runId: string,
    readonly experimentId: string,
    readonly location: string,
    readonly root: boolean,
    private readonly now: () => number,
  ) {}

  /** Appends in call order; validation already happened synchronously in the caller. */
  private enqueue(fn: () => Promise<void>): Promise<void> {
    if (this.ended)
      return Promise.reject(new TrackingError(`run ${this.runId} has ended; start a new run to log more`));
    const next = this.tail.then(fn);
    this.tail = next.catch(() => undefined);
    return next.then(() => this.tracker.schedule());
  }

  private append(op: SpoolOp): Promise<void> {
    return this.enqueue(() => this.spool.append(op));
  }

  async logParams(params: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    const items = Object.entries(params).map(([key, v]) => {
      validateKey('param', key);
      const value = paramToString(key, v);
      validateParamValue(key, value);
      const old = this.params.get(key);
      if (old !== undefined && old !== value) {
        throw new TrackingError(
          `param ${JSON.stringify(key)} was already logged with value ${JSON.stringify(old)} for run ` +
            `${this.runId}; params cannot change, log it as a metric or tag`,
        );
      }
      return { key, value };
    });
    for (const { key, value } of items) this.params.set(key, value);
    return this.append({ t: 'entities', params: items });
  }

  async logMetrics(metrics: Readonly<Record<string, number>>, step = 0): Promise<void> {
    const timestamp = Math.trunc(this.now());
    const items = Object.entries(metrics).map(([key, value]) => {
      validateKey('metric', key);
      validateMetric(key, value, step);
      return { key, value: toWireDouble(value), timestamp, step };
    });
    return this.append({ t: 'entities', metrics: items });
  }

  async setTags(tags: Readonly<Record<string, string>>): Promise<void> {
    const items = Object.entries(tags).map(([key, value]) => {
      validateKey('tag', key);
      validateTagValue(key, value);
      return { key, value };
    });
    return this.append({ t: 'entities', tags: items });
  }

  /** Copies the file (or a folder's files) into the spool now: the caller may delete it afterwards. */
  async logArtifact(localPath: string, artifactPath?: string): Promise<void> {
    const sub = normalizeArtifactPath(artifactPath ?? '', true);
    return this.enqueue(async () => {
      const stat = await fs.stat(localPath).catch((e: unknown) => {
        throw new TrackingError(
          `logArtifact: cannot read ${localPath} (${(e as Error).message}); check that the file was written`,
          { cause: e },
        );
      });
      const files = stat.isDirectory()
        ? (await fs.readdir(localPath, { recursive: true, withFileTypes: true }))
            .filter((d) => d.isFile())
            .map((d) => path.relative(localPath, path.join(d.parentPath, d.name)))
        : [path.basename(localPath)];
      for (const rel of files) {
        const src = stat.isDirectory() ? path.join(localPath, rel) : localPath;
        const dest = [sub, rel.split(path.sep).join('/')].filter((s) => s !== '').join('/');
        const file = `files/${this.seq++}/${path.basename(rel)}`;
        await fs.mkdir(path.dirname(path.join(this.spool.dir, file)), { recursive: true });
        await fs.copyFile(src, path.join(this.spool.dir, file));
        await this.spool.append({ t: 'artifact', file, path: dest });
      }
    });
  }

  async logText(artifactPath: string, text: string): Promise<void> {
    const rel = normalizeArtifactPath(artifactPath, false);
    return this.enqueue(async () => {
      const file = `files/${this.seq++}/${path.posix.basename(rel)}`;
      await fs.mkdir(path.dirname(path.join(this.spool.dir, file)), { recursive: true });
      await fs.writeFile(path.join(this.spool.dir, file), text);
      await this.spool.append({ t: 'artifact', file, path: rel });
    });
  }

  /** Spools the end, then replays (see RestTracker.finish); resolves even when the server is down. */
  async end(status: Exclude<RunStatus, 'RUNNING'>): Promise<void> {
    if (status !== 'FINISHED' && status !== 'FAILED' && status !== 'KILLED') {
      throw new TrackingError(`end: status must be FINISHED, FAILED or KILLED, got ${JSON.stringify(status)}`);
    }
    if (this.ended) {
      // The runner ends open runs with FAILED after an error; a second end updates the status.
      await this.spool.append({ t: 'end', status, endTime: Math.trunc(this.now()) });
    } else {
      await this.tail;
      this.ended = true;
      await this.spool.append({ t: 'end', status, endTime: Math.trunc(this.now()) });
    }
    await this.tracker.finish(this);
  }
}
