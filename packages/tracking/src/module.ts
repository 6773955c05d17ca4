/**
 * The `tracking: { name: mlflow }` plugin (group `tracker`). This version writes the MLflow file store; the REST client
 * for tracking servers will plug in behind the same name and `uri` option later.
 */
import { ContainerModule, inject, injectable } from 'inversify';
import { z } from 'zod';
import { registerPlugin, TOKENS, type RunContext, type StartRunOptions, type Tracker } from '@niwt/core';
import { FileStoreTracker, type FileStoreRun } from './file-store.js';
import { DEFAULT_TRACKING_URI } from './uri.js';

export const mlflowTrackerOptions = z.strictObject({
  /** `file:./mlruns` (relative to the config's folder), `file:///abs/mlruns` or a plain path. */
  uri: z.string().min(1).default(DEFAULT_TRACKING_URI),
});
export type MlflowTrackerOptions = z.infer<typeof mlflowTrackerOptions>;

@injectable()
export class MlflowTracker implements Tracker {
  private readonly store: FileStoreTracker;

  /** Resolves and checks `uri` here, so a bad value fails before any training starts. */
  constructor(@inject(TOKENS.options) options: MlflowTrackerOptions, @inject(TOKENS.runContext) context: RunContext) {
    this.store = FileStoreTracker.fromUri(options.uri ?? DEFAULT_TRACKING_URI, context.baseDir);
  }

  /** Absolute path of the `mlruns` folder. */
  get root(): string {
    return this.store.root;
  }

  startRun(options: StartRunOptions): Promise<FileStoreRun> {
    return this.store.startRun(options);
  }
}

/** Registers `tracker:mlflow`. */
export const trackingModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'tracker',
    name: 'mlflow',
    description: 'MLflow runs in a local file store (uri: file:./mlruns); open with MLFLOW_ALLOW_FILE_STORE=true mlflow ui',
    schema: mlflowTrackerOptions,
    impl: MlflowTracker,
  });
});
