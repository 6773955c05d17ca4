/**
 * NIWT's stopping rule: keep a monitor loss; after each step, if the loss improved on the monitor by more
 * than `minImprovement` (relative), the monitor becomes that loss and the counter resets; otherwise the
 * counter grows, and training stops when it reaches `patience`. The monitor is the last value that
 * improved by more than 1 %, not the running minimum.
 */
export class RelativeEarlyStop {
  private monitor = Infinity;
  private count = 0;

  constructor(
    readonly patience = 40,
    readonly minImprovement = 0.01,
  ) {}

  /** Feeds one step's loss; returns true when training should stop. */
  step(loss: number): boolean {
    if (this.monitor === Infinity || 1 - loss / this.monitor > this.minImprovement) {
      this.monitor = loss;
      this.count = 0;
    } else {
      this.count++;
    }
    return this.count >= this.patience;
  }

  /** The monitor and the counter (for a checkpoint). */
  getState(): { readonly monitor: number; readonly count: number } {
    return { monitor: this.monitor, count: this.count };
  }

  /** Continues from `getState()`'s values. */
  setState(state: { readonly monitor: number; readonly count: number }): void {
    this.monitor = state.monitor;
    this.count = state.count;
  }

  get monitored(): number {
    return this.monitor;
  }
}
