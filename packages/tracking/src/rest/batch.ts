/**
 * Splits what a run logs into `runs/log-batch` bodies MLflow accepts (mlflow/utils/validation.py):
 * ≤1000 metrics, ≤100 params, ≤100 tags, ≤1000 entities and a JSON body ≤1 MB per call. Order is
 * kept, so metric points of one key stay in step order across calls.
 */
import type { KeyValue, LogBatch, WireMetric } from './types.js';

export const MAX_BATCH_METRICS = 1000;
export const MAX_BATCH_PARAMS = 100;
export const MAX_BATCH_TAGS = 100;
export const MAX_BATCH_ENTITIES = 1000;
/** MLflow's MAX_BATCH_LOG_REQUEST_SIZE is 1e6 bytes; keep headroom for `run_id` and framing. */
export const MAX_BATCH_BYTES = 950_000;

export type BatchEntity =
  { readonly kind: 'metric'; readonly item: WireMetric } | { readonly kind: 'param' | 'tag'; readonly item: KeyValue };

const bytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v)) + 1;

/** Greedy: each batch takes entities in order until the next one would break a limit. Returns index ranges too. */
export function splitBatches(entities: readonly BatchEntity[]): { batch: LogBatch; from: number; to: number }[] {
  const out: { batch: LogBatch; from: number; to: number }[] = [];
  let metrics: WireMetric[] = [];
  let params: KeyValue[] = [];
  let tags: KeyValue[] = [];
  let size = 100;
  let from = 0;
  const paramKeys = new Set<string>();
  const flush = (to: number): void => {
    if (to > from) out.push({ batch: { metrics, params, tags }, from, to });
    metrics = [];
    params = [];
    tags = [];
    size = 100;
    from = to;
    paramKeys.clear();
  };
  entities.forEach((e, i) => {
    const b = bytes(e.item);
    const n = metrics.length + params.length + tags.length;
    const full =
      n >= MAX_BATCH_ENTITIES ||
      size + b > MAX_BATCH_BYTES ||
      (e.kind === 'metric' && metrics.length >= MAX_BATCH_METRICS) ||
      (e.kind === 'param' && (params.length >= MAX_BATCH_PARAMS || paramKeys.has(e.item.key))) ||
      (e.kind === 'tag' && tags.length >= MAX_BATCH_TAGS);
    if (full) flush(i);
    size += b;
    if (e.kind === 'metric') metrics.push(e.item);
    else if (e.kind === 'param') {
      params.push(e.item);
      paramKeys.add(e.item.key);
    } else tags.push(e.item);
  });
  flush(entities.length);
  return out;
}
