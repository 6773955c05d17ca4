/**
 * Console output of a run: one line per stage with its time (stderr), a progress bar only on a TTY,
 * nothing animated when piped.
 */
import type { Logger, Progress } from '@niwt/core';

export interface ConsoleLoggerOptions {
  readonly stream?: NodeJS.WriteStream;
  /** Print nothing but warnings. */
  readonly quiet?: boolean;
}

export function fmtSeconds(s: number): string {
  return s < 10 ? `${s.toFixed(2)}s` : s < 120 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

export class ConsoleLogger implements Logger {
  private readonly out: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly quiet: boolean;

  constructor(opts: ConsoleLoggerOptions = {}) {
    this.out = opts.stream ?? process.stderr;
    this.tty = Boolean(this.out.isTTY) && !process.env.CI;
    this.quiet = opts.quiet ?? false;
  }

  info(message: string): void {
    if (!this.quiet) this.out.write(`${message}\n`);
  }

  warn(message: string): void {
    this.out.write(`warning: ${message}\n`);
  }

  stage(name: string): { end(detail?: string): number } {
    const t0 = performance.now();
    return {
      end: (detail?: string) => {
        const s = (performance.now() - t0) / 1000;
        this.info(`✓ ${name.padEnd(34)} ${fmtSeconds(s).padStart(7)}${detail ? `  ${detail}` : ''}`);
        return s;
      },
    };
  }

  progress(label: string, total: number): Progress {
    const t0 = performance.now();
    let n = 0;
    let last = 0;
    const draw = (detail?: string): void => {
      const width = 24;
      const frac = total > 0 ? Math.min(1, n / total) : 1;
      const filled = Math.round(frac * width);
      const el = (performance.now() - t0) / 1000;
      const eta = frac > 0 ? el / frac - el : 0;
      this.out.write(
        `\r  ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${n}/${total} ${fmtSeconds(el)} ` +
          `eta ${fmtSeconds(eta)} ${detail ?? ''}\x1b[K`,
      );
    };
    return {
      tick: (k = 1, detail?: string) => {
        n += k;
        if (!this.tty || this.quiet) return;
        const now = performance.now();
        if (now - last > 100 || n >= total) {
          last = now;
          draw(detail);
        }
      },
      done: () => {
        if (this.tty && !this.quiet) this.out.write('\r\x1b[K');
      },
    };
  }
}
