/**
 * One HTTP call to an MLflow server with MLflow's own retry policy (mlflow/utils/request_utils.py):
 * network errors, 408, 429 and 5xx are retried with exponential backoff and full jitter, bounded by a
 * total time budget so a dead server never stalls an experiment for long. Other 4xx are final.
 */
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { TrackingError } from '@niwt/core';
import type { Credentials } from '../credentials.js';

export interface RetryPolicy {
  /** Total time allowed for one call, attempts and waits included. */
  readonly budgetMs: number;
  /** First wait; doubles per attempt (MLflow's backoff factor 2). */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export interface HttpOptions {
  /** `http(s)://host:port[/prefix]`, no credentials. */
  readonly baseUrl: string;
  readonly credentials: Credentials;
  /** Per attempt. */
  readonly timeoutMs: number;
  readonly retry: RetryPolicy;
  /** For tests: replaces the random jitter and the sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
}

export const DEFAULT_RETRY: RetryPolicy = { budgetMs: 60_000, baseDelayMs: 250, maxDelayMs: 8_000 };

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

/** A failed call, classified so the spool knows whether the server may have applied it. */
export class MlflowHttpError extends TrackingError {
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly errorCode: string | undefined,
    /** False only when the request provably never reached the server (connection refused, DNS). */
    readonly maybeApplied: boolean,
    readonly transient: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The server answered, but not as MLflow does: an HTML page (a login, a wrong path prefix), or JSON of
 * another shape. Final (retrying cannot help); the message names the URI, the endpoint and what came back.
 */
export class NotMlflowError extends MlflowHttpError {
  constructor(baseUrl: string, endpoint: string, status: number, got: string) {
    super(
      `tracking.uri ${baseUrl}: expected an MLflow REST answer from /api/2.0/mlflow/${endpoint}, ` +
        `got HTTP ${status} ${got}; ` +
        `check that the URI is the MLflow server's root (no login page or extra path in between)`,
      status,
      undefined,
      false,
      false,
    );
  }
}

/** `text/html "<!DOCTYPE html><html>…"`: the content type and the start of a body, for messages. */
export function describeBody(contentType: unknown, body: unknown): string {
  const type =
    typeof contentType === 'string' && contentType !== '' ? contentType.split(';')[0].trim() : 'no content type';
  const json = (): string => JSON.stringify(body) ?? String(body);
  const text = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body.toString('utf8') : json();
  const start = text.replace(/\s+/g, ' ').trim();
  return `${type} ${JSON.stringify(start.length > 60 ? `${start.slice(0, 60)}…` : start)}`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

export class HttpTransport {
  private readonly http: AxiosInstance;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(readonly options: HttpOptions) {
    const headers: Record<string, string> = {};
    const c = options.credentials;
    if (c.token !== undefined) headers.Authorization = `Bearer ${c.token}`;
    else if (c.username !== undefined)
      headers.Authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    this.http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ''),
      timeout: options.timeoutMs,
      headers,
      maxBodyLength: Infinity,
      maxContentLength: Infinity,
      // Statuses are classified here, not thrown by axios.
      validateStatus: () => true,
      proxy: false,
    });
    this.sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /** JSON call under `/api/2.0/mlflow/`; resolves to the parsed body. */
  /**
   * JSON call under `/api/2.0/mlflow/`; resolves to the parsed body. `appends` marks calls that are not
   * idempotent (log-batch): they are never resent blindly after an answer was lost; the caller decides.
   */
  async json<T>(
    method: 'GET' | 'POST',
    endpoint: string,
    body?: unknown,
    params?: Record<string, string | number>,
    appends = false,
  ): Promise<T> {
    const res = await this.call(
      {
        method,
        url: `/api/2.0/mlflow/${endpoint}`,
        data: body,
        params,
        headers: { 'Content-Type': 'application/json' },
      },
      endpoint,
      appends,
    );
    if (!isObject(res.data)) {
      throw new NotMlflowError(
        this.options.baseUrl,
        endpoint,
        res.status,
        describeBody(res.headers['content-type'], res.data),
      );
    }
    return res.data as T;
  }

  /** `value` when the answer had it, else a NotMlflowError naming the missing field (JSON of another shape). */
  expect<V>(value: V | undefined | null, endpoint: string, field: string, body: unknown): V {
    if (value === undefined || value === null) {
      const got = `JSON without '${field}': ${describeBody('application/json', body)}`;
      throw new NotMlflowError(this.options.baseUrl, endpoint, 200, got);
    }
    return value;
  }

  /** Raw call (artifacts). */
  async raw(config: AxiosRequestConfig, what: string): Promise<AxiosResponse> {
    return this.call(config, what);
  }

  private async call(config: AxiosRequestConfig, what: string, appends = false): Promise<AxiosResponse> {
    const start = Date.now();
    const { budgetMs, baseDelayMs, maxDelayMs } = this.options.retry;
    let maybeApplied = false;
    for (let attempt = 0; ; attempt++) {
      let err: MlflowHttpError;
      try {
        const res = await this.http.request(config);
        if (res.status >= 200 && res.status < 300) return res;
        err = this.statusError(res, config, what, maybeApplied);
      } catch (e) {
        err = this.networkError(e, what, maybeApplied);
      }
      maybeApplied = err.maybeApplied;
      const wait = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) * Math.random();
      if (!err.transient || (appends && err.maybeApplied) || Date.now() - start + wait > budgetMs) throw err;
      await this.sleep(wait);
    }
  }

  private statusError(res: AxiosResponse, config: AxiosRequestConfig, what: string, before: boolean): MlflowHttpError {
    const body: unknown = res.data;
    const type = String(res.headers['content-type'] ?? '');
    if (!RETRY_STATUS.has(res.status) && /html/i.test(type) && typeof config.url === 'string') {
      const endpoint = config.url.replace(/^\/api\/2\.0\/mlflow\//, '');
      return new NotMlflowError(this.options.baseUrl, endpoint, res.status, describeBody(type, body));
    }
    const rec = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const code = typeof rec.error_code === 'string' ? rec.error_code : undefined;
    const detail =
      typeof rec.message === 'string'
        ? rec.message.split('\n')[0]
        : typeof body === 'string'
          ? body.slice(0, 200).trim()
          : '';
    const hint =
      res.status === 401 || res.status === 403
        ? ' (check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD or MLFLOW_TRACKING_TOKEN)'
        : res.status === 404 && code === undefined
          ? ' (is this an MLflow server, and is the URI its root?)'
          : '';
    const transient = RETRY_STATUS.has(res.status);
    // A proxy's or the server's 5xx may come after the server applied the request.
    return new MlflowHttpError(
      `MLflow ${what}: HTTP ${res.status}${code ? ` ${code}` : ''}${detail ? `: ${detail}` : ''}${hint}`,
      res.status,
      code,
      before || res.status >= 500 || res.status === 408,
      transient,
    );
  }

  private networkError(e: unknown, what: string, before: boolean): MlflowHttpError {
    const code = axios.isAxiosError(e) ? e.code : undefined;
    const cause =
      axios.isAxiosError(e) && e.cause instanceof Error ? (e.cause as NodeJS.ErrnoException).code : undefined;
    const sysCode = cause ?? code ?? 'ERROR';
    const notSent = NOT_SENT.has(sysCode);
    return new MlflowHttpError(
      `MLflow ${what}: cannot reach ${this.options.baseUrl} ` +
        `(${sysCode}${e instanceof Error && e.message ? `: ${e.message}` : ''}); is the server running?`,
      undefined,
      undefined,
      before || !notSent,
      true,
      { cause: e },
    );
  }
}
