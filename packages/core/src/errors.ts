/**
 * The one family of user-facing errors. A `NiwtError` is a user mistake or an environment problem
 * with a remedy: the CLI prints its message on one line and exits 2 (stack only with `--verbose`).
 * Anything else is a bug and keeps its stack.
 */
export type NiwtErrorCode =
  | 'CONFIG' // a config file or override is wrong
  | 'PLUGIN' // a plugin name is unknown, or a plugin module failed to load
  | 'DATASET' // files of a dataset are missing or malformed
  | 'FORMAT' // a data file (.npy, .mat, ...) is malformed
  | 'BACKEND' // a tensor backend could not be used
  | 'TRACKING' // the tracking store refused or failed
  | 'STATE' // an operation was called in the wrong order
  | 'CONTRACT' // a plugin returned something its contract forbids (see contract-gate.ts)
  | 'USAGE'; // the command line is wrong

export class NiwtError extends Error {
  readonly code: NiwtErrorCode;
  constructor(code: NiwtErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A config value is wrong. `where` is `file:line path` or just the dotted path. */
export class ConfigError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CONFIG', message, options);
  }
}

export class PluginError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PLUGIN', message, options);
  }
}

/** A dataset on disk is missing a file or has a malformed one; the message names the file (and line). */
export class DatasetError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DATASET', message, options);
  }
}

export class FormatError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('FORMAT', message, options);
  }
}

export class BackendError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BACKEND', message, options);
  }
}

export class TrackingError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TRACKING', message, options);
  }
}

export class StateError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STATE', message, options);
  }
}

export class UsageError extends NiwtError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('USAGE', message, options);
  }
}

export function isNiwtError(e: unknown): e is NiwtError {
  return e instanceof NiwtError;
}

/** `file:line` when a line is known, else the file. */
export function at(file: string, line?: number): string {
  return line === undefined ? file : `${file}:${line}`;
}
