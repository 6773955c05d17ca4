/**
 * The `tracking: { name: mlflow }` plugin (group `tracker`). One name, two stores, chosen by `uri`:
 * a path or `file:` URI writes the local MLflow file store (the default, no server needed);
 * `http(s)://` logs to a tracking server through the REST client and a local spool. Both are
 * wrapped in the redactor, so secrets reach neither.
 */
import path from 'node:path';
import { ContainerModule, inject, injectable, optional } from 'inversify';
import {
  registerPlugin,
  TOKENS,
  type Logger,
  type RunContext,
  type RunStoreLocation,
  type StartRunOptions,
  type TrackedRun,
  type Tracker,
} from '@niwt/core';
import { secretValuesFromEnv } from './credentials.js';
import { mlflowPreflight } from './preflight.js';
import { FileStoreTracker } from './file-store.js';
import { RedactingTracker, Redactor } from './redact.js';
import { RestTracker } from './rest-tracker.js';
import { DEFAULT_SPOOL_DIR } from './spool/spool.js';
import { DEFAULT_TRACKING_URI, isServerUri } from './uri.js';
import { mlflowTrackerOptions, type MlflowTrackerOptions } from './options.js';

export { mlflowTrackerOptions, type MlflowTrackerOptions };

@injectable()
export class MlflowTracker implements Tracker {
  /** The underlying store, unredacted: for tests and `niwt runs`. */
  readonly store: FileStoreTracker | RestTracker;
  readonly redactor: Redactor;
  private readonly tracker: RedactingTracker;
  private readonly uri: string;

  /** Resolves and checks `uri` here, so a bad value fails before any training starts. */
  constructor(
    @inject(TOKENS.options) options: MlflowTrackerOptions,
    @inject(TOKENS.runContext) context: RunContext,
    @inject(TOKENS.logger) @optional() logger?: Logger,
  ) {
    const uri = options.uri ?? DEFAULT_TRACKING_URI;
    this.uri = uri;
    this.redactor = new Redactor(options.secretKeys ?? [], secretValuesFromEnv(process.env, uri));
    this.store = isServerUri(uri)
      ? new RestTracker({
          uri,
          spoolDir: path.resolve(context.baseDir, options.spoolDir ?? DEFAULT_SPOOL_DIR),
          timeoutMs: options.timeoutMs,
          retryBudgetMs: options.retryBudgetMs,
          logger,
        })
      : FileStoreTracker.fromUri(uri, context.baseDir);
    this.tracker = new RedactingTracker(this.store, this.redactor);
  }

  /** Absolute path of the `mlruns` folder (file stores), or the server's URL without credentials. */
  get root(): string {
    return this.store instanceof FileStoreTracker ? this.store.root : this.store.server.baseUrl;
  }

  /** The file store's folder, or the server's URI as configured (see `Tracker.runStore`). */
  runStore(): RunStoreLocation {
    return this.store instanceof FileStoreTracker
      ? { kind: 'mlflow-file', root: this.store.root }
      : { kind: 'mlflow-server', uri: this.uri };
  }

  startRun(options: StartRunOptions): Promise<TrackedRun> {
    return this.tracker.startRun(options);
  }

  /** Reopens a run of this store under the same id (see `Tracker.resumeRun`). */
  resumeRun(runId: string): Promise<TrackedRun> {
    return this.tracker.resumeRun(runId);
  }
}

/** Registers `tracker:mlflow`. */
export const trackingModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'tracker',
    name: 'mlflow',
    description:
      'MLflow runs: a local file store (uri: file:./mlruns, the default) or a tracking server (uri: ' +
      'http://host:port, spooled)',
    schema: mlflowTrackerOptions,
    impl: MlflowTracker,
    // a file store in the check's temp folder
    testOptions: { uri: 'file:./mlruns' },
    preflight: mlflowPreflight,
  });
});
