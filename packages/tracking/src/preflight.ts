/**
 * Checks of `tracking:` before a run opens: the URI is well formed, a file store can be written, a server
 * answers as MLflow does (one quick probe; a server that is down is not an error: the run spools).
 */
import path from 'node:path';
import { TrackingError, writableProblem, type PreflightContext, type PreflightIssue } from '@niwt/core';
import { parseServerUri } from './credentials.js';
import type { MlflowTrackerOptions } from './options.js';
import { PROBE_TIMEOUT_MS, probeClient, probeServer } from './probe.js';
import { DEFAULT_SPOOL_DIR } from './spool/spool.js';
import { DEFAULT_TRACKING_URI, isServerUri, resolveStoreRoot, trackingUriProblem } from './uri.js';

/** A TrackingError's message without the `tracking.uri[ = "…"] ` it starts with (the issue names the path). */
const WRITABLE = 'choose a folder you can write';
const bare = (e: unknown): string => (e as Error).message.replace(/^tracking\.uri(?: = "[^"]*")?:? /, '');

export async function mlflowPreflight(opts: MlflowTrackerOptions, ctx: PreflightContext): Promise<PreflightIssue[]> {
  const uri = opts.uri ?? DEFAULT_TRACKING_URI;
  const problem = trackingUriProblem(uri);
  if (problem !== undefined) return [{ path: ['uri'], message: problem }];
  if (!isServerUri(uri)) {
    let root: string;
    try {
      root = resolveStoreRoot(uri, ctx.baseDir);
    } catch (e) {
      if (e instanceof TrackingError) return [{ path: ['uri'], message: bare(e) }];
      throw e;
    }
    const why = writableProblem(root);
    if (why === undefined) return [];
    return [{ path: ['uri'], message: `the file store ${root} cannot be written (${why}); ${WRITABLE}` }];
  }
  const spool = path.resolve(ctx.baseDir, opts.spoolDir ?? DEFAULT_SPOOL_DIR);
  const why = writableProblem(spool);
  if (why !== undefined) {
    return [{ path: ['spoolDir'], message: `the spool ${spool} cannot be written (${why}); ${WRITABLE}` }];
  }
  try {
    const timeout = Math.min(opts.timeoutMs ?? PROBE_TIMEOUT_MS, PROBE_TIMEOUT_MS);
    await probeServer(probeClient(parseServerUri(uri), timeout));
  } catch (e) {
    if (e instanceof TrackingError) return [{ path: ['uri'], message: bare(e) }];
    throw e;
  }
  return [];
}
