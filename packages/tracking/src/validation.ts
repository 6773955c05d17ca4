/**
 * MLflow's rules for keys and values (mlflow/utils/validation.py), checked before anything is written
 * so a bad key fails the call with a message naming it, instead of a store MLflow later refuses.
 * Nothing is ever truncated: a value that is too long is an error.
 */
import { TrackingError } from '@niwt/core';

/** MLflow `MAX_ENTITY_KEY_LENGTH`: params, metrics and tags. */
export const MAX_KEY_LENGTH = 250;
/** MLflow `MAX_PARAM_VAL_LENGTH`. */
export const MAX_PARAM_VALUE_LENGTH = 6000;
/**
 * Run tag values. MLflow 3.17 raised its limit to 8000; 5000 is what older servers and SQL stores
 * accept, so a store written here stays loadable everywhere (and by a future REST client).
 */
export const MAX_TAG_VALUE_LENGTH = 5000;
/** MLflow `MAX_EXPERIMENT_NAME_LENGTH`. */
export const MAX_EXPERIMENT_NAME_LENGTH = 500;

/**
 * `^[/\w.\- ]*$` with Python's Unicode `\w`. MLflow ≥3.x also allows `:` except on Windows; we keep
 * the Windows-safe set because keys become file names and stores get copied between machines.
 */
const KEY_PATTERN = /^[/\p{L}\p{N}_.\- ]*$/u;

export type KeyKind = 'param' | 'metric' | 'tag';

/** Python's `posixpath.normpath`, which MLflow uses to reject keys that would alias another file. */
export function posixNormpath(p: string): string {
  if (p === '') return '.';
  let initialSlashes = p.startsWith('/') ? 1 : 0;
  if (p.startsWith('//') && !p.startsWith('///')) initialSlashes = 2;
  const out: string[] = [];
  for (const comp of p.split('/')) {
    if (comp === '' || comp === '.') continue;
    if (
      comp !== '..' ||
      (initialSlashes === 0 && out.length === 0) ||
      (out.length > 0 && out[out.length - 1] === '..')
    ) {
      out.push(comp);
    } else if (out.length > 0) {
      out.pop();
    }
  }
  const joined = '/'.repeat(initialSlashes) + out.join('/');
  return joined === '' ? '.' : joined;
}

/** Length in code points, as Python's `len(str)` counts. */
export function codePointLength(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

/** Throws a TrackingError naming the key when MLflow would reject it. */
export function validateKey(kind: KeyKind, key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new TrackingError(`invalid ${kind} key ${String(key)}: a key must be a string`);
  const shown = JSON.stringify(key);
  if (!KEY_PATTERN.test(key)) {
    throw new TrackingError(
      `invalid ${kind} key ${shown}: names may only contain alphanumerics, underscores (_), dashes (-), ` +
        `periods (.), spaces ( ) and slashes (/)`,
    );
  }
  const norm = posixNormpath(key);
  if (norm !== key || norm === '.' || norm.startsWith('..') || norm.startsWith('/')) {
    throw new TrackingError(
      `invalid ${kind} key ${shown}: keys become file paths and must not resolve to another name (this one ` +
        `resolves to ${JSON.stringify(norm)}); ` +
        `avoid empty keys, '.', '..', leading, trailing or doubled slashes`,
    );
  }
  const len = codePointLength(key);
  if (len > MAX_KEY_LENGTH) {
    throw new TrackingError(
      `invalid ${kind} key ${shown}: it is ${len} characters long, MLflow allows at most ${MAX_KEY_LENGTH}; ` +
        `shorten it (keys are never truncated)`,
    );
  }
}

function validateLength(what: string, key: string, value: string, limit: number, hint: string): void {
  const len = codePointLength(value);
  if (len > limit) {
    throw new TrackingError(
      `${what} ${JSON.stringify(key)}: value is ${len} characters long, MLflow allows at most ${limit} ` +
        `(values are never truncated); ${hint}`,
    );
  }
}

export function validateParamValue(key: string, value: string): void {
  validateLength('param', key, value, MAX_PARAM_VALUE_LENGTH, 'log it as a text artifact with logText instead');
}

export function validateTagValue(key: string, value: unknown): asserts value is string {
  if (typeof value !== 'string')
    throw new TrackingError(`tag ${JSON.stringify(key)}: value must be a string, got ${typeof value}`);
  validateLength('tag', key, value, MAX_TAG_VALUE_LENGTH, 'log it as a text artifact with logText instead');
}

/** Params accept strings, finite or not numbers, and booleans; they are stored as strings. */
export function paramToString(key: string, value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new TrackingError(
    `param ${JSON.stringify(key)}: value must be a string, number or boolean, got ` +
      `${value === null ? 'null' : typeof value}`,
  );
}

export function validateMetric(key: string, value: unknown, step: unknown): asserts value is number {
  if (typeof value !== 'number') {
    throw new TrackingError(
      `metric ${JSON.stringify(key)}: value must be a number (a 64-bit float), got ` +
        `${value === null ? 'null' : typeof value}`,
    );
  }
  if (typeof step !== 'number' || !Number.isSafeInteger(step)) {
    throw new TrackingError(`metric ${JSON.stringify(key)}: step must be an integer, got ${String(step)}`);
  }
}

export function validateExperimentName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.trim() === '') {
    throw new TrackingError(`invalid experiment name ${JSON.stringify(name)}: it must be a non-empty string`);
  }
  const len = codePointLength(name);
  if (len > MAX_EXPERIMENT_NAME_LENGTH) {
    throw new TrackingError(
      `invalid experiment name ${JSON.stringify(name.slice(0, 60))}…: it is ${len} characters long, MLflow ` +
        `allows at most ${MAX_EXPERIMENT_NAME_LENGTH}`,
    );
  }
}

/** MLflow `_RUN_ID_REGEX`. */
const RUN_ID_PATTERN = /^[a-zA-Z0-9][\w-]{0,255}$/;

export function validateRunId(what: string, id: unknown): asserts id is string {
  if (typeof id !== 'string' || !RUN_ID_PATTERN.test(id)) {
    throw new TrackingError(
      `invalid ${what} ${JSON.stringify(id)}: run ids are 32 hex characters (MLflow accepts [A-Za-z0-9][\\w-]{0,255})`,
    );
  }
}

/**
 * An artifact path relative to the run's `artifacts/` folder: no absolute paths, no `..`, so a
 * caller can never write outside the run.
 */
export function normalizeArtifactPath(p: string, allowEmpty: boolean): string {
  const trimmed = p.replace(/\\/g, '/');
  if (trimmed.startsWith('/') || /^[a-zA-Z]:/.test(trimmed)) {
    throw new TrackingError(
      `invalid artifact path ${JSON.stringify(p)}: it must be relative to the run's artifacts folder`,
    );
  }
  const norm = posixNormpath(trimmed);
  if (norm === '..' || norm.startsWith('../')) {
    throw new TrackingError(
      `invalid artifact path ${JSON.stringify(p)}: it must stay inside the run's artifacts folder (no '..')`,
    );
  }
  if (norm === '.') {
    if (allowEmpty) return '';
    throw new TrackingError(`invalid artifact path ${JSON.stringify(p)}: a file name is required`);
  }
  return norm;
}
