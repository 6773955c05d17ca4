/** One line per stage with its time; progress bars only on a TTY. */
export interface Progress {
  tick(n?: number, detail?: string): void;
  done(detail?: string): void;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  /** Starts a stage; `end` prints one line with the stage's time. */
  stage(name: string): { end(detail?: string): number };
  progress(label: string, total: number): Progress;
}

/** A logger that prints nothing (tests, `--json`). */
export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  stage: () => {
    const t0 = performance.now();
    return { end: () => (performance.now() - t0) / 1000 };
  },
  progress: () => ({ tick: () => undefined, done: () => undefined }),
};
