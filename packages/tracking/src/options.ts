/** Options of the `tracking: { name: mlflow }` plugin (own module: `module.ts` and `preflight.ts` both read them). */
import { z } from 'zod';
import { DEFAULT_TRACKING_URI } from './uri.js';

export const mlflowTrackerOptions = z.strictObject({
  /** `file:./mlruns` (relative to the base folder), `file:///abs/mlruns`, a plain path, or `http(s)://host:port`. */
  uri: z.string().min(1).default(DEFAULT_TRACKING_URI),
  /**
   * Servers only: where calls are spooled before they are sent (relative to the base folder). Default `.niwt/spool`.
   */
  spoolDir: z.string().min(1).optional(),
  /** Servers only: milliseconds per HTTP attempt. Default 30000. */
  timeoutMs: z.number().int().positive().optional(),
  /** Servers only: milliseconds one call may spend retrying (network errors, 408, 429, 5xx). Default 60000. */
  retryBudgetMs: z.number().int().nonnegative().optional(),
  /** Extra dotted config keys whose values are secrets (with everything under them), e.g. `dataset.auth`. */
  secretKeys: z.array(z.string().min(1)).optional(),
});
export type MlflowTrackerOptions = z.infer<typeof mlflowTrackerOptions>;
