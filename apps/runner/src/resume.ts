/**
 * Continuing a reopened run without duplicate metric points: a resumed stage is computed again from its last
 * checkpoint (or from the start), so points up to the last step already logged are dropped, per metric key.
 * The pipeline is deterministic under a seed, so the dropped points equal the ones already stored.
 */
import type { RunStatus, TrackedRun } from '@niwt/core';

export function skipLoggedSteps(run: TrackedRun, lastSteps: Readonly<Record<string, number>>): TrackedRun {
  if (Object.keys(lastSteps).length === 0) return run;
  return {
    get runId() {
      return run.runId;
    },
    get experimentId() {
      return run.experimentId;
    },
    get location() {
      return run.location;
    },
    logParams: (p) => run.logParams(p),
    async logMetrics(metrics: Readonly<Record<string, number>>, step = 0) {
      const fresh = Object.entries(metrics).filter(([k]) => lastSteps[k] === undefined || step > lastSteps[k]);
      if (fresh.length > 0) await run.logMetrics(Object.fromEntries(fresh), step);
    },
    setTags: (t) => run.setTags(t),
    logArtifact: (l, a) => run.logArtifact(l, a),
    logText: (a, t) => run.logText(a, t),
    end: (status: Exclude<RunStatus, 'RUNNING'>) => run.end(status),
  };
}
