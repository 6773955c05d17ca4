/** MLflow REST DTOs (docs/api_reference/source/rest-api.rst), only the fields this client uses. */

export type RestRunStatus = 'RUNNING' | 'SCHEDULED' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

/** Doubles travel as JSON numbers, or as "NaN" / "Infinity" / "-Infinity" (protobuf JSON mapping). */
export type WireDouble = number | 'NaN' | 'Infinity' | '-Infinity';

export interface WireMetric {
  readonly key: string;
  readonly value: WireDouble;
  readonly timestamp: number;
  readonly step: number;
}

export interface RestExperiment {
  readonly experiment_id: string;
  readonly name: string;
  readonly artifact_location?: string;
  readonly lifecycle_stage: string;
}

export interface RestRunInfo {
  readonly run_id: string;
  readonly experiment_id: string;
  readonly run_name?: string;
  readonly user_id?: string;
  readonly status: RestRunStatus;
  readonly start_time?: number;
  readonly end_time?: number;
  readonly artifact_uri?: string;
  readonly lifecycle_stage: string;
}

export interface RestRun {
  readonly info: RestRunInfo;
  readonly data: {
    readonly metrics?: readonly WireMetric[];
    readonly params?: readonly KeyValue[];
    readonly tags?: readonly KeyValue[];
  };
}

export interface LogBatch {
  readonly metrics: readonly WireMetric[];
  readonly params: readonly KeyValue[];
  readonly tags: readonly KeyValue[];
}

export interface ArtifactFile {
  readonly path: string;
  readonly is_dir: boolean;
  readonly file_size?: number;
}

/** A JS number on the wire: JSON has no NaN/Infinity, MLflow accepts the protobuf strings. */
export function toWireDouble(v: number): WireDouble {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return v;
}

export function fromWireDouble(v: WireDouble | string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return Number(v);
}
