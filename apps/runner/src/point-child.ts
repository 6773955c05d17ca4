/**
 * Entry of a point process (see point-process.ts): receives a PointTask on the IPC channel, runs it, and
 * sends back stage lines and the RunResult. Exits when its parent goes away (the channel closes) or on
 * SIGTERM/SIGINT, ending its runs KILLED (a child SIGKILLed leaves that to the parent: sweep-runs.ts killStaleRuns).
 */
import { ConfigError, isNiwtError, type Logger, type Progress } from '@niwt/core';
import { composeExperiment } from './compose.js';
import { ConsoleLogger } from './console-logger.js';
import { lifecycle } from './lifecycle.js';
import { runExperiment } from './pipeline.js';
import type { PointMessage, PointTask } from './point-process.js';
import { ownerTag, SWEEP_TAGS } from './sweep-runs.js';

const send = (m: PointMessage): Promise<void> =>
  new Promise((resolve) => (process.send ? process.send(m, () => resolve()) : resolve()));

/** Forwards stage lines to the parent; prints them too with `verbose`. */
class ForwardingLogger implements Logger {
  constructor(private readonly inner: Logger) {}
  info(message: string): void {
    this.inner.info(message);
  }
  warn(message: string): void {
    this.inner.warn(message);
  }
  stage(name: string): { end(detail?: string): number } {
    const s = this.inner.stage(name);
    return { end: (detail?: string) => (void send({ t: 'stage', line: name }), s.end(detail)) };
  }
  progress(label: string, total: number): Progress {
    return this.inner.progress(label, total);
  }
}

// SIGTERM/SIGINT end this point's open runs KILLED and exit (lifecycle.ts), as for `niwt run`; a parent that
// went away closes the channel, and a run nobody waits for is ended by the next attempt (killStaleRuns).
lifecycle.handleSignals = true;
process.once('disconnect', () => process.exit(1));

process.once('message', (task: PointTask) => {
  void (async () => {
    const log = new ForwardingLogger(new ConsoleLogger({ quiet: !task.verbose }));
    try {
      const { file, overrides, text: inlineText, cwd } = task;
      lifecycle.begin(`niwt sweep ${file} (point ${task.runName ?? task.hash})`);
      const exp = await composeExperiment(file, { overrides, inlineText, cwd, logger: log });
      if (exp.hash !== task.hash) {
        throw new ConfigError(
          `config hash ${exp.hash} in the point process differs from the sweep's ${task.hash}: it must run ` +
            `the same niwt version and plugins`,
        );
      }
      const tags = { ...task.tags, [SWEEP_TAGS.owner]: ownerTag() };
      const result = await runExperiment(exp, log, { parentRunId: task.parentRunId, runName: task.runName, tags });
      await send({ t: 'result', result });
      process.exit(0);
    } catch (e) {
      await send({ t: 'error', message: e instanceof Error ? e.message : String(e), user: isNiwtError(e) });
      process.exit(isNiwtError(e) ? 2 : 1);
    }
  })();
});
