/**
 * The per-epoch checkpoint of the seen-class loop (`seen-loop.ts`): one file, `<checkpointDir>/seen-loop.ckpt`,
 * replaced atomically after every epoch. It holds everything the rest of the run depends on — the weights
 * (float32 bytes as trained), Adam's step count and moments, the RNG state at the epoch boundary (the next
 * epoch's shuffle and dropout seeds), the early-stopping state (best accuracy, its epoch and weights) and the
 * report so far — so a resumed loop ends with the same bits as an uninterrupted one.
 */
import path from 'node:path';
import {
  adamStateArrays,
  adamStateFrom,
  float32List,
  readCheckpoint,
  writeCheckpoint,
  type AdamState,
  type CheckpointArray,
} from '@niwt/compute';

export const SEEN_CHECKPOINT_FILE = 'seen-loop.ckpt';

/** The loop's state after a completed epoch. */
export interface SeenLoopState {
  /** Last completed epoch (1-based). */
  readonly epoch: number;
  /** Early stopping fired after `epoch`. */
  readonly stopped: boolean;
  readonly trainAcc: number;
  readonly best: { readonly acc: number; readonly epoch: number; readonly weights: readonly Float32Array[] };
  readonly weights: readonly Float32Array[];
  readonly adam: AdamState;
  readonly rngState: number;
}

interface Meta {
  readonly epoch: number;
  readonly stopped: boolean;
  readonly trainAcc: number;
  readonly bestAcc: number;
  readonly bestEpoch: number;
  readonly adamStep: number;
  readonly rngState: number;
  readonly variables: number;
}

export function seenCheckpointFile(dir: string): string {
  return path.join(dir, SEEN_CHECKPOINT_FILE);
}

export function writeSeenCheckpoint(dir: string, fingerprint: string, s: SeenLoopState): void {
  const adam = adamStateArrays(s.adam);
  const arrays = new Map<string, CheckpointArray>([
    ...s.weights.map((w, i): [string, Float32Array] => [`w${i}`, w]),
    ...s.best.weights.map((w, i): [string, Float32Array] => [`best${i}`, w]),
    ...adam.arrays,
  ]);
  const meta: Meta = {
    epoch: s.epoch,
    stopped: s.stopped,
    trainAcc: s.trainAcc,
    bestAcc: s.best.acc,
    bestEpoch: s.best.epoch,
    adamStep: adam.step,
    rngState: s.rngState,
    variables: s.weights.length,
  };
  writeCheckpoint(seenCheckpointFile(dir), { fingerprint, meta, arrays });
}

/**
 * The state saved in `dir` for `fingerprint`: `state` when there is one to resume, else `ignored` says why
 * a file there was not used (the caller warns and starts afresh).
 */
export function readSeenCheckpoint(
  dir: string,
  fingerprint: string,
  sizes: readonly number[],
): { state?: SeenLoopState; ignored?: string } {
  const r = readCheckpoint<Meta>(seenCheckpointFile(dir), fingerprint);
  if (r.status === 'absent') return {};
  if (r.status === 'ignored') return { ignored: r.reason };
  const { meta, arrays } = r.content;
  const n = sizes.length;
  const weights = float32List(arrays, 'w', n);
  const best = float32List(arrays, 'best', n);
  const adam = adamStateFrom(arrays, meta.adamStep, n);
  const fits = (list: readonly Float32Array[] | undefined): list is Float32Array[] =>
    !!list && list.length === n && list.every((a, i) => a.length === sizes[i]);
  if (meta.variables !== n || !fits(weights) || !fits(best) || !adam || !fits(adam.m) || !fits(adam.v)) {
    return { ignored: `its arrays do not match the ${n} variables of this network` };
  }
  return {
    state: {
      epoch: meta.epoch,
      stopped: meta.stopped,
      trainAcc: meta.trainAcc,
      best: { acc: meta.bestAcc, epoch: meta.bestEpoch, weights: best },
      weights,
      adam,
      rngState: meta.rngState,
    },
  };
}
