/**
 * Sweeps across machines: `niwt worker --queue redis://host:port` runs queued runs until SIGTERM/SIGINT;
 * `niwt queue enqueue <config> --queue …` queues a sweep's grid (what `niwt sweep --queue` does once wired).
 */
import type { Command } from 'commander';
import { UsageError } from '@niwt/core';
import { ConsoleLogger } from '../console-logger.js';
import { enqueueSweep } from '../queue/enqueue.js';
import { bestLine } from '../sweep-summary.js';
import { startWorker, WORKER_DEFAULTS } from '../queue/worker.js';
import { DEFAULT_QUEUE_NAME } from '../queue/jobs.js';

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function positiveInt(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new UsageError(`${name} must be a positive whole number, got ${JSON.stringify(v)}`);
  return n;
}

/** Resolves on the first SIGTERM or SIGINT. */
const untilSignal = (): Promise<NodeJS.Signals> =>
  new Promise((resolve) => (['SIGTERM', 'SIGINT'] as const).forEach((s) => process.once(s, () => resolve(s))));

/** A stopping worker exits by then even if Redis is gone (closing would wait for it) or a run will not stop. */
const STOP_DEADLINE_MS = 3500;

export function registerQueueCommands(program: Command): void {
  program
    .command('worker')
    .description(
      'take queued runs (niwt sweep --queue) and run them here until SIGTERM/SIGINT; logs to the store named ' +
        'in each config',
    )
    .requiredOption('--queue <url>', 'Redis of the queue, redis://host:port')
    .option('--queue-name <name>', 'queue name', DEFAULT_QUEUE_NAME)
    .option(
      '--lock-duration <ms>',
      'job lock (renewed while a run goes on); a dead worker’s run is retried after about this long',
      String(WORKER_DEFAULTS.lockDurationMs),
    )
    .option(
      '--stalled-interval <ms>',
      'how often to look for runs of dead workers',
      String(WORKER_DEFAULTS.stalledIntervalMs),
    )
    .option(
      '--max-stalled <n>',
      'times a run may lose its worker before it is failed',
      String(WORKER_DEFAULTS.maxStalledCount),
    )
    .option('-q, --quiet', 'only job events, no stage lines')
    .action(
      async (flags: {
        queue: string;
        queueName: string;
        lockDuration: string;
        stalledInterval: string;
        maxStalled: string;
        quiet?: boolean;
      }) => {
        const log = new ConsoleLogger({ quiet: true });
        const signalled = untilSignal();
        const worker = await startWorker({
          queue: flags.queue,
          queueName: flags.queueName,
          logger: log,
          verbose: !flags.quiet,
          lockDurationMs: positiveInt(flags.lockDuration, '--lock-duration'),
          stalledIntervalMs: positiveInt(flags.stalledInterval, '--stalled-interval'),
          maxStalledCount: positiveInt(flags.maxStalled, '--max-stalled'),
        });
        const signal = await signalled;
        process.stderr.write(`worker ${worker.name}: ${signal}, stopping\n`);
        setTimeout(() => {
          process.stderr.write(
            `worker ${worker.name}: not closed in ${STOP_DEADLINE_MS / 1000}s (Redis gone?); exiting\n`,
          );
          process.exit(0);
        }, STOP_DEADLINE_MS).unref();
        await worker.close();
      },
    );

  const queue = program.command('queue').description('distributed sweeps on a BullMQ queue');
  queue
    .command('enqueue')
    .description('queue every run of a sweep config (job id = config hash) and wait for the workers')
    .argument('<config>', 'YAML config with a sweep: section')
    .requiredOption('--queue <url>', 'Redis of the queue, redis://host:port')
    .option('--queue-name <name>', 'queue name', DEFAULT_QUEUE_NAME)
    .option('-s, --set <path=value>', 'override a config value (repeatable)', collect, [])
    .option('--metric <name>', 'sort by H | s | u | zslT1', 'H')
    .option('--attempts <n>', 'attempts per run before it fails', '3')
    .option('--force', 'queue points whose runs already finished again')
    .option('--no-wait', 'return once queued')
    .option('--json', 'print the summary as JSON')
    .option('-q, --quiet', 'print only the final table')
    .action(
      async (
        config: string,
        flags: {
          queue: string;
          queueName: string;
          set: string[];
          metric: string;
          attempts: string;
          wait: boolean;
          json?: boolean;
          quiet?: boolean;
          force?: boolean;
        },
      ) => {
        if (!['H', 's', 'u', 'zslT1'].includes(flags.metric))
          throw new UsageError(`--metric ${flags.metric}: expected one of H, s, u, zslT1`);
        const log = new ConsoleLogger({ quiet: Boolean(flags.quiet || flags.json) });
        const progress = flags.quiet ? () => undefined : (l: string) => void process.stderr.write(`${l}\n`);
        const r = await enqueueSweep(config, {
          queue: flags.queue,
          queueName: flags.queueName,
          overrides: flags.set,
          metric: flags.metric as 'H',
          attempts: positiveInt(flags.attempts, '--attempts'),
          wait: flags.wait,
          force: Boolean(flags.force),
          logger: log,
          progress,
        });
        if (flags.json) return void process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        if (!r.rows || !r.best || !r.table)
          return void process.stdout.write(
            `queued ${r.jobs.filter((j) => j.added).length} new run(s) of ${r.jobs.length} under sweep run ` +
              `${r.sweepRunId}\n`,
          );
        process.stdout.write(
          `\n${r.table}\n\nbest by ${flags.metric}: ${bestLine(r.best)}\nsweep run ${r.sweepRunId} in ${r.location}\n`,
        );
      },
    );
}
