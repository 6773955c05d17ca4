/**
 * Reads a file store back: for tests, and for commands like `niwt runs show` that should not need
 * Python. Folders without a readable meta.yaml (interrupted starts) are skipped, as MLflow does.
 */
import * as fs from 'node:fs/promises';
import path from 'node:path';
import { TrackingError } from '@niwt/core';
import { errno } from './atomic.js';
import { statusName, toRunMeta, type LifecycleStage, type RunMeta, type StoredRunStatus } from './meta.js';
import { META_FILE, readExperiments, readYamlFile, StoreLayout, TRASH_DIR, type StoredExperiment } from './store.js';
import { resolveStoreRoot } from './uri.js';
import { validateRunId } from './validation.js';

export interface MetricPoint {
  readonly timestamp: number;
  readonly value: number;
  readonly step: number;
}

export interface LocalRun {
  readonly runId: string;
  readonly experimentId: string;
  readonly runName: string;
  readonly status: StoredRunStatus;
  readonly startTime: number;
  readonly endTime: number | null;
  readonly lifecycleStage: LifecycleStage;
  readonly userId: string;
  readonly artifactUri: string;
  /** The run folder. */
  readonly dir: string;
  readonly params: Readonly<Record<string, string>>;
  readonly tags: Readonly<Record<string, string>>;
  /** Every point of every metric, in file order. */
  readonly metrics: Readonly<Record<string, readonly MetricPoint[]>>;
  /** Artifact files, relative to `artifacts/`, posix separators, sorted. */
  readonly artifacts: readonly string[];
  /** The parsed meta.yaml. */
  readonly meta: RunMeta;
}

export interface LocalExperiment {
  readonly experimentId: string;
  readonly name: string;
  readonly lifecycleStage: LifecycleStage;
  readonly creationTime: number;
  readonly dir: string;
}

/** Files under `dir`, as posix paths relative to it (keys with `/` are nested folders). */
async function walk(dir: string, prefix = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (errno(e) === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const d of entries) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await walk(path.join(dir, d.name), rel)));
    else if (d.isFile()) out.push(rel);
  }
  return out.sort();
}

async function readValues(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await walk(dir)) out[key] = await fs.readFile(path.join(dir, key), 'utf8');
  return out;
}

/** Python's `float()` for what MLflow and we write, including `nan`, `inf`, `Infinity`. */
export function parseMetricValue(s: string): number {
  const t = s.trim().toLowerCase();
  const sign = t.startsWith('-') ? -1 : 1;
  const body = t.replace(/^[+-]/, '');
  if (body === 'nan') return NaN;
  if (body === 'inf' || body === 'infinity') return sign * Infinity;
  const v = Number(t);
  if (t === '' || Number.isNaN(v)) throw new Error(`not a number: ${JSON.stringify(s)}`);
  return v;
}

/** `"<ts> <value> [<step>]"` lines; throws a TrackingError naming the file and line on malformed data. */
export function parseMetricLines(text: string, file: string): MetricPoint[] {
  const points: MetricPoint[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const parts = line.trim().split(' ');
    try {
      if (parts.length !== 2 && parts.length !== 3 && parts.length !== 5)
        throw new Error(`${parts.length} fields, expected 2, 3 or 5`);
      const ts = Number(parts[0]);
      const step = parts.length >= 3 ? Number(parts[2]) : 0;
      if (!Number.isInteger(ts) || !Number.isInteger(step)) throw new Error('timestamp and step must be integers');
      points.push({ timestamp: ts, value: parseMetricValue(parts[1]), step });
    } catch (e) {
      throw new TrackingError(
        `${file}:${i + 1}: malformed metric line ${JSON.stringify(line)} (${(e as Error).message})`,
        { cause: e },
      );
    }
  });
  return points;
}

/** Reads one run folder (`mlruns/<experiment_id>/<run_id>`). */
export async function readLocalRun(dir: string): Promise<LocalRun> {
  const meta = toRunMeta(await readYamlFile(path.join(dir, META_FILE)));
  if (!meta)
    throw new TrackingError(
      `${dir} is not a readable MLflow run (no valid ${META_FILE}; an interrupted start leaves such a folder)`,
    );
  const metrics: Record<string, MetricPoint[]> = {};
  const metricsDir = path.join(dir, 'metrics');
  for (const key of await walk(metricsDir)) {
    const file = path.join(metricsDir, key);
    metrics[key] = parseMetricLines(await fs.readFile(file, 'utf8'), file);
  }
  return {
    runId: meta.run_id,
    experimentId: meta.experiment_id,
    runName: meta.run_name,
    status: statusName(meta.status) ?? 'RUNNING',
    startTime: meta.start_time,
    endTime: meta.end_time,
    lifecycleStage: meta.lifecycle_stage,
    userId: meta.user_id,
    artifactUri: meta.artifact_uri,
    dir,
    params: await readValues(path.join(dir, 'params')),
    tags: await readValues(path.join(dir, 'tags')),
    metrics,
    artifacts: await walk(path.join(dir, 'artifacts')),
    meta,
  };
}

function toLocalExperiment(e: StoredExperiment): LocalExperiment {
  return {
    experimentId: e.meta.experiment_id,
    name: e.meta.name,
    lifecycleStage: e.meta.lifecycle_stage,
    creationTime: e.meta.creation_time,
    dir: e.dir,
  };
}

/**
 * Experiments of a store (`root` is a folder or a tracker uri resolved against the cwd); deleted ones only when asked.
 */
export async function listLocalExperiments(
  root: string,
  options: { includeDeleted?: boolean } = {},
): Promise<LocalExperiment[]> {
  const dir = resolveStoreRoot(root, process.cwd(), 'store');
  const active = await readExperiments(dir);
  const deleted = options.includeDeleted ? await readExperiments(path.join(dir, TRASH_DIR), false) : [];
  return [...active, ...deleted].map(toLocalExperiment);
}

/** Runs of a store, newest first; `experiment` filters by experiment name. Folders without meta.yaml are skipped. */
export async function listLocalRuns(root: string, options: { experiment?: string } = {}): Promise<LocalRun[]> {
  const experiments = (await listLocalExperiments(root)).filter(
    (e) => options.experiment === undefined || e.name === options.experiment,
  );
  const runs: LocalRun[] = [];
  for (const exp of experiments) {
    const entries = await fs.readdir(exp.dir, { withFileTypes: true });
    for (const d of entries) {
      if (!d.isDirectory() || ['tags', 'datasets', 'traces', 'models'].includes(d.name)) continue;
      const runDir = path.join(exp.dir, d.name);
      const meta = toRunMeta(await readYamlFile(path.join(runDir, META_FILE)));
      if (!meta || meta.experiment_id !== exp.experimentId || meta.run_id !== d.name) continue;
      runs.push(await readLocalRun(runDir));
    }
  }
  return runs.sort((a, b) => b.startTime - a.startTime || a.runId.localeCompare(b.runId));
}

/** Finds a run by id anywhere in the store. */
export async function findLocalRun(root: string, runId: string): Promise<LocalRun | undefined> {
  validateRunId('run id', runId);
  const dir = await new StoreLayout(resolveStoreRoot(root, process.cwd(), 'store')).findRunDir(runId);
  return dir === undefined ? undefined : readLocalRun(dir);
}
