/** `niwt runs sync`: replays every spooled run to the server it was logged for, credentials from the environment. */
import { parseServerUri } from './credentials.js';
import { makeClient } from './rest-tracker.js';
import type { MlflowRestClient } from './rest/client.js';
import { DEFAULT_RETRY } from './rest/http.js';
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
  const clients = new Map<string, MlflowRestClient>();
  const only = options.uri === undefined ? undefined : parseServerUri(options.uri, env, '--uri').baseUrl;
  const clientFor = (uri: string): MlflowRestClient => {
    let c = clients.get(uri);
    if (!c) {
      c = makeClient(parseServerUri(uri, env), options.timeoutMs ?? 30_000, { ...DEFAULT_RETRY, budgetMs: options.retryBudgetMs ?? DEFAULT_RETRY.budgetMs });
      clients.set(uri, c);
    }
    return c;
  };
  const syncer = new Syncer(clientFor, options.spoolDir);
  const report = await syncer.syncAll(only === undefined ? undefined : (m) => m.uri === only);
  return { ...report, seconds: (performance.now() - t0) / 1000 };
}
