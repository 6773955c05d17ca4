/**
 * Finding a run that already finished with the same resolved config (tag `niwt.config_hash`), so sweeps skip
 * work that is done. Reads the local file store; a tracking server is not searched (yet).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isServerUri, listLocalRuns, resolveStoreRoot } from '@niwt/tracking';
import type { Experiment } from './compose.js';
import type { RunResult } from './pipeline.js';

export async function findFinishedRun(exp: Experiment): Promise<RunResult | undefined> {
  const uri = String(exp.tracker.options.uri ?? 'file:./mlruns');
  if (isServerUri(uri)) return undefined;
  const root = resolveStoreRoot(uri, exp.run.baseDir);
  let runs;
  try {
    runs = await listLocalRuns(root, { experiment: exp.top.experiment });
  } catch {
    return undefined; // no store yet
  }
  const done = runs
    .filter((r) => r.status === 'FINISHED' && r.tags['niwt.config_hash'] === exp.hash && !r.tags['niwt.method'])
    .sort((a, b) => b.startTime - a.startTime)[0];
  if (!done) return undefined;
  try {
    return JSON.parse(await fs.readFile(path.join(done.dir, 'artifacts', 'results', 'results.json'), 'utf8')) as RunResult;
  } catch {
    return undefined; // finished without results (an older layout): run again
  }
}

/** The latest run of the same config that did not finish (interrupted, killed or failed), if any. */
export async function findUnfinishedRun(exp: Experiment): Promise<{ runId: string; status: string } | undefined> {
  const uri = String(exp.tracker.options.uri ?? 'file:./mlruns');
  if (isServerUri(uri)) return undefined;
  try {
    const runs = await listLocalRuns(resolveStoreRoot(uri, exp.run.baseDir), { experiment: exp.top.experiment });
    const r = runs.filter((x) => x.status !== 'FINISHED' && x.tags['niwt.config_hash'] === exp.hash && !x.tags['niwt.method']).sort((a, b) => b.startTime - a.startTime)[0];
    return r ? { runId: r.runId, status: r.status } : undefined;
  } catch {
    return undefined;
  }
}
