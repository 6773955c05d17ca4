/**
 * Stage D checkpoints: `<dir>/stage-d.ckpt`, one file replaced atomically, written at a bounded interval —
 * after every `everySteps` steps or `everySeconds` seconds since the last one, whichever comes first (defaults
 * 100 steps, 10 s), and when the loop ends (early stop or `maxSteps`). A kill loses at most that much work.
 *
 * It holds everything the remaining steps depend on: W_u (float32 bytes), Adam's step count and moments, the
 * batch sampler (the RNG state, the current pass's pair order and its cursor), the early stop's monitor and
 * counter, the step, the per-epoch loss bookkeeping of `finalWeights: 'best-epoch-loss'` (the epoch in progress and
 * the best epoch's weights), and the loss history (so the result's losses are those of an uninterrupted run). A resumed
 * stage D therefore ends with the same W_u bits and losses. The fingerprint covers the inputs (head tap shape,
 * pool size, seen weights, targets), every option and the engine that ran: another one is ignored, with a
 * warning through `onIgnored`, and stage D starts afresh.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { hashOf, type Matrix } from '@niwt/core';
import {
  adamStateArrays,
  adamStateFrom,
  readCheckpoint,
  writeCheckpoint,
  type AdamState,
  type CheckpointArray,
} from '@niwt/compute';
import type { EpochBest } from './epoch-best.js';

/** Where and how often stage D checkpoints (`trainUnseenWeights*`'s last argument). */
export interface StageDCheckpointing {
  readonly dir: string;
  /** Steps between checkpoints at most (default 100). */
  readonly everySteps?: number;
  /** Seconds between checkpoints at most (default 10). */
  readonly everySeconds?: number;
  /** A file in `dir` was not resumed from (another run's, or unreadable): why. */
  readonly onIgnored?: (reason: string) => void;
  /** Stage D continues after `step` steps restored from the checkpoint. */
  readonly onResumed?: (step: number) => void;
}

export const STAGE_D_CHECKPOINT_FILE = 'stage-d.ckpt';
export const STAGE_D_CHECKPOINT_DEFAULTS = { everySteps: 100, everySeconds: 10 } as const;

/** The state of a stage D run between two steps. */
export interface StageDState {
  readonly step: number;
  readonly stopped: boolean;
  readonly wu: Float32Array;
  readonly adam: AdamState;
  readonly rngState: number;
  /** The current pass over the pairs, as (image, class) pairs flattened. */
  readonly order: Int32Array;
  readonly cursor: number;
  readonly stopMonitor: number;
  readonly stopCount: number;
  readonly loss: number;
  readonly losses: readonly number[];
  /** `finalWeights: 'best-epoch-loss'` bookkeeping: the epoch in progress and the best one so far. */
  readonly epochs: EpochBest;
}

interface Meta {
  readonly step: number;
  readonly stopped: boolean;
  readonly adamStep: number;
  readonly rngState: number;
  readonly cursor: number;
  readonly stopCount: number;
  readonly epoch: number;
  readonly epochCount: number;
  readonly bestEpoch?: number;
}

function bytesHash(m: Matrix): string {
  const bytes = new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength);
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** What a stage D checkpoint is for: its inputs, options and engine. */
export function stageDFingerprint(
  inputs: {
    readonly tapShape: readonly number[];
    readonly poolSize: number;
    readonly seenWeights: Matrix;
    readonly targets: Matrix;
  },
  options: object,
  implementation: string,
): string {
  return hashOf({
    stage: 'niwt-stage-d',
    tapShape: inputs.tapShape,
    poolSize: inputs.poolSize,
    seen: [inputs.seenWeights.rows, inputs.seenWeights.cols, bytesHash(inputs.seenWeights)],
    targets: [inputs.targets.rows, inputs.targets.cols, bytesHash(inputs.targets)],
    options,
    implementation,
  });
}

/** Decides when to write, writes, and restores (one per stage D run). */
export class StageDCheckpointer {
  private readonly file: string;
  private readonly everySteps: number;
  private readonly everyMs: number;
  private lastStep = 0;
  private lastTime = performance.now();

  constructor(
    private readonly c: StageDCheckpointing,
    private readonly fingerprint: string,
  ) {
    this.file = path.join(c.dir, STAGE_D_CHECKPOINT_FILE);
    this.everySteps = Math.max(1, c.everySteps ?? STAGE_D_CHECKPOINT_DEFAULTS.everySteps);
    this.everyMs = 1000 * (c.everySeconds ?? STAGE_D_CHECKPOINT_DEFAULTS.everySeconds);
  }

  /** The saved state to continue from, if there is a usable one (sizes: W_u's, and the number of pairs). */
  restore(wuSize: number, pairs: number): StageDState | undefined {
    const r = readCheckpoint<Meta>(this.file, this.fingerprint);
    if (r.status === 'absent') return undefined;
    if (r.status === 'ignored') {
      this.c.onIgnored?.(`${this.file}: ${r.reason}`);
      return undefined;
    }
    const { meta, arrays } = r.content;
    const wu = arrays.get('wu');
    const order = arrays.get('order');
    const scalars = arrays.get('scalars');
    const losses = arrays.get('losses');
    const adam = adamStateFrom(arrays, meta.adamStep, 1);
    const fits =
      wu instanceof Float32Array &&
      wu.length === wuSize &&
      order instanceof Int32Array &&
      order.length === 2 * pairs &&
      scalars instanceof Float64Array &&
      scalars.length === 4 &&
      losses instanceof Float64Array &&
      losses.length === meta.step &&
      !!adam &&
      adam.m[0].length === wuSize &&
      adam.v[0].length === wuSize;
    if (!fits) {
      this.c.onIgnored?.(`${this.file}: its arrays do not match this stage D (W_u ${wuSize} values, ${pairs} pairs)`);
      return undefined;
    }
    const bestWeights = arrays.get('bestWeights');
    if (meta.bestEpoch !== undefined && !(bestWeights instanceof Float32Array && bestWeights.length === wuSize)) {
      this.c.onIgnored?.(`${this.file}: its best-epoch weights do not match this stage D (${wuSize} values)`);
      return undefined;
    }
    const epochs: EpochBest = {
      epoch: meta.epoch,
      sum: scalars[2],
      count: meta.epochCount,
      ...(meta.bestEpoch !== undefined && bestWeights instanceof Float32Array
        ? { best: { epoch: meta.bestEpoch, meanLoss: scalars[3], weights: bestWeights } }
        : {}),
    };
    this.lastStep = meta.step;
    this.c.onResumed?.(meta.step);
    return {
      step: meta.step,
      stopped: meta.stopped,
      wu,
      adam,
      rngState: meta.rngState,
      order,
      cursor: meta.cursor,
      stopMonitor: scalars[0],
      stopCount: meta.stopCount,
      loss: scalars[1],
      losses: Array.from(losses),
      epochs,
    };
  }

  /** After a step: writes when the interval is reached, or when `final` (the loop ends here). */
  afterStep(step: number, final: boolean, state: () => StageDState): void {
    if (!final && step - this.lastStep < this.everySteps && performance.now() - this.lastTime < this.everyMs) return;
    const s = state();
    const adam = adamStateArrays(s.adam);
    const { stopped, rngState, cursor, stopCount } = s;
    const { epoch, count: epochCount, best } = s.epochs;
    const meta: Meta = {
      step: s.step,
      stopped,
      adamStep: adam.step,
      rngState,
      cursor,
      stopCount,
      epoch,
      epochCount,
      bestEpoch: best?.epoch,
    };
    const arrays = new Map<string, CheckpointArray>([
      ['wu', s.wu],
      ['order', s.order],
      // non-finite values (an unset monitor, a NaN loss) survive as float64, not JSON
      ['scalars', Float64Array.of(s.stopMonitor, s.loss, s.epochs.sum, best?.meanLoss ?? Number.NaN)],
      ['losses', Float64Array.from(s.losses)],
      ...(best ? [['bestWeights', best.weights] as [string, CheckpointArray]] : []),
      ...adam.arrays,
    ]);
    writeCheckpoint(this.file, { fingerprint: this.fingerprint, meta, arrays });
    this.lastStep = step;
    this.lastTime = performance.now();
  }
}
