/**
 * The composition root: reads and validates a config, loads built-in and third-party plugin modules
 * into an inversify container, and validates every plugin block with the plugin's own schema —
 * all before any work starts.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { Container, type ContainerModule } from 'inversify';
import {
  ConfigError,
  METHOD_ENTRY_KEYS,
  PluginRegistry,
  TOKENS,
  experimentHash,
  importPluginModules,
  packageCodeVersion,
  setModuleCodeVersion,
  readConfigSource,
  validateTopConfig,
  type ConfigSource,
  type Control,
  type Logger,
  type PluginGroup,
  type PluginSpec,
  type RunContext,
  type TopConfig,
} from '@niwt/core';
import { backbonesModule } from '@niwt/backbones';
import { baselinesModule } from '@niwt/baselines';
import { datasetsModule } from '@niwt/datasets';
import { domainKnowledgeModule } from '@niwt/domain-knowledge';
import { niwtModule } from '@niwt/niwt';
import { trackingModule } from '@niwt/tracking';
import { shareInstancesWithPlugins } from './shared-instances.js';

/** The built-in plugin modules, named in one list. */
export const BUILTIN_MODULES: readonly ContainerModule[] = [
  datasetsModule,
  domainKnowledgeModule,
  backbonesModule,
  niwtModule,
  baselinesModule,
  trackingModule,
];

// Built-in plugins' code version (part of cache keys) is their package's version.
const requireHere = createRequire(import.meta.url);
const BUILTIN_PACKAGES = [
  '@niwt/datasets',
  '@niwt/domain-knowledge',
  '@niwt/backbones',
  '@niwt/niwt',
  '@niwt/baselines',
  '@niwt/tracking',
];
BUILTIN_MODULES.forEach((m, i) => {
  let version = 'unknown';
  try {
    version = packageCodeVersion(requireHere.resolve(BUILTIN_PACKAGES[i]));
  } catch {
    // not resolvable from here (a bundled build): 'unknown' keeps keys stable
  }
  setModuleCodeVersion(m, version);
});

export interface ResolvedPlugin {
  readonly spec: PluginSpec;
  readonly options: Record<string, unknown>;
}

export interface ResolvedMethod extends ResolvedPlugin {
  readonly label: string;
  readonly control?: Control;
  /** Permutation design of a control; undefined without one. */
  readonly permutations?: 'balanced' | number;
}

export interface Experiment {
  readonly source: ConfigSource;
  readonly top: TopConfig;
  /** The config with every default filled in: what is saved with the run and hashed. */
  readonly resolved: Record<string, unknown>;
  readonly hash: string;
  readonly overrides: readonly string[];
  readonly registry: PluginRegistry;
  readonly dataset: ResolvedPlugin;
  readonly knowledge: ResolvedPlugin;
  readonly backbone: ResolvedPlugin;
  readonly methods: readonly ResolvedMethod[];
  readonly tracker: ResolvedPlugin;
  readonly run: RunContext;
}

export interface ComposeOptions {
  readonly overrides?: readonly string[];
  /** Relative paths in the config resolve against this folder (default: the working directory). */
  readonly cwd?: string;
  readonly logger: Logger;
  /** Config text instead of reading `file` (tests). */
  readonly inlineText?: string;
}

/**
 * What the experiment hash leaves out besides the non-result top-level keys: each plugin's
 * `nonResultOptions` and the tracker's `secretKeys` (see `experimentHash`).
 */
function hashOptions(
  dataset: ResolvedPlugin,
  knowledge: ResolvedPlugin,
  backbone: ResolvedPlugin,
  methods: readonly ResolvedMethod[],
  tracker: ResolvedPlugin,
) {
  const at = (prefix: string, r: ResolvedPlugin): string[] =>
    (r.spec.nonResultOptions ?? []).map((o) => `${prefix}.${o}`);
  const nonResult = [
    ...at('dataset', dataset),
    ...at('knowledge', knowledge),
    ...at('backbone', backbone),
    ...methods.flatMap((m, i) => at(`methods.${i}`, m)),
  ];
  const secretKeys = tracker.options.secretKeys;
  return { nonResult, secretPaths: Array.isArray(secretKeys) ? secretKeys.map(String) : [] };
}

/** A container with the built-in plugins (and shared services) bound. */
export function baseContainer(logger: Logger): Container {
  const container = new Container();
  container.load(...BUILTIN_MODULES);
  container.bind(TOKENS.logger).toConstantValue(logger);
  return container;
}

/**
 * Imports the modules listed under `plugins:` (or given to `--plugin`), each resolving `@niwt/*` and the
 * shared libraries to the runner's own instances.
 */
export async function loadPluginModules(
  entries: readonly string[],
  cwd: string,
  source: ConfigSource,
  where?: (i: number) => string,
): Promise<ContainerModule[]> {
  if (entries.length === 0) return [];
  shareInstancesWithPlugins();
  return importPluginModules(entries, cwd, source, where);
}

export async function composeExperiment(file: string, opts: ComposeOptions): Promise<Experiment> {
  const cwd = opts.cwd ?? process.cwd();
  const overrides = opts.overrides ?? [];
  const source = readConfigSource(file, overrides, opts.inlineText);
  const top = validateTopConfig(source);
  const container = baseContainer(opts.logger);
  const extra = await loadPluginModules(top.plugins, cwd, source);
  if (extra.length > 0) container.load(...extra);
  const registry = new PluginRegistry(container);

  const resolveBlock = (
    group: PluginGroup,
    block: Record<string, unknown>,
    where: (string | number)[],
    reserved: readonly string[] = ['name'],
  ): ResolvedPlugin => {
    const spec = registry.find(group, String(block.name), where, source);
    return { spec, options: registry.validate(spec, block, where, source, reserved) };
  };
  const dataset = resolveBlock('dataset', top.dataset, ['dataset']);
  const knowledge = resolveBlock('knowledge', top.knowledge, ['knowledge']);
  const backbone = resolveBlock('backbone', top.backbone, ['backbone']);
  const tracker = resolveBlock('tracker', top.tracking, ['tracking']);
  const seen = new Set<string>();
  const methods = top.methods.map((m, i): ResolvedMethod => {
    const r = resolveBlock('method', m, ['methods', i], METHOD_ENTRY_KEYS);
    const label = m.label ?? (m.control ? `${m.name}-${m.control}` : m.name);
    if (seen.has(label)) {
      throw new ConfigError(
        `${source.locate(['methods', i])} methods.${i}: label '${label}' is used twice; give each method ` +
          `entry a distinct label:`,
      );
    }
    seen.add(label);
    if (m.permutations !== undefined && !m.control) {
      throw new ConfigError(
        `${source.locate(['methods', i, 'permutations'])} methods.${i}.permutations: only meaningful with ` +
          `control: (known controls: permute-unseen-knowledge)`,
      );
    }
    return { ...r, label, control: m.control, permutations: m.control ? (m.permutations ?? 'balanced') : undefined };
  });

  const block = (r: ResolvedPlugin): Record<string, unknown> => ({ name: r.spec.name, ...r.options });
  const resolved: Record<string, unknown> = {
    experiment: top.experiment,
    seed: top.seed,
    backend: top.backend,
    cacheDir: top.cacheDir,
    plugins: top.plugins,
    dataset: block(dataset),
    knowledge: block(knowledge),
    backbone: block(backbone),
    methods: methods.map((m) => ({
      ...block(m),
      label: m.label,
      ...(m.control ? { control: m.control, permutations: m.permutations } : {}),
    })),
    tracking: block(tracker),
    explain: top.explain,
  };
  const hash = experimentHash(resolved, hashOptions(dataset, knowledge, backbone, methods, tracker));
  const cacheDir = path.resolve(cwd, top.cacheDir);
  const run: RunContext = {
    seed: top.seed,
    baseDir: cwd,
    cacheDir,
    runDir: path.join(cacheDir, '..', 'runs', `${Date.now()}-${hash.slice(0, 8)}`),
  };
  container.bind(TOKENS.runContext).toConstantValue(run);
  return { source, top, resolved, hash, overrides, registry, dataset, knowledge, backbone, methods, tracker, run };
}
