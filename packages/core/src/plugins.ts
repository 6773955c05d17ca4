/**
 * Plugins: every dataset, knowledge encoder, backbone, method and tracker is a class bound in an
 * inversify container under `group:name`, with the zod schema of its options beside it.
 *
 * A package registers its plugins in its `ContainerModule`:
 *
 * ```ts
 * export const datasetsModule = new ContainerModule(({ bind }) => {
 * registerPlugin(bind, { group: 'dataset', name: 'folder', description: '…', schema: FolderOptions, impl: FolderDataset
 * }); });
 * ```
 *
 * and the plugin class receives its validated options and shared services by explicit injection:
 *
 * ```ts
 * @injectable()
 * class FolderDataset implements DatasetAdapter {
 * constructor(@inject(TOKENS.options) private readonly opts: FolderOptions, @inject(TOKENS.runContext) private readonly
 * run: RunContext) {} }
 * ```
 */
import { ContainerModule, inject, injectable, type ContainerModuleLoadOptions, type Newable } from 'inversify';
import type { z } from 'zod';
import type { Backbone, Dataset, DatasetAdapter, KnowledgeEncoder, Tracker, ZeroShotMethod } from './contracts.js';

export type PluginGroup = 'dataset' | 'knowledge' | 'backbone' | 'method' | 'tracker';

/** What each group's plugins implement. */
export interface PluginKinds {
  dataset: DatasetAdapter;
  knowledge: KnowledgeEncoder;
  backbone: Backbone;
  method: ZeroShotMethod;
  tracker: Tracker;
}

export interface PluginSpec<G extends PluginGroup = PluginGroup, S extends z.ZodType = z.ZodType> {
  readonly group: G;
  readonly name: string;
  /** One line for `niwt plugins ls`. */
  readonly description: string;
  /** Strict schema of the plugin's options (the config block minus `name`). */
  readonly schema: S;
  readonly impl: Newable<PluginKinds[G]>;
  /**
   * Dotted option paths (within the block) that do not change results: worker counts, inference engines,
   * checks. They are left out of the experiment hash, so changing them still finds the finished run.
   */
  readonly nonResultOptions?: readonly string[];
  /**
   * Checks that need the file system or the network (folders present, files non-empty, a server that
   * answers), run before a run opens; each issue names an option path and becomes a one-line ConfigError.
   */
  readonly preflight?: (
    options: z.output<S>,
    context: PreflightContext,
  ) => readonly PreflightIssue[] | Promise<readonly PreflightIssue[]>;
  /**
   * Tiny options that make the plugin run in seconds (a few images, a tiny image size, one epoch), used by the
   * contract suite that enrols every registered plugin (`contractSuite` in `@niwt/runner/testing`): a plugin
   * without them fails the suite. A function may write fixtures into `context.dir` (a fresh temp folder) and
   * point the options at them. E.g. `testOptions: { imageSize: 16, widths: [4, 4, 4], train: { epochs: 1 } }`.
   */
  readonly testOptions?: z.input<S> | ((context: PluginTestContext) => z.input<S> | Promise<z.input<S>>);
  /**
   * Knowledge encoders, backbones and methods: the registered dataset (run with its own `testOptions`) the
   * contract suite feeds them, when the default `shapes` does not fit (e.g. `xlsa17` for precomputed features).
   */
  readonly testDataset?: string;
}

/** What a plugin's `testOptions` function may use. */
export interface PluginTestContext {
  /** A fresh temporary folder for fixtures; relative option paths resolve against it too. */
  readonly dir: string;
  /** Knowledge encoders, backbones and methods: the loaded `testDataset` (fixtures may follow its samples). */
  readonly dataset?: Dataset;
}

/** What a plugin's `preflight` may use. */
export interface PreflightContext {
  /** Directory relative option paths resolve against. */
  readonly baseDir: string;
  readonly cacheDir: string;
}

/** A `preflight` problem: `path` is inside the plugin's block; `message` says what was expected, and the fix. */
export interface PreflightIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** Shared services and per-instance values, by token. */
export const TOKENS = {
  /** Every registered `PluginSpec` (a multi-binding: use `getAll`). */
  pluginSpec: Symbol.for('niwt.PluginSpec'),
  /** The validated options of the plugin being constructed. */
  options: Symbol.for('niwt.PluginOptions'),
  /** The `RunContext` of the current run. */
  runContext: Symbol.for('niwt.RunContext'),
  /** The `Logger`. */
  logger: Symbol.for('niwt.Logger'),
} as const;

/** Per-run values every plugin may inject. */
export interface RunContext {
  readonly seed: number;
  /** Directory the config paths are relative to. */
  readonly baseDir: string;
  /** Root of the stage cache (`.niwt/cache` by default). */
  readonly cacheDir: string;
  /** Scratch directory of this run (artifacts are written here before they are tracked). */
  readonly runDir: string;
}

/** Binds a plugin spec into the registry list (unconstrained, so `getAll` sees it). */
export function registerPlugin<G extends PluginGroup, S extends z.ZodType>(
  bind: ContainerModuleLoadOptions['bind'],
  spec: PluginSpec<G, S>,
): void {
  bind<PluginSpec>(TOKENS.pluginSpec).toConstantValue(spec as unknown as PluginSpec);
}

/**
 * What `@injectable()` and `@inject(token)` on each constructor parameter record, for a class written
 * without decorators (plain JavaScript): the i-th parameter receives `tokens[i]`.
 *
 * ```js
 * class Bars { constructor(opts, run) { … } }
 * injectParams(Bars, TOKENS.options, TOKENS.runContext);
 * ```
 */
export function injectParams<T extends Newable<unknown>>(impl: T, ...tokens: readonly symbol[]): T {
  injectable()(impl);
  tokens.forEach((token, i) => inject(token)(impl, undefined, i));
  return impl;
}

/**
 * A module registering the given plugins: what a plugin file exports as its default.
 *
 * ```js
 * export default pluginModule({ group: 'dataset', name: 'bars', description: '…', schema: options, impl: Bars });
 * ```
 */
export function pluginModule<G extends PluginGroup, S extends z.ZodType>(spec: PluginSpec<G, S>): ContainerModule;
/** Several plugins (their options are not inferred: annotate `preflight`'s parameter, or use `registerPlugin`). */
export function pluginModule(...specs: readonly PluginSpec[]): ContainerModule;
export function pluginModule(...specs: readonly PluginSpec[]): ContainerModule {
  return new ContainerModule(({ bind }) => specs.forEach((spec) => registerPlugin(bind, spec)));
}
