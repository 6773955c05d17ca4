export {
  FileStoreTracker,
  FileStoreRun,
  formatMetricLine,
  MLFLOW_TAGS,
  type FileStoreTrackerOptions,
} from './file-store.js';
export { MlflowTracker, mlflowTrackerOptions, trackingModule, type MlflowTrackerOptions } from './module.js';
export {
  findLocalRun,
  listLocalExperiments,
  listLocalRuns,
  parseMetricLines,
  readLocalRun,
  type LocalExperiment,
  type LocalRun,
  type MetricPoint,
} from './read.js';
export { DEFAULT_TRACKING_URI, isServerUri, resolveStoreRoot } from './uri.js';
export { RUN_STATUS_CODES, type StoredRunStatus } from './meta.js';
export {
  MAX_EXPERIMENT_NAME_LENGTH,
  MAX_KEY_LENGTH,
  MAX_PARAM_VALUE_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  validateKey,
  type KeyKind,
} from './validation.js';
export { displayUri, parseServerUri, secretValuesFromEnv, type Credentials, type ServerUri } from './credentials.js';
export { REDACTED, RedactingRun, RedactingTracker, Redactor } from './redact.js';
export { MlflowRestClient, proxiedRoot, type CreateRunRequest } from './rest/client.js';
export { DEFAULT_RETRY, HttpTransport, MlflowHttpError, type HttpOptions, type RetryPolicy } from './rest/http.js';
export {
  MAX_BATCH_BYTES,
  MAX_BATCH_ENTITIES,
  MAX_BATCH_METRICS,
  MAX_BATCH_PARAMS,
  MAX_BATCH_TAGS,
  splitBatches,
  type BatchEntity,
} from './rest/batch.js';
export {
  fromWireDouble,
  toWireDouble,
  type KeyValue,
  type LogBatch,
  type RestExperiment,
  type RestRun,
  type RestRunInfo,
  type RestRunStatus,
  type WireDouble,
  type WireMetric,
} from './rest/types.js';
export { makeClient, RestTrackedRun, RestTracker, type RestTrackerOptions } from './rest-tracker.js';
export {
  DEFAULT_SPOOL_DIR,
  listSpoolRuns,
  RUN_KEY_TAG,
  SpoolRun,
  type SpoolMeta,
  type SpoolOp,
  type SpoolState,
} from './spool/spool.js';
export { emptyStats, Syncer, type SyncReport, type SyncStats } from './spool/sync.js';
export { runFinder, type RunFinder, type RunFinderOptions, type RunQuery, type StoredRun } from './stored-runs.js';
export { pushLocalRun, type PushOptions, type PushResult } from './push.js';
export { syncSpool, type SyncSpoolOptions } from './sync-spool.js';
export { MlflowTestServer, freePort } from './testing/server.js';
export { FaultProxy, type Fault, type RecordedRequest } from './testing/proxy.js';
export { PROBE_TIMEOUT_MS, probeClient, probeServer } from './probe.js';
export { trackingUriProblem } from './uri.js';
export { NotMlflowError, describeBody } from './rest/http.js';
