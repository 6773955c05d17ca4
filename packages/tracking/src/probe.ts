/**
 * One quick call that tells a reachable MLflow server from an unreachable one, so nothing waits out a
 * retry budget for a server that is down: the end of a run spools at once, `niwt runs sync` stops
 * before walking the spool, and `niwt run` finds a non-MLflow answer before a run opens.
 */
import type { ServerUri } from './credentials.js';
import { MlflowRestClient } from './rest/client.js';
import { DEFAULT_RETRY, MlflowHttpError } from './rest/http.js';

/** Time the probe may take (one attempt, no retries): what "a few seconds" means for a down server. */
export const PROBE_TIMEOUT_MS = 5_000;

/** A client for probes: one attempt of at most `timeoutMs`. */
export function probeClient(server: ServerUri, timeoutMs = PROBE_TIMEOUT_MS): MlflowRestClient {
  const retry = { ...DEFAULT_RETRY, budgetMs: 0 };
  return new MlflowRestClient({ baseUrl: server.baseUrl, credentials: server.credentials, timeoutMs, retry });
}

/**
 * Resolves to the network error when the server cannot be reached (refused, timed out, no route), and to
 * undefined when it answered as MLflow does (a 5xx counts as reachable: retries may help). Throws when it
 * answered otherwise: an HTML page or other JSON (`NotMlflowError`), refused credentials, another 4xx.
 */
export async function probeServer(client: MlflowRestClient): Promise<MlflowHttpError | undefined> {
  try {
    await client.getExperimentByName('Default');
    return undefined;
  } catch (e) {
    if (e instanceof MlflowHttpError && e.transient) return e.status === undefined ? e : undefined;
    throw e;
  }
}
