/**
 * Resolution of plugins named in a config: look up `group:name` among the registered specs, validate the
 * block with the plugin's own schema, and construct the class in a child container that holds its options.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Container, ContainerModule } from 'inversify';
import { fingerprintContent } from './fingerprint.js';
import type { z } from 'zod';
import { ConfigError, PluginError } from './errors.js';
import { suggestion } from './did-you-mean.js';
import { formatPath, validateAt, type ConfigPath, type ConfigSource } from './config.js';
import { TOKENS, type PluginGroup, type PluginKinds, type PluginSpec } from './plugins.js';

/** Code version of the plugins each module registers (see `setModuleCodeVersion`). */
const moduleCode = new Map<ContainerModule, string>();

/**
 * Records where a module's plugins come from, for cache keys: `<package>@<version>` for a built-in package
 * (`packageCodeVersion`), `sha256:<hash of the module file>` for a third-party module (set by
 * `importPluginModules`), so an edited plugin recomputes what it produced.
 */
export function setModuleCodeVersion(module: ContainerModule, version: string): void {
  moduleCode.set(module, version);
}

/** `<name>@<version>` of the package.json nearest above a module file (a file: URL or path). */
export function packageCodeVersion(moduleUrl: string): string {
  let dir = path.dirname(moduleUrl.startsWith('file:') ? fileURLToPath(moduleUrl) : moduleUrl);
  for (;;) {
    try {
      const text = readFileSync(path.join(dir, 'package.json'), 'utf8');
      const pkg = JSON.parse(text) as { name?: string; version?: string };
      return `${pkg.name ?? path.basename(dir)}@${pkg.version ?? '0.0.0'}`;
    } catch {
      const up = path.dirname(dir);
      if (up === dir) return 'unknown';
      dir = up;
    }
  }
}

export class PluginRegistry {
  private codeOf?: Map<string, { impl: unknown; version: string }>;

  constructor(readonly container: Container) {}

  /** The code version of a plugin (`<package>@<version>` or `sha256:<module hash>`), `unknown` if unrecorded. */
  codeVersion(spec: PluginSpec): string {
    if (!this.codeOf) {
      // a module builds its spec objects on every load: match by group, name and implementing class
      this.codeOf = new Map();
      for (const [module, version] of moduleCode) {
        const scratch = new Container();
        scratch.load(module);
        if (!scratch.isBound(TOKENS.pluginSpec)) continue;
        for (const s of scratch.getAll<PluginSpec>(TOKENS.pluginSpec)) {
          this.codeOf.set(`${s.group}:${s.name}`, { impl: s.impl, version });
        }
      }
    }
    const found = this.codeOf.get(`${spec.group}:${spec.name}`);
    return found && found.impl === spec.impl ? found.version : 'unknown';
  }

  /** Every registered plugin, sorted by group then name. */
  specs(): PluginSpec[] {
    const all = this.container.isBound(TOKENS.pluginSpec) ? this.container.getAll<PluginSpec>(TOKENS.pluginSpec) : [];
    return [...all].sort((a, b) => (a.group + a.name).localeCompare(b.group + b.name));
  }

  names(group: PluginGroup): string[] {
    return this.specs()
      .filter((s) => s.group === group)
      .map((s) => s.name);
  }

  /** The spec of `group:name`, or a ConfigError naming the config place and the known names. */
  find(group: PluginGroup, name: string, where: ConfigPath, source: ConfigSource): PluginSpec {
    const spec = this.specs().find((s) => s.group === group && s.name === name);
    if (spec) return spec;
    const known = this.names(group);
    const p = [...where, 'name'];
    throw new ConfigError(
      `${source.locate(p)} ${formatPath(p)}: '${name}' is not a ${group} (known: ` +
        `${known.join(', ') || 'none'}${suggestion(name, known)}); ` +
        `a third-party ${group} must be listed under plugins:`,
    );
  }

  /** Validates a plugin block (minus the runner's own keys) with the plugin's schema. */
  validate(
    spec: PluginSpec,
    block: Record<string, unknown>,
    where: ConfigPath,
    source: ConfigSource,
    reserved: readonly string[] = ['name'],
  ): Record<string, unknown> {
    const options = Object.fromEntries(Object.entries(block).filter(([k]) => !reserved.includes(k)));
    return validateAt(spec.schema as z.ZodType<Record<string, unknown>>, options, where, source) as Record<
      string,
      unknown
    >;
  }

  /** Constructs a plugin: its options and the shared services are injected explicitly. */
  create<G extends PluginGroup>(spec: PluginSpec<G>, options: unknown): PluginKinds[G] {
    const child = new Container({ parent: this.container });
    child.bind(TOKENS.options).toConstantValue(options);
    child.bind(spec.impl).toSelf();
    return child.get(spec.impl);
  }
}

function isContainerModule(v: unknown): v is ContainerModule {
  return (
    v instanceof ContainerModule ||
    (typeof v === 'object' && v !== null && typeof (v as { load?: unknown }).load === 'function' && 'id' in v)
  );
}

/**
 * Imports third-party plugin modules listed under `plugins:`; a path is relative to `baseDir` (the working
 * directory), a bare name is a package. Each module exports ContainerModules (default or named). Errors
 * start with `where(i)`: by default the config place, `exp.yaml:3 plugins.0:`.
 */
export async function importPluginModules(
  entries: readonly string[],
  baseDir: string,
  source: ConfigSource,
  where: (i: number) => string = (i) => `${source.locate(['plugins', i])} plugins.${i}:`,
): Promise<ContainerModule[]> {
  const modules: ContainerModule[] = [];
  for (const [i, entry] of entries.entries()) {
    const isPath = entry.startsWith('.') || entry.startsWith('/') || /\.[cm]?js$/.test(entry);
    const spec = isPath ? pathToFileURL(path.resolve(baseDir, entry)).href : entry;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(spec)) as Record<string, unknown>;
    } catch (e) {
      const first = (e as Error).message.split('\n')[0];
      throw new PluginError(`${where(i)} cannot load plugin module '${entry}' (${first})`, { cause: e });
    }
    const found = Object.values(mod).filter(isContainerModule);
    if (found.length === 0) {
      const fix = 'export one, e.g. as default';
      throw new PluginError(`${where(i)} '${entry}' exports no inversify ContainerModule (${fix})`);
    }
    const code = await fingerprintContent(fileURLToPath(isPath ? spec : import.meta.resolve(spec))).then(
      (h) => `sha256:${h}`,
      () => 'unknown',
    );
    for (const m of found) setModuleCodeVersion(m, code);
    modules.push(...new Set(found));
  }
  return modules;
}
