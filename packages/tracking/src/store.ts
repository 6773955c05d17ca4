/**
 * The store root and its experiments (`mlruns/<experiment_id>/meta.yaml`).
 *
 * Experiment ids are 18-digit integers like MLflow's, but derived from the name (sha256), so two
 * processes creating the same experiment at once pick the same folder: `mkdir` decides the winner
 * and the loser finds the experiment already there. No lock file is needed.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TrackingError } from '@niwt/core';
import { errno, writeFileAtomic } from './atomic.js';
import { parseYaml, stringifyMeta, toExperimentMeta, type ExperimentMeta } from './meta.js';
import { validateExperimentName } from './validation.js';

export const TRASH_DIR = '.trash';
export const DEFAULT_EXPERIMENT_ID = '0';
export const DEFAULT_EXPERIMENT_NAME = 'Default';
export const META_FILE = 'meta.yaml';

export interface StoredExperiment {
  readonly meta: ExperimentMeta;
  readonly dir: string;
}

/** `file://` URI of a local folder, percent-encoded like Python's `Path.as_uri()`. */
export function fileUri(dir: string): string {
  return pathToFileURL(dir).href;
}

/** Wraps a filesystem failure in a TrackingError that says what was being done where. */
export function storeError(action: string, target: string, e: unknown): TrackingError {
  const code = errno(e);
  const hint =
    code === 'EACCES' || code === 'EPERM'
      ? ' (permission denied: choose a writable tracking.uri)'
      : code === 'ENOSPC'
        ? ' (disk full)'
        : code === 'ENOTDIR' || code === 'EISDIR' || code === 'EEXIST'
          ? ' (a file and a folder collide: a key "a" and a key "a/b" cannot both exist)'
          : '';
  return new TrackingError(`cannot ${action} at ${target}: ${(e as Error).message}${hint}`, { cause: e });
}

export async function readYamlFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    if (errno(e) === 'ENOENT' || errno(e) === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    return parseYaml(text);
  } catch {
    return undefined;
  }
}

/** Subfolders MLflow reads as experiments (it skips `*.trash` and the registry's `models`). */
async function experimentDirs(parent: string, activeRoot: boolean): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(parent, { withFileTypes: true });
  } catch (e) {
    if (errno(e) === 'ENOENT') return [];
    throw e;
  }
  return entries
    .filter((d) => d.isDirectory() && !(activeRoot && (d.name.endsWith(TRASH_DIR) || d.name === 'models')))
    .map((d) => path.join(parent, d.name));
}

/** Experiments under `parent` whose meta.yaml is readable and matches the folder name, as MLflow checks. */
export async function readExperiments(parent: string, activeRoot = true): Promise<StoredExperiment[]> {
  const out: StoredExperiment[] = [];
  for (const dir of await experimentDirs(parent, activeRoot)) {
    const meta = toExperimentMeta(await readYamlFile(path.join(dir, META_FILE)));
    if (meta && meta.experiment_id === path.basename(dir)) out.push({ meta, dir });
  }
  return out;
}

/** 18 digits, no leading zero: what MLflow's `_generate_unique_integer_id` produces. */
export function experimentIdFor(name: string, attempt: number): string {
  const h = createHash('sha256')
    .update(attempt === 0 ? name : `${name}\u0000${attempt}`)
    .digest();
  const n = h.readBigUInt64BE(0) % 900_000_000_000_000_000n;
  return (n + 100_000_000_000_000_000n).toString();
}

export class StoreLayout {
  constructor(readonly root: string) {}

  /**
   * Creates the root, `.trash/` and the Default experiment `0` when missing, as `mlflow ui` expects.
   * Idempotent and cheap, so it runs on every start (the store may have been moved meanwhile).
   */
  async init(): Promise<void> {
    try {
      await fs.mkdir(path.join(this.root, TRASH_DIR), { recursive: true });
    } catch (e) {
      throw storeError('create the MLflow store', this.root, e);
    }
    const trashed = await fs.stat(path.join(this.root, TRASH_DIR, DEFAULT_EXPERIMENT_ID)).then(
      () => true,
      () => false,
    );
    if (!trashed) await this.claimExperiment(DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME);
  }

  /** The active experiment called `name`, created if missing. Call `init()` first. */
  async getOrCreateExperiment(name: string): Promise<StoredExperiment> {
    validateExperimentName(name);
    const existing = await this.findExperiment(name);
    if (existing) return existing;
    const deleted = (await readExperiments(path.join(this.root, TRASH_DIR), false)).find((e) => e.meta.name === name);
    if (deleted) {
      throw new TrackingError(
        `experiment ${JSON.stringify(name)} already exists in deleted state (${deleted.dir}); restore it in ` +
          `the MLflow UI ` +
          (`(mlflow experiments restore --experiment-id ${deleted.meta.experiment_id}), or permanently delete ` +
            `it with mlflow gc, or choose another experiment name`),
      );
    }
    for (let attempt = 0; attempt < 100; attempt++) {
      const id = experimentIdFor(name, attempt);
      const inTrash = await fs.stat(path.join(this.root, TRASH_DIR, id)).then(
        () => true,
        () => false,
      );
      if (inTrash) continue;
      const claimed = await this.claimExperiment(id, name);
      if (claimed) return claimed;
    }
    throw new TrackingError(
      `cannot create experiment ${JSON.stringify(name)} in ${this.root}: no free experiment id after 100 attempts`,
    );
  }

  /** Like MLflow's get_experiment_by_name: newest first, then lowest id, among active experiments. */
  async findExperiment(name: string): Promise<StoredExperiment | undefined> {
    const matches = (await readExperiments(this.root)).filter(
      (e) => e.meta.name === name && e.meta.lifecycle_stage === 'active',
    );
    matches.sort(
      (a, b) => b.meta.creation_time - a.meta.creation_time || a.meta.experiment_id.localeCompare(b.meta.experiment_id),
    );
    return matches[0];
  }

  /**
   * Takes the folder `id` for experiment `name`: creates it, or adopts it when it already holds this
   * experiment (created concurrently) or has no meta.yaml yet (a creator crashed before writing it).
   * Returns undefined when the folder belongs to another experiment.
   */
  private async claimExperiment(id: string, name: string): Promise<StoredExperiment | undefined> {
    const dir = path.join(this.root, id);
    try {
      await fs.mkdir(dir);
    } catch (e) {
      if (errno(e) !== 'EEXIST') throw storeError(`create experiment ${JSON.stringify(name)}`, dir, e);
      const meta = toExperimentMeta(await readYamlFile(path.join(dir, META_FILE)));
      if (meta) return meta.name === name && meta.experiment_id === id ? { meta, dir } : undefined;
    }
    const now = Date.now();
    const meta: ExperimentMeta = {
      artifact_location: fileUri(dir),
      creation_time: now,
      experiment_id: id,
      last_update_time: now,
      lifecycle_stage: 'active',
      name,
    };
    try {
      await writeFileAtomic(path.join(dir, META_FILE), stringifyMeta(meta), dir, { durable: true });
    } catch (e) {
      throw storeError(`write experiment ${JSON.stringify(name)}`, path.join(dir, META_FILE), e);
    }
    return { meta, dir };
  }

  /** The folder of run `runId` among active and deleted experiments, if it has a meta.yaml. */
  async findRunDir(runId: string): Promise<string | undefined> {
    const parents = [
      ...(await experimentDirs(this.root, true)),
      ...(await experimentDirs(path.join(this.root, TRASH_DIR), false)),
    ];
    for (const exp of parents) {
      const dir = path.join(exp, runId);
      const ok = await fs.stat(path.join(dir, META_FILE)).then(
        (s) => s.isFile(),
        () => false,
      );
      if (ok) return dir;
    }
    return undefined;
  }
}
