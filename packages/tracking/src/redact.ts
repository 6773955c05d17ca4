/**
 * Secrets never reach a tracking store, local or remote. Redacted, in params, tags and text artifacts:
 *
 * - params/tags whose dotted key has a segment naming a secret (`password`, `passwd`, `passphrase`,
 *   `secret`, `token`, `apiKey`, `accessKey`, `privateKey`, `credentials`, also as a suffix like
 *   `dbPassword` or `auth_token`; case, `_` and `-` ignored), or that equals or lies under one of the
 *   tracker option `secretKeys` (dotted paths, e.g. `dataset.auth`);
 * - every occurrence of a secret value: credential environment variables (`MLFLOW_TRACKING_PASSWORD`,
 *   `MLFLOW_TRACKING_TOKEN`, any `*_TOKEN`, `*_PASSWORD`, `*_SECRET`, `*_API_KEY`), the tracking URI's
 *   password, and the values of secret params seen so far (so `config.yaml` loses them too);
 * - `key: value` / `"key": value` lines of text artifacts whose key names a secret.
 */
import * as fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TrackingError, type RunStatus, type StartRunOptions, type TrackedRun, type Tracker } from '@niwt/core';

export const REDACTED = '***';
/** Shorter values are only redacted as whole values: replacing every "ab" in a text would shred it. */
const MIN_SUBSTRING = 4;
const SECRET_SEGMENT = /(password|passwd|passphrase|secret|token|apikey|accesskey|privatekey|credentials?)$/;
const LINE = /^(\s*(?:[-{[]\s*)?["']?)([A-Za-z0-9_.-]+)(["']?\s*[:=]\s*)(\S.*?)(,?)\s*$/;

const URI_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^/\s:@]*:)(?!\*\*\*@)[^/\s@]+@/gi;
const norm = (s: string): string => s.toLowerCase().replace(/[_-]/g, '');

export class Redactor {
  private readonly values = new Set<string>();
  private readonly extraKeys: readonly string[];

  constructor(extraKeys: readonly string[] = [], secretValues: readonly string[] = []) {
    this.extraKeys = extraKeys.map((k) => k.trim()).filter((k) => k !== '');
    for (const v of secretValues) this.addValue(v);
  }

  addValue(v: string): void {
    if (v !== '' && v !== REDACTED) this.values.add(v);
  }

  /** Whether a dotted key names a secret by the rule above. */
  isSecretKey(key: string): boolean {
    if (this.extraKeys.some((k) => key === k || key.startsWith(`${k}.`))) return true;
    return key.split(/[./]/).some((seg) => SECRET_SEGMENT.test(norm(seg)));
  }

  /** Redacted copy of params/tags; secret values are learnt for later text. */
  entries<V extends string | number | boolean>(map: Readonly<Record<string, V>>): Record<string, V | string> {
    const out: Record<string, V | string> = {};
    for (const [k, v] of Object.entries(map)) {
      if (this.isSecretKey(k)) {
        this.addValue(String(v));
        out[k] = REDACTED;
      }
    }
    for (const [k, v] of Object.entries(map)) if (!(k in out)) out[k] = typeof v === 'string' ? this.text(v) : v;
    return out;
  }

  text(s: string): string {
    // A URI's password, however short: `scheme://user:***@host`.
    let out = s.replace(URI_PASSWORD, `$1${REDACTED}@`);
    for (const v of [...this.values].sort((a, b) => b.length - a.length)) {
      if (out === v) return REDACTED;
      if (v.length >= MIN_SUBSTRING && out.includes(v)) out = out.split(v).join(REDACTED);
    }
    if (!out.includes('\n') && !LINE.test(out)) return out;
    return out
      .split('\n')
      .map((line) => {
        const m = LINE.exec(line);
        if (
          !m ||
          !this.isSecretKey(m[2]) ||
          m[4] === REDACTED ||
          /^["']?\*\*\*["']?$/.test(m[4]) ||
          m[4] === '|' ||
          m[4] === '{' ||
          m[4] === '['
        )
          return line;
        const q = /^["']/.test(m[4]) ? m[4][0] : '';
        return `${m[1]}${m[2]}${m[3]}${q}${REDACTED}${q}${m[5]}`;
      })
      .join('\n');
  }

  /** The redacted text of a UTF-8 file, or undefined when it is binary or needs no change. */
  fileText(buf: Buffer): string | undefined {
    if (buf.includes(0)) return undefined;
    const s = buf.toString('utf8');
    if (Buffer.from(s, 'utf8').equals(buf) === false) return undefined;
    const r = this.text(s);
    return r === s ? undefined : r;
  }
}

/** Wraps any Tracker so nothing secret reaches it; the store never sees the raw values. */
export class RedactingTracker implements Tracker {
  constructor(
    private readonly inner: Tracker,
    readonly redactor: Redactor,
  ) {}

  async startRun(options: StartRunOptions): Promise<TrackedRun> {
    const tags = options.tags ? (this.redactor.entries(options.tags) as Record<string, string>) : undefined;
    const runName = options.runName === undefined ? undefined : this.redactor.text(options.runName);
    return new RedactingRun(await this.inner.startRun({ ...options, runName, tags }), this.redactor);
  }

  async resumeRun(runId: string): Promise<TrackedRun> {
    if (!this.inner.resumeRun) throw new TrackingError('this tracker cannot reopen runs');
    return new RedactingRun(await this.inner.resumeRun(runId), this.redactor);
  }
}

export class RedactingRun implements TrackedRun {
  constructor(
    readonly inner: TrackedRun,
    private readonly r: Redactor,
  ) {}

  get runId(): string {
    return this.inner.runId;
  }
  get experimentId(): string {
    return this.inner.experimentId;
  }
  get location(): string {
    return this.inner.location;
  }

  logParams(params: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    return this.inner.logParams(this.r.entries(params));
  }
  logMetrics(metrics: Readonly<Record<string, number>>, step?: number): Promise<void> {
    return this.inner.logMetrics(metrics, step);
  }
  setTags(tags: Readonly<Record<string, string>>): Promise<void> {
    return this.inner.setTags(this.r.entries(tags) as Record<string, string>);
  }
  logText(artifactPath: string, text: string): Promise<void> {
    return this.inner.logText(artifactPath, this.r.text(text));
  }
  end(status: Exclude<RunStatus, 'RUNNING'>): Promise<void> {
    return this.inner.end(status);
  }

  /** Text files with a secret are logged from a redacted copy; binary files pass unchanged. */
  async logArtifact(localPath: string, artifactPath?: string): Promise<void> {
    const stat = await fs.stat(localPath).catch(() => undefined);
    if (!stat) return this.inner.logArtifact(localPath, artifactPath);
    const files = stat.isDirectory() ? await listFiles(localPath) : [''];
    const changed = new Map<string, string>();
    for (const rel of files) {
      const file = rel === '' ? localPath : path.join(localPath, rel);
      const red = this.r.fileText(await fs.readFile(file));
      if (red !== undefined) changed.set(rel, red);
    }
    if (changed.size === 0) return this.inner.logArtifact(localPath, artifactPath);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-redact-'));
    try {
      const copy = path.join(tmp, path.basename(localPath));
      if (stat.isDirectory()) await fs.cp(localPath, copy, { recursive: true });
      for (const [rel, text] of changed) await fs.writeFile(rel === '' ? copy : path.join(copy, rel), text);
      await this.inner.logArtifact(copy, artifactPath);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const d of await fs.readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...(await listFiles(path.join(dir, d.name), rel)));
    else if (d.isFile()) out.push(rel);
  }
  return out;
}
