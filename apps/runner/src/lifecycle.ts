/**
 * The life of a `niwt run` / `niwt sweep` process: which tracked runs are open and which stage is running.
 * SIGINT and SIGTERM end every open run KILLED, an error ends them FAILED, each with the reason recorded
 * (tags `niwt.error`, `niwt.interrupted_at`, artifact `error.txt`); then the process's temporary cache
 * folders are removed and one line names the stage, the run and the exact resume command.
 *
 * Signal handlers run only when the event loop gets a turn, so a stage that computes without awaiting
 * delays them until its next await (see the README: every long stage yields between batches).
 */
import os from 'node:os';
import { haltLongLoops, runExitCleanupsSync, type Logger, type RunStatus, type TrackedRun } from '@niwt/core';

/** Tag names this module writes. */
export const LIFECYCLE_TAGS = {
  pid: 'niwt.pid',
  host: 'niwt.host',
  error: 'niwt.error',
  interruptedAt: 'niwt.interrupted_at',
} as const;

/** This host's name as recorded in `niwt.host` (compared when deciding whether a run's owner is gone). */
export const HOST = os.hostname();

/** Tags that name the process owning a run, so a later process can tell a run whose owner was SIGKILLed. */
export function ownerTags(): Record<string, string> {
  return { [LIFECYCLE_TAGS.pid]: String(process.pid), [LIFECYCLE_TAGS.host]: HOST };
}

/** How long closing runs may take after a signal before the process exits anyway (a spool keeps the rest). */
export const CLOSE_BUDGET_MS = 8_000;

type EndStatus = Exclude<RunStatus, 'RUNNING'>;

const EXIT_CODES: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

/** Quotes an argument for a POSIX shell when it needs it. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A tracked run registered with the lifecycle; once the process is stopping, its calls never settle. */
class GuardedRun implements TrackedRun {
  constructor(
    readonly inner: TrackedRun,
    private readonly life: RunLifecycle,
  ) {}

  get runId(): string {
    return this.inner.runId;
  }
  get experimentId(): string {
    return this.inner.experimentId;
  }
  get location(): string {
    return this.inner.location;
  }
  /** Parks the pipeline at its next tracking call while the handler closes runs. */
  private gate<T>(f: () => Promise<T>): Promise<T> {
    return this.life.stopping ? new Promise<T>(() => undefined) : f();
  }
  logParams(p: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    return this.gate(() => this.inner.logParams(p));
  }
  logMetrics(m: Readonly<Record<string, number>>, step?: number): Promise<void> {
    return this.gate(() => this.inner.logMetrics(m, step));
  }
  setTags(t: Readonly<Record<string, string>>): Promise<void> {
    return this.gate(() => this.inner.setTags(t));
  }
  logArtifact(localPath: string, artifactPath?: string): Promise<void> {
    return this.gate(() => this.inner.logArtifact(localPath, artifactPath));
  }
  logText(artifactPath: string, text: string): Promise<void> {
    return this.gate(() => this.inner.logText(artifactPath, text));
  }
  async end(status: EndStatus): Promise<void> {
    await this.gate(() => this.inner.end(status));
    this.life.closed(this);
  }
}

export interface InterruptInfo {
  readonly signal: 'SIGINT' | 'SIGTERM';
  readonly stage: string;
  readonly runIds: readonly string[];
}

export class RunLifecycle {
  /** The stage in progress (the last `log.stage` name). */
  stage = 'startup';
  /** Set by the first signal. */
  stopping: 'SIGINT' | 'SIGTERM' | undefined;
  /** The command that continues this work (`niwt run … --resume`), for messages. */
  resumeCommand = '';
  /** The outermost run an error ended FAILED, for the CLI's message. */
  failedRunId: string | undefined;
  private readonly open: GuardedRun[] = [];
  private readonly stopHooks = new Set<() => Promise<void>>();
  private installed = false;
  private readonly err: (s: string) => void;
  private readonly exit: (code: number) => void;

  constructor(io: { readonly stderr?: (s: string) => void; readonly exit?: (code: number) => void } = {}) {
    this.err = io.stderr ?? ((s) => void process.stderr.write(s));
    this.exit = io.exit ?? ((code) => process.exit(code));
  }

  /** A new command starts (in-process callers run several): forget the last one's stage and failure. */
  begin(resumeCommand: string): void {
    this.stage = 'startup';
    this.failedRunId = undefined;
    this.resumeCommand = resumeCommand;
    this.install();
  }

  /** Registers a run as open (parents first); returns the run to use from now on. */
  opened(run: TrackedRun): TrackedRun {
    const g = run instanceof GuardedRun ? run : new GuardedRun(run, this);
    if (!this.open.includes(g)) this.open.push(g);
    return g;
  }

  closed(run: TrackedRun): void {
    const i = this.open.findIndex((r) => r === run || r.inner === run);
    if (i >= 0) this.open.splice(i, 1);
  }

  /**
   * Work to stop when a signal arrives, before the open runs are closed (a sweep's point processes and
   * their runs). Hooks run together, within the close budget. Returns the unregister function.
   */
  onStopping(hook: () => Promise<void>): () => void {
    this.stopHooks.add(hook);
    return () => void this.stopHooks.delete(hook);
  }

  /** Ids of the runs still open, outermost first. */
  openRunIds(): string[] {
    return this.open.map((r) => r.runId);
  }

  /** A logger that also records the stage in progress. */
  trackStages(log: Logger): Logger {
    const stage = (name: string): ReturnType<Logger['stage']> => {
      // stopping: the next stage must not start (a synchronous one would hold the loop the handler needs)
      if (this.stopping) throw new Error(`interrupted by ${this.stopping} before ${name}`);
      this.stage = name;
      if (process.env.NIWT_LOG_STAGE_START === '1') process.stderr.write(`… ${name}\n`);
      return log.stage(name);
    };
    return { info: (m) => log.info(m), warn: (m) => log.warn(m), progress: (l, t) => log.progress(l, t), stage };
  }

  /**
   * Ends every open run (innermost first) with `status`, recording why. Bounded by `budgetMs`: a tracking
   * server that does not answer keeps the end in its spool (`niwt runs sync` replays it).
   */
  async endAll(
    status: EndStatus,
    reason: string,
    budgetMs = CLOSE_BUDGET_MS,
    only?: readonly TrackedRun[],
  ): Promise<string[]> {
    const runs = [...this.open].filter((r) => !only || only.includes(r) || only.includes(r.inner)).reverse();
    const ids = runs.map((r) => r.runId).reverse();
    const stage = this.stage;
    const text =
      `${status} during stage "${stage}" at ${new Date().toISOString()} (pid ${process.pid} on ` +
      `${HOST})\n${reason}\n`;
    const closeOne = async (r: GuardedRun): Promise<void> => {
      const inner = r.inner;
      await inner
        .setTags({ [LIFECYCLE_TAGS.error]: firstLine(reason), [LIFECYCLE_TAGS.interruptedAt]: stage })
        .catch(() => undefined);
      await inner.logText('error.txt', text).catch(() => undefined);
      await inner.end(status).catch(() => undefined);
      this.closed(r);
    };
    // runs are independent: close them together, so one slow store does not hold the others
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      Promise.all(runs.map(closeOne)).then(() => true),
      new Promise<boolean>((res) => (timer = setTimeout(() => res(false), budgetMs))),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      const left = runs.filter((r) => this.open.includes(r)).map((r) => r.runId);
      this.err(
        `niwt: closing run(s) ${left.join(', ')} took over ${budgetMs / 1000}s; the next niwt run of this ` +
          `config marks them KILLED\n`,
      );
    }
    return ids;
  }

  /**
   * Whether this process may own SIGINT/SIGTERM and uncaught errors: set by the `niwt` entry point only, so
   * `main()` called in process (tests, embedding) leaves the host's handlers alone.
   */
  handleSignals = false;

  /** Installs SIGINT/SIGTERM and uncaught-error handlers once per process (when `handleSignals`). */
  install(): void {
    if (this.installed || !this.handleSignals) return;
    this.installed = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => void this.onSignal(sig));
    process.on('uncaughtException', (e) => void this.onCrash(e));
  }

  /** An error nothing caught (a rejected promise no one awaited, a throw in a callback): end runs FAILED. */
  async onCrash(e: unknown): Promise<void> {
    const err = e instanceof Error ? e : new Error(String(e));
    const stage = this.stage;
    const ids = await this.endAll('FAILED', `${err.message}\n\n${err.stack ?? ''}`);
    runExitCleanupsSync();
    this.err(`niwt: internal error: ${err.message}\n${err.stack ?? ''}\n`);
    if (ids.length > 0)
      this.err(
        `niwt: failed during ${stage}; run ${ids[0]} marked FAILED; resume with: ` +
          `${this.resumeCommand || 'the same command'}\n`,
      );
    this.exit(1);
  }

  private async runStopHooks(): Promise<void> {
    if (this.stopHooks.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const hooks = Promise.all([...this.stopHooks].map((h) => h().catch(() => undefined)));
    await Promise.race([hooks, new Promise<void>((res) => (timer = setTimeout(res, CLOSE_BUDGET_MS)))]);
    clearTimeout(timer);
  }

  /** The first signal closes runs and exits; a second one exits at once (temporaries still removed). */
  async onSignal(signal: 'SIGINT' | 'SIGTERM'): Promise<void> {
    if (this.stopping) {
      runExitCleanupsSync();
      this.err(
        `niwt: ${signal} again: exiting now; runs still open stay RUNNING until the next niwt run of this ` +
          `config marks them KILLED\n`,
      );
      this.exit(EXIT_CODES[signal]);
      return;
    }
    this.stopping = signal;
    haltLongLoops();
    const stage = this.stage;
    await this.runStopHooks();
    const ids = await this.endAll('KILLED', `interrupted by ${signal}`);
    runExitCleanupsSync();
    const runPart =
      ids.length === 0
        ? 'no run was open'
        : `run ${ids[0]} marked KILLED${ids.length > 1 ? ` (with ${ids.length - 1} nested)` : ''}`;
    this.err(
      `niwt: interrupted during ${stage}; ${runPart}; resume with: ${this.resumeCommand || 'the same command'}\n`,
    );
    this.exit(EXIT_CODES[signal]);
  }
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0];
  return line.length > 500 ? `${line.slice(0, 497)}...` : line;
}

/** The process-wide lifecycle (signals are process-wide). */
export const lifecycle = new RunLifecycle();
