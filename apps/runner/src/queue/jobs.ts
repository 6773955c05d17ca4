/**
 * What travels on the queue: one job per sweep point, id = the point's config hash (so the same run is
 * never queued twice), carrying the config text and overrides so a worker on another machine can
 * compose exactly the same experiment.
 */
import type { MethodResult } from '../pipeline.js';

export const DEFAULT_QUEUE_NAME = 'niwt-runs';

export interface RunJobData {
  /** The config file as given (names it in messages; `defaults:` includes resolve against its folder). */
  readonly file: string;
  /** The config text, so workers need not share the file. */
  readonly text: string;
  readonly overrides: readonly string[];
  /** Resolved-config hash the enqueuer computed; a worker that composes another hash refuses the job. */
  readonly hash: string;
  readonly assignment: Readonly<Record<string, string | number | boolean>>;
  /** The sweep run to nest under (must be in the store named by the config's tracking.uri). */
  readonly parentRunId?: string;
  readonly sweepHash: string;
  /** The point's run name (`lambda=1e-3,seed=7`) and tags (the sweep, the point). */
  readonly runName?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface RunJobResult {
  readonly runId: string;
  readonly location: string;
  readonly hash: string;
  readonly worker: string;
  readonly seconds: number;
  readonly seenNetworkCached?: boolean;
  readonly activationsCached?: boolean;
  readonly methods: readonly Pick<MethodResult, 'label' | 's' | 'u' | 'H' | 'zslT1'>[];
}

/** What a worker reports with job.updateProgress while a run goes on. */
export interface RunJobProgress {
  readonly worker: string;
  /** The last stage the run finished. */
  readonly stage: string;
  readonly stages: number;
}

/** BullMQ refuses custom ids that are integers or contain ':'; a hex hash of digits only gets a prefix. */
export function jobIdFor(hash: string): string {
  return /^\d+$/.test(hash) ? `h${hash}` : hash.replace(/:/g, '_');
}
