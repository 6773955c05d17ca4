/**
 * One sweep point in a child process: what `niwt worker` and `niwt sweep -j N` run. The run's CPU-bound
 * JavaScript and WASM block the child's event loop, not the parent's, so the parent keeps renewing queue
 * locks, printing progress and answering signals however heavy the run. The child composes the config
 * itself (the same text and overrides), refuses a different config hash, and reports stage lines and its
 * RunResult over the IPC channel; it exits when that channel closes (its parent died).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { StateError, UsageError } from '@niwt/core';
import type { RunResult } from './pipeline.js';

/** What a child needs to run one point. */
export interface PointTask {
  /** The config file as given (messages; `defaults:` includes resolve against its folder). */
  readonly file: string;
  /** The config text, so the child need not read the file. */
  readonly text: string;
  readonly overrides: readonly string[];
  /** The config hash the parent composed; the child refuses another. */
  readonly hash: string;
  readonly cwd: string;
  readonly parentRunId?: string;
  readonly runName?: string;
  readonly tags?: Readonly<Record<string, string>>;
  /** Print the run's stage lines to the child's stderr (inherited). */
  readonly verbose?: boolean;
}

/** Child → parent messages. */
export type PointMessage =
  | { readonly t: 'stage'; readonly line: string }
  | { readonly t: 'result'; readonly result: RunResult }
  | { readonly t: 'error'; readonly message: string; readonly user: boolean };

export interface PointProcess {
  readonly pid: number | undefined;
  readonly result: Promise<RunResult>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** dist/point-child.js next to this module (or next to its source when run from src/ by the tests). */
function childEntry(): string {
  const here = fileURLToPath(new URL('./point-child.js', import.meta.url));
  return existsSync(here) ? here : here.replace(/([/\\])src([/\\])point-child\.js$/, '$1dist$2point-child.js');
}

/** Starts one point in a child process. `onStage` receives each finished stage's line. */
export function runPointInChild(task: PointTask, onStage?: (line: string) => void): PointProcess {
  const stdio = ['ignore', 'inherit', 'inherit', 'ipc'] as const;
  const child: ChildProcess = spawn(process.execPath, [childEntry()], {
    cwd: task.cwd,
    stdio: [...stdio],
    env: process.env,
  });
  let settled: { message?: PointMessage } = {};
  type Exit = { code: number | null; signal: NodeJS.Signals | null };
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.on('message', (m: PointMessage) => {
    if (m.t === 'stage') onStage?.(m.line);
    else settled = { message: m };
  });
  child.once('spawn', () => child.send(task));
  const result = (async () => {
    const spawnError = new Promise<never>((_, reject) =>
      child.once('error', (e) => reject(new StateError(`cannot start a point process: ${e.message}`, { cause: e }))),
    );
    const { code, signal } = await Promise.race([exited, spawnError]);
    const m = settled.message;
    if (m?.t === 'result' && code === 0) return m.result;
    if (m?.t === 'error') throw m.user ? new UsageError(m.message) : new StateError(m.message);
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    throw new StateError(`the point process ${child.pid ?? '?'} ${how} before its run ended`);
  })();
  result.catch(() => undefined); // the caller awaits it; a stop() before that must not be an unhandled rejection
  return {
    pid: child.pid,
    result,
    stop: async (graceMs = 2500) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
