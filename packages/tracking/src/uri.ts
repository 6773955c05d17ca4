/**
 * The tracker's `uri` option: where runs go. `file:`/plain paths are a local MLflow file store,
 * `http(s)://` a tracking server; anything else fails at construction, before an experiment spends
 * hours training.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TrackingError } from '@niwt/core';

export const DEFAULT_TRACKING_URI = 'file:./mlruns';

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
const REST_SCHEMES = new Set(['http', 'https']);
const UNSUPPORTED_REST = new Set(['databricks', 'databricks-uc', 'uc']);

/** Whether `uri` names a tracking server (`http(s)://`) rather than a local file store. */
export function isServerUri(uri: string): boolean {
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  return scheme !== undefined && REST_SCHEMES.has(scheme);
}

/** `host:port` or `host:port/prefix` without a scheme: `127.0.0.1:5701`, `localhost:5000`, `[::1]:5000`. */
const BARE_HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9-]+)*):\d{1,5}(\/.*)?$/;

/**
 * The problem with a tracking URI's form, or undefined when it is well formed: a bare `host:port` would
 * otherwise be a folder (or a scheme) named after the server.
 */
export function trackingUriProblem(uri: string): string | undefined {
  if (uri.trim() === '') return `empty tracking URI; use ${JSON.stringify(DEFAULT_TRACKING_URI)}`;
  if (BARE_HOST_PORT.test(uri)) {
    return (
      `${JSON.stringify(uri)} has no scheme; for a tracking server write "http://${uri}" (a local store is ` +
      `"file:./mlruns")`
    );
  }
  return undefined;
}

/**
 * Resolves `file:./mlruns`, `file:///abs/mlruns`, `file:/abs/mlruns` or a plain path to an absolute
 * directory; relative paths are resolved against `baseDir` (the working directory).
 * `configKey` names the config value in messages.
 */
export function resolveStoreRoot(uri: string, baseDir: string, configKey = 'tracking.uri'): string {
  const shown = `${configKey} = ${JSON.stringify(uri)}`;
  if (uri.trim() === '')
    throw new TrackingError(`${shown}: empty tracking URI; use ${JSON.stringify(DEFAULT_TRACKING_URI)}`);
  const problem = trackingUriProblem(uri);
  if (problem !== undefined) throw new TrackingError(`${configKey}: ${problem}`);
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  // A one-letter "scheme" is a Windows drive (C:\mlruns), i.e. a plain path.
  if (scheme === undefined || scheme.length === 1) return path.resolve(baseDir, uri);
  if (scheme === 'file') return path.resolve(baseDir, filePath(uri, shown));
  if (REST_SCHEMES.has(scheme)) {
    throw new TrackingError(
      `${shown}: this is a tracking server, but a local file store is needed here ("file:./mlruns", ` +
        `"file:///abs/mlruns" or a plain path)`,
    );
  }
  if (UNSUPPORTED_REST.has(scheme)) {
    throw new TrackingError(
      `${shown}: '${scheme}:' tracking is not supported; use an MLflow server's http(s):// URI or a file ` +
        `store ("file:./mlruns")`,
    );
  }
  throw new TrackingError(
    `${shown}: unsupported scheme '${scheme}:'; use an MLflow file store ("file:./mlruns", ` +
      `"file:///abs/mlruns" or a plain path) or a tracking server (http://host:port). ` +
      (`For a database store, log to a file store and run mlflow migrate-filestore --source ./mlruns --target ` +
        `sqlite:///mlflow.db`),
  );
}

/** `file:` URIs: `file:rel`, `file:/abs`, `file:///abs`, `file://localhost/abs`; %-escapes decoded as MLflow does. */
function filePath(uri: string, shown: string): string {
  const rest = uri.slice('file:'.length);
  if (!rest.startsWith('//')) return decode(rest, shown);
  let url: URL;
  try {
    url = new URL(uri);
  } catch (e) {
    throw new TrackingError(`${shown}: not a valid file URI; use "file:./mlruns" or "file:///absolute/path"`, {
      cause: e,
    });
  }
  if (url.host !== '' && url.host !== 'localhost') {
    throw new TrackingError(
      `${shown}: file URIs on another host ('${url.host}') are not supported; for a relative path write ` +
        `"file:./mlruns" (no '//')`,
    );
  }
  return fileURLToPath(`file://${url.pathname}`);
}

function decode(s: string, shown: string): string {
  try {
    return decodeURIComponent(s);
  } catch (e) {
    throw new TrackingError(`${shown}: malformed %-escape in the path`, { cause: e });
  }
}
