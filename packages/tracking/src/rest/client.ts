/**
 * A typed client for MLflow's tracking REST API (2.0 paths, unchanged in 3.x) and its proxied
 * artifact API (`mlflow-artifacts`). No JavaScript client in the registry is usable, so the project
 * owns this one (see ../shared/reference/ecosystem.md §2).
 */
import { TrackingError } from '@niwt/core';
import { HttpTransport, MlflowHttpError, type HttpOptions } from './http.js';
import { splitBatches, type BatchEntity } from './batch.js';
import type {
  ArtifactFile,
  KeyValue,
  LogBatch,
  RestExperiment,
  RestRun,
  RestRunInfo,
  RestRunStatus,
  WireMetric,
} from './types.js';

export interface CreateRunRequest {
  readonly experimentId: string;
  readonly runName?: string;
  readonly startTime: number;
  readonly userId?: string;
  readonly tags: readonly KeyValue[];
}

export class MlflowRestClient {
  readonly http: HttpTransport;
  /** Calls made, by endpoint: for tests and the numbers in reports. */
  readonly calls = new Map<string, number>();

  constructor(options: HttpOptions) {
    this.http = new HttpTransport(options);
  }

  get baseUrl(): string {
    return this.http.options.baseUrl;
  }

  private count(endpoint: string): void {
    this.calls.set(endpoint, (this.calls.get(endpoint) ?? 0) + 1);
  }

  private json<T>(
    method: 'GET' | 'POST',
    endpoint: string,
    body?: unknown,
    params?: Record<string, string | number>,
    appends = false,
  ): Promise<T> {
    this.count(endpoint);
    return this.http.json<T>(method, endpoint, body, params, appends);
  }

  async getExperimentByName(name: string): Promise<RestExperiment | undefined> {
    try {
      const endpoint = 'experiments/get-by-name';
      const r = await this.json<{ experiment?: RestExperiment }>('GET', endpoint, undefined, { experiment_name: name });
      return this.http.expect(r.experiment, endpoint, 'experiment', r);
    } catch (e) {
      if (e instanceof MlflowHttpError && e.errorCode === 'RESOURCE_DOES_NOT_EXIST') return undefined;
      throw e;
    }
  }

  /** Race-safe: a concurrent creator makes `create` fail with RESOURCE_ALREADY_EXISTS; then read it. */
  async getOrCreateExperiment(name: string): Promise<RestExperiment> {
    const found = await this.getExperimentByName(name);
    if (found) return this.checkActive(found);
    try {
      const r = await this.json<{ experiment_id?: string }>('POST', 'experiments/create', { name });
      const id = this.http.expect(r.experiment_id, 'experiments/create', 'experiment_id', r);
      return { experiment_id: id, name, lifecycle_stage: 'active' };
    } catch (e) {
      if (!(e instanceof MlflowHttpError && e.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw e;
    }
    const again = await this.getExperimentByName(name);
    if (!again) {
      throw new TrackingError(
        `experiment ${JSON.stringify(name)} exists on ${this.baseUrl} but is not readable by name; it is ` +
          `probably deleted: restore it (mlflow experiments restore) or choose another name`,
      );
    }
    return this.checkActive(again);
  }

  private checkActive(e: RestExperiment): RestExperiment {
    if (e.lifecycle_stage !== 'active') {
      throw new TrackingError(
        `experiment ${JSON.stringify(e.name)} (id ${e.experiment_id}) is deleted on ${this.baseUrl}; restore ` +
          `it (mlflow experiments restore --experiment-id ${e.experiment_id}) or choose another name`,
      );
    }
    return e;
  }

  async createRun(r: CreateRunRequest): Promise<RestRunInfo> {
    // Not idempotent: after a lost answer the caller looks the run up by its key tag (see Syncer).
    const res = await this.json<{ run?: RestRun }>(
      'POST',
      'runs/create',
      { experiment_id: r.experimentId, run_name: r.runName, start_time: r.startTime, user_id: r.userId, tags: r.tags },
      undefined,
      true,
    );
    return this.http.expect(res.run?.info, 'runs/create', 'run.info', res);
  }

  async updateRun(runId: string, status: RestRunStatus, endTime?: number): Promise<void> {
    await this.json('POST', 'runs/update', { run_id: runId, status, end_time: endTime });
  }

  async getRun(runId: string): Promise<RestRun> {
    const r = await this.json<{ run?: RestRun }>('GET', 'runs/get', undefined, { run_id: runId });
    return this.http.expect(r.run, 'runs/get', 'run', r);
  }

  /** Every run matching `filter` (all pages). */
  async searchRuns(
    experimentIds: readonly string[],
    filter?: string,
    viewType: 'ACTIVE_ONLY' | 'ALL' = 'ACTIVE_ONLY',
  ): Promise<RestRun[]> {
    const out: RestRun[] = [];
    let pageToken: string | undefined;
    do {
      const r = await this.json<{ runs?: RestRun[]; next_page_token?: string }>('POST', 'runs/search', {
        experiment_ids: experimentIds,
        filter,
        run_view_type: viewType,
        max_results: 1000,
        page_token: pageToken,
      });
      out.push(...(r.runs ?? []));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /** Every point of one metric (all pages). */
  async getMetricHistory(runId: string, key: string): Promise<WireMetric[]> {
    const out: WireMetric[] = [];
    let pageToken: string | undefined;
    do {
      const params: Record<string, string | number> = { run_id: runId, metric_key: key, max_results: 25_000 };
      if (pageToken) params.page_token = pageToken;
      const r = await this.json<{ metrics?: WireMetric[]; next_page_token?: string }>(
        'GET',
        'metrics/get-history',
        undefined,
        params,
      );
      out.push(...(r.metrics ?? []));
      pageToken = r.next_page_token || undefined;
    } while (pageToken);
    return out;
  }

  /**
   * One `runs/log-batch` call: the caller keeps it within limits (see `logBatchSplit`). Metrics append,
   * so it is retried only when the request provably never arrived; after a lost answer it throws an
   * MlflowHttpError with `maybeApplied` and the caller checks the server before resending (see Syncer).
   */
  async logBatch(runId: string, batch: LogBatch): Promise<void> {
    await this.json('POST', 'runs/log-batch', { run_id: runId, ...batch }, undefined, true);
  }

  /** Logs any number of entities in as many calls as MLflow's limits need; returns the number of calls. */
  async logBatchSplit(runId: string, entities: readonly BatchEntity[]): Promise<number> {
    const parts = splitBatches(entities);
    for (const p of parts) await this.logBatch(runId, p.batch);
    return parts.length;
  }

  /** PUT through the server's artifact proxy (`--serve-artifacts`, the default since MLflow 2.0). */
  async uploadArtifact(artifactUri: string, relPath: string, body: Buffer): Promise<void> {
    this.count('mlflow-artifacts/put');
    await this.http.raw(
      {
        method: 'PUT',
        url: `/api/2.0/mlflow-artifacts/artifacts/${encodePath(`${proxiedRoot(artifactUri)}/${relPath}`)}`,
        data: body,
        headers: { 'Content-Type': 'application/octet-stream' },
      },
      `upload artifact ${relPath}`,
    );
  }

  /** Files (recursively) under the run's artifact root, relative to it, sorted. */
  async listArtifacts(artifactUri: string, dir = ''): Promise<string[]> {
    this.count('mlflow-artifacts/list');
    const root = proxiedRoot(artifactUri);
    const res = await this.http.raw(
      { method: 'GET', url: '/api/2.0/mlflow-artifacts/artifacts', params: { path: dir ? `${root}/${dir}` : root } },
      'list artifacts',
    );
    const files = ((res.data as { files?: ArtifactFile[] }).files ?? []).map((f) => ({
      ...f,
      path: dir ? `${dir}/${f.path}` : f.path,
    }));
    const out: string[] = [];
    for (const f of files) out.push(...(f.is_dir ? await this.listArtifacts(artifactUri, f.path) : [f.path]));
    return out.sort();
  }

  async downloadArtifact(artifactUri: string, relPath: string): Promise<Buffer> {
    this.count('mlflow-artifacts/get');
    const res = await this.http.raw(
      {
        method: 'GET',
        url: `/api/2.0/mlflow-artifacts/artifacts/${encodePath(`${proxiedRoot(artifactUri)}/${relPath}`)}`,
        responseType: 'arraybuffer',
      },
      `download artifact ${relPath}`,
    );
    return Buffer.from(res.data as ArrayBuffer);
  }
}

const encodePath = (p: string): string => p.split('/').map(encodeURIComponent).join('/');

/** `mlflow-artifacts:[//host:port]/<exp>/<run>/artifacts` → `<exp>/<run>/artifacts`. */
export function proxiedRoot(artifactUri: string): string {
  const m = /^mlflow-artifacts:(?:\/\/[^/]*)?\/(.*)$/.exec(artifactUri);
  if (!m) {
    throw new TrackingError(
      `the server stores artifacts at ${artifactUri}, which this client cannot write; start mlflow server ` +
        `with --serve-artifacts (the default) and --artifacts-destination`,
    );
  }
  return m[1].replace(/\/+$/, '');
}
