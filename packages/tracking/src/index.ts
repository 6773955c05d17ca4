export { FileStoreTracker, FileStoreRun, formatMetricLine, MLFLOW_TAGS, type FileStoreTrackerOptions } from './file-store.js';
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
export { DEFAULT_TRACKING_URI, resolveStoreRoot } from './uri.js';
export { RUN_STATUS_CODES, type StoredRunStatus } from './meta.js';
export {
  MAX_EXPERIMENT_NAME_LENGTH,
  MAX_KEY_LENGTH,
  MAX_PARAM_VALUE_LENGTH,
  MAX_TAG_VALUE_LENGTH,
  validateKey,
  type KeyKind,
} from './validation.js';
