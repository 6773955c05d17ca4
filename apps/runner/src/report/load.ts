/**
 * Reads what a report shows from the local MLflow file store: a run (parent of method runs) or a sweep
 * run (parent of point runs), with its children's artifacts. Only `@niwt/tracking`'s readers are used,
 * so a report never needs Python or a server.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { TrackingError } from '@niwt/core';
import { findLocalRun, listLocalRuns, readLocalRun, resolveStoreRoot, type LocalRun } from '@niwt/tracking';

/** The artifact files a report reads, by role. */
export const ARTIFACTS = {
  config: 'config/config.yaml',
  results: 'results/results.json',
  sweepResults: 'sweep/results.json',
  bestConfig: 'sweep/best.yaml',
  perClass: 'results/per_class_accuracy.json',
  textual: 'explanations/textual.json',
  gradcamPrefix: 'explanations/gradcam/',
  report: 'report/report.html',
} as const;

/** A run with its nested runs (method runs of a run; point runs of a sweep, each with its method runs). */
export interface RunTree {
  readonly run: LocalRun;
  readonly children: readonly RunTree[];
}

/** The store a run folder lives in: `<store>/<experiment_id>/<run_id>`. */
export function storeOfRunDir(dir: string): string {
  return path.dirname(path.dirname(path.resolve(dir)));
}

/** A run id (looked up in `store`) or a run folder. Not-found is a TrackingError (one line, exit 2). */
export async function resolveRunRef(ref: string, store: string): Promise<{ run: LocalRun; store: string }> {
  if (/^[0-9a-f]{32}$/i.test(ref)) {
    const root = resolveStoreRoot(store, process.cwd(), '--mlruns');
    const run = await findLocalRun(root, ref);
    if (!run) throw new TrackingError(`run ${ref} not found in ${root}; pass the run folder or the right --mlruns`);
    return { run, store: root };
  }
  const dir = path.resolve(ref);
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat?.isDirectory())
    throw new TrackingError(
      `${ref}: neither a run id (32 hex characters) nor a run folder (mlruns/<experiment_id>/<run_id>)`,
    );
  return { run: await readLocalRun(dir), store: storeOfRunDir(dir) };
}

/**
 * Nests every run of the store under `root` (children ordered by start time, as they ran). A sweep's points
 * that an earlier sweep had already run (skipped, not rerun) are nested under it too: they are its points,
 * though their parent tag names the sweep that ran them.
 */
export async function loadRunTree(root: LocalRun, store: string): Promise<RunTree> {
  const all = await listLocalRuns(store);
  const byParent = new Map<string, LocalRun[]>();
  for (const r of all) {
    const p = r.tags['mlflow.parentRunId'];
    if (p) byParent.set(p, [...(byParent.get(p) ?? []), r]);
  }
  const points = await readArtifactJson(root, ARTIFACTS.sweepResults);
  if (Array.isArray(points)) {
    const own = byParent.get(root.runId) ?? [];
    const ids = points
      .map((p: unknown) => (typeof p === 'object' && p !== null && 'runId' in p ? String(p.runId) : ''))
      .filter((id) => id !== '');
    const borrowed = all.filter((r) => ids.includes(r.runId) && !own.some((o) => o.runId === r.runId));
    if (borrowed.length > 0) byParent.set(root.runId, [...own, ...borrowed]);
  }
  const build = (run: LocalRun, depth: number): RunTree => ({
    run,
    children:
      depth > 3
        ? []
        : (byParent.get(run.runId) ?? [])
            .sort((a, b) => a.startTime - b.startTime || a.runId.localeCompare(b.runId))
            .map((c) => build(c, depth + 1)),
  });
  return build(root, 0);
}

export const artifactPath = (run: LocalRun, rel: string): string => path.join(run.dir, 'artifacts', ...rel.split('/'));

export async function readArtifactText(run: LocalRun, rel: string): Promise<string | undefined> {
  if (!run.artifacts.includes(rel)) return undefined;
  return fs.readFile(artifactPath(run, rel), 'utf8');
}

/** Parses a JSON artifact; a malformed one is a TrackingError naming the file. */
export async function readArtifactJson(run: LocalRun, rel: string): Promise<unknown> {
  const text = await readArtifactText(run, rel);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new TrackingError(`${artifactPath(run, rel)}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}
