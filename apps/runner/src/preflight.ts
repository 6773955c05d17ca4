/**
 * Everything about an experiment that can be checked before a run opens: each plugin's `preflight`
 * (dataset folders and files, weights, the tracking URI and server) and a writable `cacheDir`. The first
 * problem is a one-line ConfigError naming `file:line path`, so a wrong path never leaves a FAILED run.
 */
import { ConfigError, formatPath, writableProblem, type PreflightContext } from '@niwt/core';
import type { Experiment, ResolvedPlugin } from './compose.js';

/** Experiments already checked (the CLI checks before its first line; runExperiment checks the others). */
const checked = new WeakSet<Experiment>();

export async function preflightExperiment(exp: Experiment): Promise<void> {
  if (checked.has(exp)) return;
  const ctx: PreflightContext = { baseDir: exp.run.baseDir, cacheDir: exp.run.cacheDir };
  const fail = (p: readonly (string | number)[], message: string): never => {
    throw new ConfigError(`${exp.source.locate(p)} ${formatPath(p)}: ${message}`);
  };
  const why = writableProblem(exp.run.cacheDir);
  if (why !== undefined) {
    fail(['cacheDir'], `${exp.run.cacheDir} cannot be written (${why}); set cacheDir to a folder you can write`);
  }
  const plugins: [readonly (string | number)[], ResolvedPlugin][] = [
    [['dataset'], exp.dataset],
    [['knowledge'], exp.knowledge],
    [['backbone'], exp.backbone],
    ...exp.methods.map((m, i): [readonly (string | number)[], ResolvedPlugin] => [['methods', i], m]),
    [['tracking'], exp.tracker],
  ];
  for (const [where, r] of plugins) {
    if (!r.spec.preflight) continue;
    const issues = await r.spec.preflight(r.options, ctx);
    if (issues.length > 0) fail([...where, ...issues[0].path], issues[0].message);
  }
  checked.add(exp);
}
