/**
 * The experiment hash (`niwt.config_hash`, run names, "skip finished", `--resume`): a digest of what changes
 * results — dataset, knowledge, backbone, methods, seed, backend, explanations — and nothing else. Where runs
 * are stored (`tracking`), grouped (`experiment`), cached (`cacheDir`), plugin module paths, options a plugin
 * declares `nonResultOptions`, and every credential are left out, so the same experiment has the same hash in
 * every store, and no stored hash can be brute-forced back into a password (there is no secret in its input,
 * which is why it needs no salt).
 */
import { hashOf } from './hash.js';

/** Top-level config keys that do not change results. */
export const NON_RESULT_KEYS = ['experiment', 'cacheDir', 'plugins', 'tracking'] as const;

const SECRET_SEGMENT = /(password|passwd|passphrase|secret|token|apikey|accesskey|privatekey|credentials?)$/;
const USER_INFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi;

/** Whether one key (a segment of a dotted path) names a secret: `password`, `dbPassword`, `auth_token`, … */
export function isSecretKeySegment(key: string): boolean {
  return SECRET_SEGMENT.test(key.toLowerCase().replace(/[_-]/g, ''));
}

/** `scheme://user:pass@host` → `scheme://host` in any string. */
export function stripUserInfo(s: string): string {
  return s.replace(USER_INFO, '$1');
}

/**
 * A copy of a config without secrets: keys naming a secret and the dotted `secretPaths` (with everything
 * under them) removed, user info removed from URLs.
 */
export function withoutSecrets(value: unknown, secretPaths: readonly string[] = [], prefix = ''): unknown {
  if (typeof value === 'string') return stripUserInfo(value);
  if (Array.isArray(value)) {
    return value.map((v, i) => withoutSecrets(v, secretPaths, prefix ? `${prefix}.${i}` : String(i)));
  }
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (isSecretKeySegment(k) || secretPaths.includes(p)) continue;
    out[k] = withoutSecrets(v, secretPaths, p);
  }
  return out;
}

function withoutPath(value: unknown, segs: readonly string[]): unknown {
  if (segs.length === 0 || value === null || typeof value !== 'object') return value;
  const [head, ...rest] = segs;
  if (!(head in (value as Record<string, unknown>))) return value;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value)
    ? [...(value as unknown[])]
    : { ...(value as Record<string, unknown>) };
  if (rest.length === 0) delete (copy as Record<string, unknown>)[head];
  else (copy as Record<string, unknown>)[head] = withoutPath((value as Record<string, unknown>)[head], rest);
  return copy;
}

export interface ExperimentHashOptions {
  /** Full dotted paths (e.g. `backbone.workers`, `methods.1.engine`) of options that do not change results. */
  readonly nonResult?: readonly string[];
  /** Full dotted paths of options holding secrets (the tracker's `secretKeys`). */
  readonly secretPaths?: readonly string[];
}

/** What the experiment hash is computed from (exported for tests). */
export function experimentHashInput(
  resolved: Readonly<Record<string, unknown>>,
  opts: ExperimentHashOptions = {},
): unknown {
  const dropped: readonly string[] = NON_RESULT_KEYS;
  let v: unknown = Object.fromEntries(Object.entries(resolved).filter(([k]) => !dropped.includes(k)));
  for (const p of opts.nonResult ?? []) v = withoutPath(v, p.split('.'));
  return withoutSecrets(v, opts.secretPaths ?? []);
}

/** The 16-hex experiment hash of a resolved config (see the module comment for what it covers). */
export function experimentHash(resolved: Readonly<Record<string, unknown>>, opts: ExperimentHashOptions = {}): string {
  return hashOf(experimentHashInput(resolved, opts));
}
