/**
 * `niwt runs sync`: replays every spooled run to the server it was logged for, credentials from the
 * environment. Each server is probed once first: a server that is down stops the sync at once (instead of
 * every run waiting out the retry budget), a non-MLflow answer is an error naming the URI and what came back.
 */
import { statSync } from 'node:fs';
import { TrackingError } from '@niwt/core';
import { parseServerUri } from './credentials.js';
import { makeClient } from './rest-tracker.js';
import type { MlflowRestClient } from './rest/client.js';
import { DEFAULT_RETRY } from './rest/http.js';
import { PROBE_TIMEOUT_MS, probeClient, probeServer } from './probe.js';
import { listSpoolRuns } from './spool/spool.js';
import { Syncer, type SyncReport } from './spool/sync.js';

export interface SyncSpoolOptions {
  /** Absolute spool folder. */
  readonly spoolDir: string;
  /** Replay only the runs logged for this server (default: all). */
  readonly uri?: string;
  readonly timeoutMs?: number;
  readonly retryBudgetMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export async function syncSpool(options: SyncSpoolOptions): Promise<SyncReport & { readonly seconds: number }> {
  const t0 = performance.now();
  const env = options.env ?? process.env;
  if (!statSync(options.spoolDir, { throwIfNoEntry: false })?.isDirectory()) {
    throw new TrackingError(
      `--spool ${options.spoolDir}: no such folder; ` +
        'runs logged to a server are spooled in tracking.spoolDir (default .niwt/spool)',
    );
  }
  const clients = new Map<string, MlflowRestClient>();
  const only = options.uri === undefined ? undefined : parseServerUri(options.uri, env, '--uri').baseUrl;
  const timeout = options.timeoutMs ?? 30_000;
  const clientFor = (uri: string): MlflowRestClient => {
    let c = clients.get(uri);
    if (!c) {
      const retry = { ...DEFAULT_RETRY, budgetMs: options.retryBudgetMs ?? DEFAULT_RETRY.budgetMs };
      c = makeClient(parseServerUri(uri, env), timeout, retry);
      clients.set(uri, c);
    }
    return c;
  };
  // Pending runs per server; each server is probed once.
  const pending = new Map<string, string[]>();
  for (const run of await listSpoolRuns(options.spoolDir)) {
    const meta = await run.meta();
    if ((only !== undefined && meta.uri !== only) || (await run.state()).done === true) continue;
    pending.set(meta.uri, [...(pending.get(meta.uri) ?? []), run.key]);
  }
  const down = new Map<string, string>();
  for (const uri of pending.keys()) {
    const err = await probeServer(probeClient(parseServerUri(uri, env), Math.min(timeout, PROBE_TIMEOUT_MS)));
    if (err !== undefined) down.set(uri, /\(([A-Z][A-Z_]+)/.exec(err.message)?.[1] ?? 'no answer');
  }
  if (down.size > 0 && down.size === pending.size) {
    const [uri, why] = [...down][0];
    const n = [...pending.values()].reduce((k, keys) => k + keys.length, 0);
    throw new TrackingError(
      `tracking server ${uri} unreachable (${why}): ${n} spooled run(s) kept in ${options.spoolDir}; ` +
        'start the server and rerun niwt runs sync',
    );
  }
  const syncer = new Syncer(clientFor, options.spoolDir);
  const report = await syncer.syncAll((m) => (only === undefined || m.uri === only) && !down.has(m.uri));
  const skipped = [...down].flatMap(([uri, why]) =>
    (pending.get(uri) ?? []).map((key) => ({ key, error: `tracking server ${uri} unreachable (${why})` })),
  );
  return { ...report, failed: [...report.failed, ...skipped], seconds: (performance.now() - t0) / 1000 };
}
