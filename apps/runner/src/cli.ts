/**
 * The `niwt` command line. User errors (`NiwtError`) print one line and exit 2; `--verbose` adds the stack.
 * Anything else is a bug: message and stack, exit 1.
 */
import { Command, CommanderError } from 'commander';
import { stringify as toYaml } from 'yaml';
import { z } from 'zod';
import { Container, type ContainerModule } from 'inversify';
import {
  PluginRegistry,
  UsageError,
  isNiwtError,
  removeStaleTemporaries,
  type ConfigSource,
  type Logger,
} from '@niwt/core';
import { describeSweep, expandGrid, runSweep } from './sweep.js';
import { bestLine } from './sweep-summary.js';
import { findUnfinishedRuns, trackerOf, type UnfinishedRun } from './finished.js';
import { lifecycle, shellQuote } from './lifecycle.js';
import { registerWeightsCommands } from './commands/weights.js';
import { registerReportCommands } from './commands/report.js';
import { registerCacheCommands } from './commands/cache.js';
import { registerQueueCommands } from './commands/queue.js';
import { registerRunsCommands } from './commands/runs.js';
import { registerDatasetsCommands } from './commands/datasets.js';
import { enqueueSweep } from './queue/enqueue.js';
import { ConsoleLogger } from './console-logger.js';
import { Redactor, secretValuesFromEnv } from '@niwt/tracking';
import { baseContainer, composeExperiment, loadPluginModules, type Experiment } from './compose.js';
import { flattenParams, resultsTable, runExperiment } from './pipeline.js';
import { preflightExperiment } from './preflight.js';

export const DEFAULT_CONFIG = 'configs/demo.yaml';

interface RunFlags {
  set: string[];
  json?: boolean;
  verbose?: boolean;
  quiet?: boolean;
  backend?: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('niwt')
    .description('NIWT Lab: generalized zero-shot learning experiments')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  let verbose = argv.includes('--verbose');
  let code = 0;

  program
    .command('run')
    .description('run an experiment config')
    .argument('[config]', 'YAML config', DEFAULT_CONFIG)
    .option(
      '-s, --set <path=value>',
      'override a config value (repeatable), e.g. --set methods.0.lambda=1e-4',
      collect,
      [],
    )
    .option('--backend <name>', 'tensor backend: auto | wasm | cpu | tensorflow (overrides the config)')
    .option('--json', 'print the results as JSON on stdout')
    .option('-q, --quiet', 'print only the final table')
    .option('--resume', 'continue an interrupted run of the same config: completed stages come from the cache')
    .option(
      '--skip-bad-images',
      'skip missing or corrupt images (counted and recorded) instead of failing before training',
    )
    .option('--verbose', 'print stacks of errors')
    .action(async (config: string, flags: RunFlags & { resume?: boolean; skipBadImages?: boolean }) => {
      verbose = Boolean(flags.verbose);
      lifecycle.begin(['niwt', ...argv.filter((a) => a !== '--resume'), '--resume'].map(shellQuote).join(' '));
      const log = new ConsoleLogger({ quiet: Boolean(flags.quiet || flags.json) });
      const overrides = [
        ...flags.set,
        ...(flags.backend ? [`backend=${flags.backend}`] : []),
        ...(flags.skipBadImages ? ['dataset.skipBadImages=true'] : []),
      ];
      const exp = await composeExperiment(config, { overrides, logger: log });
      if (exp.top.sweep)
        throw new UsageError(
          `${config} has a sweep: section; run it with \`niwt sweep ${config}\` (or remove sweep: to run the ` +
            `base config)`,
        );
      await preflightExperiment(exp);
      log.info(`niwt run ${config} — experiment '${exp.top.experiment}', config ${exp.hash}, seed ${exp.top.seed}`);
      const { resume, abandoned } = await previousRuns(exp, Boolean(flags.resume), log);
      const result = await runExperiment(exp, log, { resume, abandoned });
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } else {
        process.stdout.write(
          `\n${resultsTable(result)}\n\nrun ${result.runId} in ${result.location} (${result.seconds.toFixed(1)}s)\n`,
        );
      }
    });

  program
    .command('sweep')
    .description(
      'run the grid under sweep: in a config; prints runs sorted by a metric, writes the best config and a plot',
    )
    .argument('<config>', 'YAML config with a sweep: section')
    .option('-s, --set <path=value>', 'override a config value (repeatable)', collect, [])
    .option('--metric <name>', 'sort by H | s | u | zslT1', 'H')
    .option('--force', 'rerun points whose config already finished')
    .option('-j, --jobs <n>', 'run up to n points at once, each in its own process (no Redis needed)', '1')
    .option('--queue <url>', 'run the grid on a BullMQ queue, redis://host:port (workers: niwt worker --queue …)')
    .option('--dry-run', 'list the grid points, their config hashes and which already finished; run nothing')
    .option('--json', 'print the summary as JSON on stdout')
    .option('-q, --quiet', 'print only the final table')
    .option('--verbose', 'print stacks of errors')
    .action(
      async (
        config: string,
        flags: RunFlags & { metric: string; queue?: string; force?: boolean; jobs: string; dryRun?: boolean },
      ) => {
        verbose = Boolean(flags.verbose);
        if (!['H', 's', 'u', 'zslT1'].includes(flags.metric))
          throw new UsageError(`--metric ${flags.metric}: expected one of H, s, u, zslT1`);
        const jobs = Number(flags.jobs);
        if (!Number.isInteger(jobs) || jobs < 1)
          throw new UsageError(
            `-j ${JSON.stringify(flags.jobs)}: expected a whole number of points to run at once, ≥ 1`,
          );
        if (jobs > 1 && flags.queue)
          throw new UsageError('-j and --queue: give one (with --queue, start more workers instead)');
        const log = new ConsoleLogger({ quiet: Boolean(flags.quiet || flags.json) });
        if (flags.dryRun) {
          const d = await describeSweep(config, { overrides: flags.set, logger: log, force: Boolean(flags.force) });
          if (flags.json) return void process.stdout.write(`${JSON.stringify(d, null, 2)}\n`);
          const todo = d.points.filter((p) => !p.finishedRunId).length;
          process.stdout.write(`sweep ${d.sweepHash.slice(0, 8)}: ${d.points.length} point(s), ${todo} to run\n`);
          d.points.forEach((p, i) =>
            process.stdout.write(
              `${String(i + 1).padStart(4)}. ${p.name}  config ` +
                `${p.hash.slice(0, 12)}${p.finishedRunId ? `  finished as run ${p.finishedRunId}` : ''}\n`,
            ),
          );
          return;
        }
        // a rerun of the same sweep attaches to its parent run and skips the points that finished
        lifecycle.begin(['niwt', ...argv].map(shellQuote).join(' '));
        const progress = flags.quiet ? () => undefined : (l: string) => void process.stderr.write(`${l}\n`);
        if (flags.queue) {
          const q = await enqueueSweep(config, {
            queue: flags.queue,
            overrides: flags.set,
            metric: flags.metric as 'H',
            logger: log,
            force: Boolean(flags.force),
            progress,
          });
          if (flags.json) process.stdout.write(`${JSON.stringify(q, null, 2)}\n`);
          else
            process.stdout.write(
              `\n${q.table}\n\n${q.best ? `best by ${flags.metric}: ${bestLine(q.best)}\n` : ''}sweep run ` +
                `${q.sweepRunId}: artifacts in ${q.outDir}\n`,
            );
          return;
        }
        const r = await runSweep(config, {
          overrides: flags.set,
          metric: flags.metric as 'H',
          logger: log,
          force: Boolean(flags.force),
          parallel: jobs,
          progress,
        });
        if (flags.json) process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
        else
          process.stdout.write(
            `\n${r.table}\n\nbest by ${r.metric}: ${bestLine(r.best)}\n` +
              `sweep run ${r.sweepRunId}: best.yaml, table.md${r.plot ? ', sweep.png' : ''} in ${r.outDir}\n`,
          );
      },
    );

  program
    .command('config')
    .description('configs')
    .command('show')
    .description(
      'print the resolved config (includes merged, overrides applied, every plugin default filled in) and its hash',
    )
    .argument('[config]', 'YAML config', DEFAULT_CONFIG)
    .option('-s, --set <path=value>', 'override a config value (repeatable)', collect, [])
    .option('--json', 'as JSON')
    .action(async (config: string, flags: { set: string[]; json?: boolean }) => {
      const exp = await composeExperiment(config, { overrides: flags.set, logger: new ConsoleLogger({ quiet: true }) });
      // Redacted as the saved config is: credentials are never printed.
      const redact = configRedactor(exp);
      // the sweep: section is not part of a run's config (nor its hash) but is the point of a sweep config
      const sweep = exp.top.sweep ? { grid: exp.top.sweep, points: expandGrid(exp.top.sweep).length } : undefined;
      const includes = exp.source.includes.length ? `; includes ${exp.source.includes.join(', ')}` : '';
      const view = { hash: exp.hash, includes: exp.source.includes, config: exp.resolved, ...(sweep ? { sweep } : {}) };
      if (flags.json) process.stdout.write(`${redact(JSON.stringify(view, null, 2))}\n`);
      else {
        process.stdout.write(`# ${config} — hash ${exp.hash}${includes}\n${redact(toYaml(exp.resolved))}`);
        const note = `# sweep: ${sweep?.points} point(s); the hash above is the base config's (each point has its own)`;
        if (sweep) process.stdout.write(`${note}\n${redact(toYaml({ sweep: sweep.grid }))}`);
      }
    });

  registerWeightsCommands(program);
  registerReportCommands(program);
  registerCacheCommands(program);
  registerQueueCommands(program);
  registerRunsCommands(program);
  registerDatasetsCommands(program);

  const plugins = program.command('plugins').description('list registered plugins');
  plugins
    .command('ls')
    .description('every registered plugin with its group, description and options (type and default)')
    .option('--plugin <module>', 'also load a plugin module (a path or a package name; repeatable)', collect, [])
    .option('--json', 'as JSON (options as JSON Schema)')
    .action(async (flags: { json?: boolean; plugin: string[] }) => {
      const container = baseContainer(new ConsoleLogger({ quiet: true }));
      const origin = new Map<string, string>();
      for (const entry of flags.plugin) {
        const where = (): string => `--plugin ${entry}:`;
        const modules = await loadPluginModules([entry], process.cwd(), commandLineSource(flags.plugin), where);
        container.load(...modules);
        for (const s of new PluginRegistry(moduleOnly(modules)).specs()) origin.set(`${s.group}:${s.name}`, entry);
      }
      const reg = new PluginRegistry(container);
      const specs = reg.specs().map((s) => ({
        group: s.group,
        name: s.name,
        description: s.description,
        module: origin.get(`${s.group}:${s.name}`) ?? 'built-in',
        options: optionsSchema(s.schema),
      }));
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(specs, null, 2)}\n`);
        return;
      }
      for (const s of specs) {
        const from = s.module === 'built-in' ? '' : ` (from ${s.module})`;
        process.stdout.write(`${`${s.group}:${s.name}`.padEnd(24)} ${s.description}${from}\n`);
        for (const line of describeOptions(s.options)) process.stdout.write(`    ${line}\n`);
      }
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; usage mistakes were already printed by commander
      return e.exitCode === 0 ? 0 : 2;
    }
    code = report(e, verbose);
    if (lifecycle.failedRunId !== undefined && !isNiwtError(e)) {
      process.stderr.write(
        `niwt: failed during ${lifecycle.stage}; run ${lifecycle.failedRunId} marked FAILED; after fixing ` +
          `the cause, resume with: ${lifecycle.resumeCommand}\n`,
      );
    }
  }
  return code;
}

/**
 * Startup of `niwt run`: removes temporaries of processes that are gone, then finds unfinished runs of this
 * config. With `--resume` the newest is continued; runs left RUNNING by a gone process are marked KILLED.
 */
async function previousRuns(
  exp: Experiment,
  resume: boolean,
  log: Logger,
): Promise<{ resume?: UnfinishedRun; abandoned: UnfinishedRun[] }> {
  const stale = removeStaleTemporaries(exp.run.cacheDir);
  if (stale.length > 0) log.info(`removed ${stale.length} temporary cache folder(s) left by processes that are gone`);
  let unfinished: UnfinishedRun[];
  try {
    unfinished = await findUnfinishedRuns(exp, trackerOf(exp));
  } catch (e) {
    log.warn(`cannot look for unfinished runs of this config: ${(e as Error).message}`);
    unfinished = [];
  }
  const gone = (r: UnfinishedRun): boolean => r.status === 'RUNNING' && r.ownerAlive === false;
  if (!resume) return { abandoned: unfinished.filter(gone) };
  const latest = unfinished[0];
  if (!latest) {
    log.info('nothing to resume for this config: running it (completed stages still come from the cache)');
    return { abandoned: [] };
  }
  if (latest.status === 'RUNNING' && latest.ownerAlive !== false) {
    const pid = latest.tags['niwt.pid'] ?? '?';
    const host = latest.tags['niwt.host'] ?? '?';
    throw new UsageError(
      `run ${latest.runId} of this config is RUNNING in process ${pid} on ${host}; wait for it or stop it ` +
        `(kill ${pid}), then run again with --resume`,
    );
  }
  const reused = latest.children.filter((c) => c.result).map((c) => c.runName);
  const why =
    latest.status === 'RUNNING'
      ? 'RUNNING, its process is gone'
      : `${latest.status}${latest.tags['niwt.interrupted_at'] ? ` during ${latest.tags['niwt.interrupted_at']}` : ''}`;
  log.info(
    `resuming run ${latest.runId} (${why}): completed stages come from the cache; finished methods reused: ` +
      `${reused.join(', ') || 'none'}`,
  );
  return { resume: latest, abandoned: unfinished.slice(1).filter(gone) };
}

/** Redacts config text the way the tracker redacts the saved `config/config.yaml`. */
function configRedactor(exp: Experiment): (text: string) => string {
  const opts = exp.tracker.options;
  const keys = Array.isArray(opts.secretKeys) ? opts.secretKeys.map(String) : [];
  const r = new Redactor(keys, secretValuesFromEnv(process.env, typeof opts.uri === 'string' ? opts.uri : undefined));
  r.entries(flattenParams(exp.resolved)); // learns the values of secret keys
  return (text) => r.text(text);
}

/** Prints an error the way the CLI promises; returns the exit code. */
export function report(e: unknown, verbose: boolean): number {
  if (isNiwtError(e)) {
    process.stderr.write(`niwt: ${e.message}\n`);
    if (verbose)
      process.stderr.write(
        `${e.stack ?? ''}\n${e.cause ? `cause: ${String((e.cause as Error).stack ?? e.cause)}\n` : ''}`,
      );
    return 2;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  process.stderr.write(`niwt: internal error: ${err.message}\n${err.stack ?? ''}\n`);
  return 1;
}

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  default?: unknown;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  description?: string;
};

/** A plugin's options as JSON Schema (input side: what a config may write). */
function optionsSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** `path: type = default` lines, nested objects flattened to dotted paths (the `--set` form). */
function describeOptions(schema: JsonSchema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(schema.properties ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    if (v.properties && Object.keys(v.properties).length > 0) {
      out.push(...describeOptions(v, p));
      continue;
    }
    const type = v.enum
      ? v.enum.map((e) => JSON.stringify(e)).join(' | ')
      : v.anyOf
        ? v.anyOf.map((a) => a.type ?? (a.enum ? a.enum.join('|') : '?')).join(' | ')
        : Array.isArray(v.type)
          ? v.type.join(' | ')
          : (v.type ?? 'any');
    const def = v.default === undefined ? '' : ` = ${JSON.stringify(v.default)}`;
    out.push(`${p}: ${type}${def}`);
  }
  return out;
}

/** `--plugin` values as a config source (errors name the `--plugin` value instead of a config line). */
function commandLineSource(entries: readonly string[]): ConfigSource {
  const locate = (): string => '--plugin:';
  const raw = { plugins: entries };
  return { file: '--plugin', baseDir: process.cwd(), raw, overridden: new Map(), locate, includes: [] };
}

/** A container holding only some modules' bindings: which plugins those modules register. */
function moduleOnly(modules: readonly ContainerModule[]): Container {
  const c = new Container();
  c.load(...modules);
  return c;
}
