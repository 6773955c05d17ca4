/**
 * Per-epoch checkpoints of the ImageNet fine-tuning (`train.ts`), in one folder:
 *
 *   epoch-<n>/   the state after epoch n: the network and seen head (`.npy`, float32 as trained) and
 *                `state.ckpt` (Adam's step count and both moments, the early-stopping state, the loss history)
 *   best-<e>/    the weights of the best epoch so far (e = 0: the head trained on fixed features)
 *
 * Each folder is written under a temporary name and renamed into place, and `best-<e>` is complete before the
 * `epoch-<n>` that refers to it: a kill at any moment leaves the last committed epoch intact. Older folders are
 * removed after a commit. The RNG needs no saving: every epoch's shuffle, augmentation and dropout seeds derive
 * from (seed, epoch). So a resumed fine-tune continues Adam exactly and ends with the same bits.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { releaseTemporary, removeStaleTemporaries, temporaryFor, type Logger } from '@niwt/core';
import {
  adamStateArrays,
  adamStateFrom,
  readCheckpoint,
  writeCheckpoint,
  type AdamState,
  type CheckpointArray,
} from '@niwt/compute';

export interface FinetuneState {
  readonly epoch: number;
  readonly bestAcc: number;
  readonly bestEpoch: number;
  readonly trainAcc: number;
  readonly stopped: boolean;
  readonly losses: readonly number[];
}

interface Meta extends Omit<FinetuneState, 'losses'> {
  readonly adamStep: number;
  readonly variables: number;
}

const STATE = 'state.ckpt';
const epochDir = (n: number): string => `epoch-${n}`;
const bestDir = (n: number): string => `best-${n}`;
const numbered = (name: string, prefix: string): number | undefined => {
  const m = new RegExp(`^${prefix}-(\\d+)$`).exec(name);
  return m ? Number(m[1]) : undefined;
};

export class FinetuneCheckpoints {
  constructor(
    readonly dir: string,
    private readonly fingerprint: string,
    private readonly weights: { save(dir: string): Promise<void>; load(dir: string): Promise<void> },
    private readonly log: Logger,
    private readonly label: string,
  ) {}

  /** Removes every checkpoint (a fresh start). */
  async reset(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Loads the last committed epoch into the network and returns its state and Adam's; undefined (after a warning
   * when a checkpoint was there but unusable) when fine-tuning starts from epoch 1.
   */
  async resume(sizes: readonly number[]): Promise<{ state: FinetuneState; adam: AdamState } | undefined> {
    removeStaleTemporaries(this.dir, 0);
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const epochs = names.map((n) => numbered(n, 'epoch')).filter((n): n is number => n !== undefined);
    if (!epochs.length) return undefined;
    const last = Math.max(...epochs);
    const dir = path.join(this.dir, epochDir(last));
    const r = readCheckpoint<Meta>(path.join(dir, STATE), this.fingerprint);
    const ignore = (why: string): undefined => {
      this.log.warn(`${this.label}: ignoring the fine-tuning checkpoint ${dir}: ${why}; fine-tuning from epoch 1`);
      return undefined;
    };
    if (r.status !== 'ok') return ignore(r.status === 'ignored' ? r.reason : 'its state file is missing');
    const { meta, arrays } = r.content;
    const adam = adamStateFrom(arrays, meta.adamStep, sizes.length);
    const losses = arrays.get('losses');
    const fits = !!adam && meta.variables === sizes.length && adam.m.every((m, i) => m.length === sizes[i]);
    if (!fits || !(losses instanceof Float64Array)) {
      return ignore(`its optimizer state does not match the ${sizes.length} variables of this network`);
    }
    try {
      await fs.access(path.join(this.dir, bestDir(meta.bestEpoch)));
      await this.weights.load(dir);
    } catch (e) {
      return ignore(`its weights cannot be read (${(e as Error).message})`);
    }
    const { adamStep: _s, variables: _v, ...rest } = meta;
    const state: FinetuneState = { ...rest, losses: Array.from(losses) };
    await this.prune(state);
    return { state, adam };
  }

  /** Saves the current weights as the best epoch's (before the epoch that refers to them is committed). */
  async saveBest(epoch: number): Promise<void> {
    await this.writeFolder(bestDir(epoch), (tmp) => this.weights.save(tmp));
  }

  /** Commits the state after `state.epoch`: weights, Adam, early stopping, losses; then drops older folders. */
  async commit(state: FinetuneState, adam: AdamState): Promise<void> {
    const { step, arrays } = adamStateArrays(adam);
    const { losses, ...rest } = state;
    const meta: Meta = { ...rest, adamStep: step, variables: adam.m.length };
    const all = new Map<string, CheckpointArray>([['losses', Float64Array.from(losses)], ...arrays]);
    await this.writeFolder(epochDir(state.epoch), async (tmp) => {
      await this.weights.save(tmp);
      writeCheckpoint(path.join(tmp, STATE), { fingerprint: this.fingerprint, meta, arrays: all });
    });
    await this.prune(state);
  }

  /** Loads the best epoch's weights into the network. */
  async loadBest(state: FinetuneState): Promise<void> {
    await this.weights.load(path.join(this.dir, bestDir(state.bestEpoch)));
  }

  /** Keeps only the committed epoch and the best folder it refers to. */
  private async prune(state: FinetuneState): Promise<void> {
    for (const name of await fs.readdir(this.dir)) {
      const e = numbered(name, 'epoch');
      const b = numbered(name, 'best');
      const stale = (e !== undefined && e !== state.epoch) || (b !== undefined && b !== state.bestEpoch);
      if (stale) await fs.rm(path.join(this.dir, name), { recursive: true, force: true });
    }
  }

  private async writeFolder(name: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const final = path.join(this.dir, name);
    const tmp = temporaryFor(final);
    try {
      await fs.mkdir(tmp, { recursive: true });
      await write(tmp);
      await fs.rm(final, { recursive: true, force: true });
      await fs.rename(tmp, final);
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    } finally {
      releaseTemporary(tmp);
    }
  }
}
