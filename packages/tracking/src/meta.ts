/**
 * The `meta.yaml` files of MLflow's FileStore, field for field as `FileStore.create_run` /
 * `_create_experiment_with_id` write them (PyYAML, sorted keys). Strings YAML 1.1 would read as
 * another type (`'0'`, `'yes'`, `'1:20'`) are quoted, because MLflow reads them with PyYAML.
 */
import YAML from 'yaml';
import type { RunStatus } from '@niwt/core';

/** MLflow's `RunStatus` int enum as stored in `meta.yaml`. */
export const RUN_STATUS_CODES = { RUNNING: 1, SCHEDULED: 2, FINISHED: 3, FAILED: 4, KILLED: 5 } as const;
export type StoredRunStatus = keyof typeof RUN_STATUS_CODES;

/** `SourceType.LOCAL`; MLflow writes it for every run it creates in a file store. */
export const SOURCE_TYPE_LOCAL = 4;

export type LifecycleStage = 'active' | 'deleted';

export interface ExperimentMeta {
  artifact_location: string;
  creation_time: number;
  experiment_id: string;
  last_update_time: number;
  lifecycle_stage: LifecycleStage;
  name: string;
}

export interface RunMeta {
  artifact_uri: string;
  end_time: number | null;
  entry_point_name: string;
  experiment_id: string;
  lifecycle_stage: LifecycleStage;
  run_id: string;
  run_name: string;
  /** Required by MLflow 2.x readers; always equal to run_id. */
  run_uuid: string;
  source_name: string;
  source_type: number;
  source_version: string;
  start_time: number;
  status: number;
  /** Legacy, always empty: tags live in `tags/`. */
  tags: [];
  user_id: string;
  deleted_time: number | null;
}

const STRINGIFY: YAML.DocumentOptions & YAML.SchemaOptions & YAML.ToStringOptions = {
  version: '1.1',
  singleQuote: true,
  lineWidth: 0,
  sortMapEntries: true,
};

/** Also takes a raw record, so rewriting a meta.yaml keeps fields a newer MLflow added. */
export function stringifyMeta(meta: ExperimentMeta | RunMeta | Record<string, unknown>): string {
  return YAML.stringify(meta, STRINGIFY);
}

export function parseYaml(text: string): unknown {
  return YAML.parse(text, { version: '1.1' });
}

export function statusCode(status: StoredRunStatus | RunStatus): number {
  return RUN_STATUS_CODES[status];
}

export function statusName(code: unknown): StoredRunStatus | undefined {
  const found = (Object.keys(RUN_STATUS_CODES) as StoredRunStatus[]).find(
    (k) => RUN_STATUS_CODES[k] === code || k === code,
  );
  return found;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Accepts what MLflow writes (ids may be legacy ints); undefined when the text is not an experiment meta. */
export function toExperimentMeta(v: unknown): ExperimentMeta | undefined {
  if (
    !isRecord(v) ||
    typeof v.name !== 'string' ||
    (typeof v.experiment_id !== 'string' && typeof v.experiment_id !== 'number')
  )
    return undefined;
  return {
    artifact_location: typeof v.artifact_location === 'string' ? v.artifact_location : '',
    creation_time: typeof v.creation_time === 'number' ? v.creation_time : 0,
    experiment_id: String(v.experiment_id),
    last_update_time: typeof v.last_update_time === 'number' ? v.last_update_time : 0,
    lifecycle_stage: v.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
    name: v.name,
  };
}

export function toRunMeta(v: unknown): RunMeta | undefined {
  if (!isRecord(v)) return undefined;
  const runId = typeof v.run_id === 'string' ? v.run_id : typeof v.run_uuid === 'string' ? v.run_uuid : undefined;
  if (runId === undefined || (typeof v.experiment_id !== 'string' && typeof v.experiment_id !== 'number'))
    return undefined;
  const num = (x: unknown): number | null => (typeof x === 'number' ? x : null);
  const str = (x: unknown): string => (typeof x === 'string' ? x : '');
  return {
    artifact_uri: str(v.artifact_uri),
    end_time: num(v.end_time),
    entry_point_name: str(v.entry_point_name),
    experiment_id: String(v.experiment_id),
    lifecycle_stage: v.lifecycle_stage === 'deleted' ? 'deleted' : 'active',
    run_id: runId,
    run_name: str(v.run_name),
    run_uuid: runId,
    source_name: str(v.source_name),
    source_type: num(v.source_type) ?? SOURCE_TYPE_LOCAL,
    source_version: str(v.source_version),
    start_time: num(v.start_time) ?? 0,
    status: num(v.status) ?? RUN_STATUS_CODES.RUNNING,
    tags: [],
    user_id: str(v.user_id),
    deleted_time: num(v.deleted_time),
  };
}
