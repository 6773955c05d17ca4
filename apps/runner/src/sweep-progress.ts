/**
 * Progress of a sweep as plain lines (one per point event, the same on a terminal and in a log file):
 * points done / running / failed of the total, elapsed time, and an ETA from the points run so far.
 */
import { fmtSeconds } from './console-logger.js';

export class SweepProgress {
  private readonly t0 = Date.now();
  private done = 0;
  private running = 0;
  private failures = 0;
  /** Seconds of each point that ran (skipped points cost nothing and do not count). */
  private durations: number[] = [];

  constructor(
    private readonly total: number,
    /** Points run at once: the ETA divides the remaining work by it. */
    private parallel: number,
    private readonly write: (line: string) => void,
  ) {}

  /** Seconds until the remaining points are done, from the mean time of the points run; undefined before the first. */
  eta(): number | undefined {
    if (this.durations.length === 0) return undefined;
    const mean = this.durations.reduce((a, b) => a + b, 0) / this.durations.length;
    const left = this.total - this.done - this.failures;
    return (mean * left) / Math.max(1, Math.min(this.parallel, left));
  }

  line(event: string): string {
    const el = (Date.now() - this.t0) / 1000;
    const eta = this.eta();
    const state = `${this.done}/${this.total} done, ${this.running} running, ${this.failures} failed`;
    return `sweep [${state}] ${fmtSeconds(el)} elapsed, eta ${eta === undefined ? '?' : fmtSeconds(eta)} — ${event}`;
  }

  started(point: string): void {
    this.running++;
    this.write(this.line(`started ${point}`));
  }

  finished(point: string, seconds: number, where = ''): void {
    this.running = Math.max(0, this.running - 1);
    this.done++;
    this.durations.push(seconds);
    this.write(this.line(`finished ${point} in ${fmtSeconds(seconds)}${where}`));
  }

  skipped(point: string, runId: string): void {
    this.done++;
    this.write(this.line(`${point} already finished as run ${runId}; skipped (--force reruns)`));
  }

  failed(point: string, message: string): void {
    this.running = Math.max(0, this.running - 1);
    this.failures++;
    this.write(this.line(`FAILED ${point}: ${message}`));
  }

  /** For the queue: counts seen from outside (job states), not from events here. */
  set(done: number, running: number, failed: number): void {
    [this.done, this.running, this.failures] = [done, running, failed];
  }

  /** For the queue: the run times of finished jobs, and how many run at once (the workers busy now). */
  observe(durations: readonly number[], parallel: number): void {
    this.durations = [...durations];
    this.parallel = Math.max(1, parallel);
  }

  emit(event: string): void {
    this.write(this.line(event));
  }
}
