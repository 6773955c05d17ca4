/**
 * Where credentials for a tracking server come from, as MLflow's clients read them: the
 * `MLFLOW_TRACKING_*` variables, or `user:password@` in the URI. A token wins over a username
 * (as the Java client documents). Their values are also secrets the redactor must hide.
 */
import { TrackingError } from '@niwt/core';

export interface Credentials {
  readonly username?: string;
  readonly password?: string;
  readonly token?: string;
}

export interface ServerUri {
  /** The URI without user info, safe to print and to store. */
  readonly baseUrl: string;
  readonly credentials: Credentials;
}

const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === '' ? undefined : v);

/** Splits `http(s)://[user[:pass]@]host[:port][/prefix]` and merges the environment's credentials. */
export function parseServerUri(
  uri: string,
  env: NodeJS.ProcessEnv = process.env,
  configKey = 'tracking.uri',
): ServerUri {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (e) {
    throw new TrackingError(`${configKey}: not a valid URL (expected http://host:port)`, { cause: e });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TrackingError(`${configKey}: scheme ${url.protocol} is not a tracking server; use http:// or https://`);
  }
  const fromUri: Credentials = url.username
    ? { username: decodeURIComponent(url.username), password: decodeURIComponent(url.password) }
    : {};
  url.username = '';
  url.password = '';
  const token = nonEmpty(env.MLFLOW_TRACKING_TOKEN);
  const username = nonEmpty(env.MLFLOW_TRACKING_USERNAME) ?? fromUri.username;
  const password = nonEmpty(env.MLFLOW_TRACKING_PASSWORD) ?? fromUri.password;
  const credentials: Credentials =
    token !== undefined ? { token } : username !== undefined ? { username, password } : {};
  return { baseUrl: url.href.replace(/\/+$/, ''), credentials };
}

/** A URI for messages and stores: user info removed. */
export function displayUri(uri: string): string {
  try {
    const url = new URL(uri);
    if (!url.username && !url.password) return uri;
    url.username = '';
    url.password = '';
    return url.href.replace(/\/+$/, '');
  } catch {
    return uri;
  }
}

/** Env names that hold credentials (MLflow's, plus the common *_TOKEN/*_PASSWORD/*_SECRET/*_API_KEY). */
const SECRET_ENV = new RegExp(
  String.raw`(^MLFLOW_TRACKING_(PASSWORD|TOKEN)$)|` +
    String.raw`(_|^)(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|ACCESS_KEY|SECRET_KEY|PRIVATE_KEY)$`,
  'i',
);

/** Values of credential-like environment variables, and of the URI's password: never stored anywhere. */
export function secretValuesFromEnv(env: NodeJS.ProcessEnv = process.env, uri?: string): string[] {
  const out = new Set<string>();
  for (const [k, v] of Object.entries(env)) if (v && SECRET_ENV.test(k)) out.add(v);
  if (uri !== undefined) {
    try {
      const url = new URL(uri);
      if (url.password) out.add(decodeURIComponent(url.password));
    } catch {
      // not a URL: nothing to take
    }
  }
  return [...out];
}
