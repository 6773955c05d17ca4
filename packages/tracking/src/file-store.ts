/**
 * A `Tracker` that writes MLflow's FileStore layout (`./mlruns`) directly, so runs open in
 * `mlflow ui` without a server or Python at training time.
 *
 * Crash safety: a run is assembled under `<experiment>/.niwt-tmp-<run_id>/` (folders, tags), renamed
 * to `<run_id>/`, and only then gets its `meta.yaml`. MLflow skips a run folder without meta.yaml (at
 * debug level), so an interrupted start is invisible instead of breaking `mlflow ui`. Every meta.yaml,
 * param and tag is published by rename; metric points are single appended lines.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TrackingError, type RunStatus, type StartRunOptions, type TrackedRun, type Tracker } from '@niwt/core';
import { createFileExclusive, errno, TMP_PREFIX, writeFileAtomic } from './atomic.js';
import { isRecord, SOURCE_TYPE_LOCAL, statusCode, stringifyMeta, type RunMeta } from './meta.js';
import { fileUri, META_FILE, readYamlFile, StoreLayout, storeError } from './store.js';
import { resolveStoreRoot } from './uri.js';
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

/** MLflow's system tags (mlflow/utils/mlflow_tags.py). */
export const MLFLOW_TAGS = {
  runName: 'mlflow.runName',
  user: 'mlflow.user',
  sourceType: 'mlflow.source.type',
  sourceName: 'mlflow.source.name',
  gitCommit: 'mlflow.source.git.commit',
  parentRunId: 'mlflow.parentRunId',
} as const;

export interface FileStoreTrackerOptions {
  /** `user_id` and `mlflow.user`; defaults to the OS user, as MLflow does. */
  readonly user?: string;
  /** `mlflow.source.name`; defaults to the entry script (MLflow uses `sys.argv[0]`). */
  readonly sourceName?: string;
  /** Milliseconds since the epoch; injectable for tests. */
  readonly now?: () => number;
}

function defaultUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    // Containers without a passwd entry: MLflow falls back to "unknown" too.
    return process.env.USER ?? process.env.LOGNAME ?? 'unknown';
  }
}

const END_STATUSES: ReadonlySet<string> = new Set(['FINISHED', 'FAILED', 'KILLED']);

export class FileStoreTracker implements Tracker {
  /** Absolute path of the store (the `mlruns` folder). */
  readonly root: string;
  private readonly layout: StoreLayout;
  private readonly user: string;
  private readonly sourceName: string;
  private readonly now: () => number;

  constructor(root: string, options: FileStoreTrackerOptions = {}) {
    this.root = path.resolve(root);
    this.layout = new StoreLayout(this.root);
    this.user = options.user ?? defaultUser();
    this.sourceName = options.sourceName ?? (process.argv[1] ? path.resolve(process.argv[1]) : 'niwt');
    this.now = options.now ?? Date.now;
  }

  /** From a tracker `uri` (`file:./mlruns`, `file:///abs`, a path); relative paths resolve against `baseDir`. */
  static fromUri(uri: string, baseDir: string, options: FileStoreTrackerOptions = {}): FileStoreTracker {
    return new FileStoreTracker(resolveStoreRoot(uri, baseDir), options);
  }

  async startRun(options: StartRunOptions): Promise<FileStoreRun> {
    const userTags = { ...(options.tags ?? {}) };
    for (const [k, v] of Object.entries(userTags)) {
      validateKey('tag', k);
      validateTagValue(k, v);
    }
    const runName = options.runName ?? userTags[MLFLOW_TAGS.runName];
    if (
      options.runName !== undefined &&
      userTags[MLFLOW_TAGS.runName] !== undefined &&
      userTags[MLFLOW_TAGS.runName] !== options.runName
    ) {
      throw new TrackingError(
        `startRun: runName ${JSON.stringify(options.runName)} and tag ` +
          `${MLFLOW_TAGS.runName}=${JSON.stringify(userTags[MLFLOW_TAGS.runName])} differ; give only one`,
      );
    }
    if (options.parentRunId !== undefined) validateRunId('parentRunId', options.parentRunId);

    validateExperimentName(options.experiment);
    await this.layout.init();
    if (options.parentRunId !== undefined && !(await this.layout.findRunDir(options.parentRunId))) {
      throw new TrackingError(
        `startRun: parent run ${options.parentRunId} not found in ${this.root}; start the parent with the ` +
          `same tracking.uri first`,
      );
    }
    const experiment = await this.layout.getOrCreateExperiment(options.experiment);

    const runId = randomUUID().replace(/-/g, '');
    const name = runName ?? `run-${runId.slice(0, 8)}`;
    const dir = path.join(experiment.dir, runId);
    const meta: RunMeta = {
      artifact_uri: `${fileUri(dir)}/artifacts`,
      end_time: null,
      entry_point_name: '',
      experiment_id: experiment.meta.experiment_id,
      lifecycle_stage: 'active',
      run_id: runId,
      run_name: name,
      run_uuid: runId,
      source_name: '',
      source_type: SOURCE_TYPE_LOCAL,
      source_version: '',
      start_time: Math.trunc(this.now()),
      status: statusCode('RUNNING'),
      tags: [],
      user_id: this.user,
      deleted_time: null,
    };
    const tags: Record<string, string> = {
      [MLFLOW_TAGS.runName]: name,
      [MLFLOW_TAGS.user]: this.user,
      [MLFLOW_TAGS.sourceType]: 'LOCAL',
      [MLFLOW_TAGS.sourceName]: this.sourceName,
      ...(options.parentRunId !== undefined ? { [MLFLOW_TAGS.parentRunId]: options.parentRunId } : {}),
      ...userTags,
    };
    for (const [k, v] of Object.entries(tags)) validateTagValue(k, v);

    const staging = path.join(experiment.dir, `${TMP_PREFIX}${runId}`);
    let published = false;
    try {
      await fs.mkdir(staging);
      // MLflow's get_run requires metrics/, params/ and artifacts/ to exist (_is_valid_run_directory).
      for (const sub of ['metrics', 'params', 'artifacts', 'tags']) await fs.mkdir(path.join(staging, sub));
      for (const [k, v] of Object.entries(tags)) await writeFileAtomic(path.join(staging, 'tags', k), v, staging);
      await fs.rename(staging, dir);
      // Last: from here on MLflow sees the run.
      await writeFileAtomic(path.join(dir, META_FILE), stringifyMeta(meta), dir, { durable: true });
      published = true;
    } catch (e) {
      // An error (not a crash): remove what was prepared. A crash leaves folders MLflow skips.
      if (!published) {
        await fs.rm(staging, { recursive: true, force: true }).catch(() => undefined);
        await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
      throw e instanceof TrackingError
        ? e
        : storeError(`create run ${runId} of experiment ${JSON.stringify(options.experiment)}`, dir, e);
    }
    return new FileStoreRun(runId, experiment.meta.experiment_id, dir, this.now);
  }

  /**
   * Reopens a run of this store (`niwt run --resume`): status RUNNING, `end_time` cleared, same folder, so
   * params, tags, metrics and artifacts logged before are kept and new ones are added beside them.
   */
  async resumeRun(runId: string): Promise<FileStoreRun> {
    validateRunId('run id', runId);
    const dir = await this.layout.findRunDir(runId);
    if (!dir)
      throw new TrackingError(
        `resumeRun: run ${runId} not found in ${this.root}; resume with the same tracking.uri it was logged to`,
      );
    const file = path.join(dir, META_FILE);
    const current = await readYamlFile(file);
    if (!isRecord(current))
      throw new TrackingError(`resumeRun: ${file} is missing or unreadable; the run folder is damaged`);
    if (current.lifecycle_stage === 'deleted')
      throw new TrackingError(
        `resumeRun: run ${runId} is deleted; restore it in the MLflow UI or run the config again`,
      );
    const updated = { ...current, status: statusCode('RUNNING'), end_time: null };
    await writeFileAtomic(file, stringifyMeta(updated), dir, { durable: true }).catch((e: unknown) => {
      throw storeError(`reopen run ${runId}`, file, e);
    });
    return new FileStoreRun(runId, String(current.experiment_id), dir, this.now);
  }
}

/**
 * One run in a file store. Calls are serialised, so metric lines keep their call order and `end`
 * waits for pending writes. Every method is async, so a validation error is a rejection (never a
 * synchronous throw), and each call is queued synchronously, in call order.
 */
export class FileStoreRun implements TrackedRun {
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    readonly runId: string,
    readonly experimentId: string,
    /** The run folder. */
    readonly location: string,
    private readonly now: () => number = Date.now,
  ) {}

  private enqueue<T>(what: string, target: string, fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn).catch((e: unknown) => {
      throw e instanceof TrackingError ? e : storeError(`${what} of run ${this.runId}`, target, e);
    });
    this.tail = next.catch(() => undefined);
    return next;
  }

  async logParams(params: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    // Validate the whole batch first, as MLflow's log_batch does: a bad key writes nothing.
    const entries = Object.entries(params).map(([k, v]) => {
      validateKey('param', k);
      const value = paramToString(k, v);
      validateParamValue(k, value);
      return [k, value] as const;
    });
    return this.enqueue('log params', this.location, async () => {
      const existing = await Promise.all(
        entries.map(([k]) => {
          const file = path.join(this.location, 'params', k);
          return this.readIfExists(file).catch((e: unknown) => {
            throw keyWriteError('param', k, file, e);
          });
        }),
      );
      entries.forEach(([k, v], i) => this.checkParamUnchanged(k, existing[i], v));
      for (const [k, v] of entries) {
        const file = path.join(this.location, 'params', k);
        const created = await createFileExclusive(file, v, this.location).catch((e: unknown) => {
          throw keyWriteError('param', k, file, e);
        });
        if (!created) this.checkParamUnchanged(k, await this.readIfExists(file), v);
      }
    });
  }

  private checkParamUnchanged(key: string, old: string | undefined, value: string): void {
    if (old !== undefined && old !== value) {
      throw new TrackingError(
        `Changing param values is not allowed. Param with key=${JSON.stringify(key)} was already logged with ` +
          `value=${JSON.stringify(old)} ` +
          (`for run ID=${JSON.stringify(this.runId)}. Attempted logging new value ${JSON.stringify(value)}. ` +
            `Log it as a metric or tag, or start a new run.`),
      );
    }
  }

  private async readIfExists(file: string): Promise<string | undefined> {
    try {
      return await fs.readFile(file, 'utf8');
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw e;
    }
  }

  async logMetrics(metrics: Readonly<Record<string, number>>, step = 0): Promise<void> {
    const entries = Object.entries(metrics).map(([k, v]) => {
      validateKey('metric', k);
      validateMetric(k, v, step);
      return [k, v] as const;
    });
    const timestamp = Math.trunc(this.now());
    return this.enqueue('log metrics', this.location, async () => {
      for (const [k, v] of entries) {
        const file = path.join(this.location, 'metrics', k);
        try {
          await fs.mkdir(path.dirname(file), { recursive: true });
          await fs.appendFile(file, formatMetricLine(timestamp, v, step));
        } catch (e) {
          throw keyWriteError('metric', k, file, e);
        }
      }
    });
  }

  async setTags(tags: Readonly<Record<string, string>>): Promise<void> {
    const entries = Object.entries(tags).map(([k, v]) => {
      validateKey('tag', k);
      validateTagValue(k, v);
      return [k, v] as const;
    });
    return this.enqueue('set tags', this.location, async () => {
      for (const [k, v] of entries) {
        const file = path.join(this.location, 'tags', k);
        await writeFileAtomic(file, v, this.location).catch((e: unknown) => {
          throw keyWriteError('tag', k, file, e);
        });
      }
    });
  }

  /**
   * A file is copied to `artifacts/<artifactPath>/<basename>` (MLflow's `log_artifact`); a folder's
   * contents are copied under `artifacts/<artifactPath>/` (MLflow's `log_artifacts`).
   */
  async logArtifact(localPath: string, artifactPath?: string): Promise<void> {
    const sub = normalizeArtifactPath(artifactPath ?? '', true);
    const destDir = path.join(this.location, 'artifacts', sub);
    return this.enqueue('log artifact', destDir, async () => {
      const stat = await fs.stat(localPath).catch((e: unknown) => {
        throw new TrackingError(
          `logArtifact: cannot read ${localPath} (${errno(e) ?? (e as Error).message}); check that the file ` +
            `was written`,
          { cause: e },
        );
      });
      await fs.mkdir(destDir, { recursive: true });
      if (stat.isDirectory()) {
        await fs.cp(localPath, destDir, { recursive: true, force: true });
        return;
      }
      const tmp = path.join(this.location, `${TMP_PREFIX}${randomUUID().replace(/-/g, '')}`);
      try {
        await fs.copyFile(localPath, tmp);
        await fs.rename(tmp, path.join(destDir, path.basename(localPath)));
      } finally {
        await fs.rm(tmp, { force: true });
      }
    });
  }

  /** Writes `text` to `artifacts/<artifactPath>` (MLflow's `log_text`). */
  async logText(artifactPath: string, text: string): Promise<void> {
    const rel = normalizeArtifactPath(artifactPath, false);
    const file = path.join(this.location, 'artifacts', rel);
    return this.enqueue('log text', file, () => writeFileAtomic(file, text, this.location));
  }

  /** Sets the final status and end time; may be called again (e.g. FINISHED, then FAILED). */
  async end(status: Exclude<RunStatus, 'RUNNING'>): Promise<void> {
    if (!END_STATUSES.has(status)) {
      throw new TrackingError(`end: status must be FINISHED, FAILED or KILLED, got ${JSON.stringify(status)}`);
    }
    const file = path.join(this.location, META_FILE);
    return this.enqueue('end', file, async () => {
      // Re-read the file: the MLflow UI may have renamed or deleted the run meanwhile.
      const current = await readYamlFile(file);
      if (!isRecord(current))
        throw new TrackingError(`end: ${file} is missing or unreadable; was the run folder moved or deleted?`);
      const updated = { ...current, status: statusCode(status), end_time: Math.trunc(this.now()) };
      await writeFileAtomic(file, stringifyMeta(updated), this.location, { durable: true });
    });
  }
}

/** Keys with `/` are folders, so `a` and `a/b` cannot coexist; say so with the key's name. */
function keyWriteError(kind: string, key: string, file: string, e: unknown): TrackingError {
  const code = errno(e);
  if (code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST') {
    return new TrackingError(
      `cannot write ${kind} ${JSON.stringify(key)} to ${file}: keys with '/' become folders, and this key ` +
        `collides with another ${kind} ` +
        `(one is a prefix folder of the other, like "loss" and "loss/train"); rename one of them`,
      { cause: e },
    );
  }
  return storeError(`write ${kind} ${JSON.stringify(key)}`, file, e);
}

/**
 * `"<timestamp> <value> <step>\n"`, parsed by MLflow with `int()`, `float()`, `int()`. Non-finite
 * values are written as Python writes them (`nan`, `inf`, `-inf`); JS's shortest round-trip form
 * (`1e+21`, `5e-7`) is valid for `float()` too.
 */
export function formatMetricLine(timestamp: number, value: number, step: number): string {
  const v = Number.isNaN(value) ? 'nan' : value === Infinity ? 'inf' : value === -Infinity ? '-inf' : String(value);
  return `${BigInt(Math.trunc(timestamp)).toString()} ${v} ${BigInt(step).toString()}\n`;
}
