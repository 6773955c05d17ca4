/**
 * The contract suite: one vitest test per registered plugin, each run through its group's contract with its
 * `testOptions` (see `contract-checks.ts`). Registering a plugin is enough to enrol it; a plugin without
 * `testOptions` fails. A plugin author runs it on their own module in one line of a vitest file:
 *
 * ```ts
 * import { contractSuite } from '@niwt/runner/testing';
 * await contractSuite({ plugins: ['./my-plugin.js'] });
 * // ✓ contract: dataset:bars — 27 classes (24/3), 72/24/12 images, images
 * ```
 */
import { afterAll, describe, it } from 'vitest';
import { initBackend, type BackendPreference } from '@niwt/compute';
import type { PluginGroup, PluginSpec } from '@niwt/core';
import { ContractBench, checkPlugin } from './contract-checks.js';

export interface ContractSuiteOptions {
  /** Plugin modules, as under `plugins:` in a config (paths relative to `baseDir`, or package names). */
  readonly plugins?: readonly string[];
  /** Also check every built-in plugin (default: only when no `plugins` are given). */
  readonly builtins?: boolean;
  /** Folder the module paths resolve against (default: the working directory). */
  readonly baseDir?: string;
  /** Tensor backend of the checks (default `wasm`: the one every machine has). */
  readonly backend?: BackendPreference;
  /** Per-plugin timeout in ms (default 120 s). */
  readonly timeout?: number;
}

/** The plugins a suite with these options enrols, sorted by group then name. */
export async function enrolledPlugins(
  options: ContractSuiteOptions = {},
): Promise<{ bench: ContractBench; specs: PluginSpec[] }> {
  const bench = await ContractBench.create(options.plugins ?? [], options.baseDir);
  const all = options.builtins ?? (options.plugins ?? []).length === 0;
  const specs = bench.specs().filter((s) => all || bench.thirdParty.has(`${s.group}:${s.name}`));
  return { bench, specs };
}

/** Counts of enrolled plugins per group. */
export function countByGroup(specs: readonly PluginSpec[]): Record<PluginGroup, number> {
  const out: Record<PluginGroup, number> = { dataset: 0, knowledge: 0, backbone: 0, method: 0, tracker: 0 };
  for (const s of specs) out[s.group] += 1;
  return out;
}

/** Registers the suite in the calling vitest file (await it at the top level). */
export async function contractSuite(options: ContractSuiteOptions = {}): Promise<void> {
  const { bench, specs } = await enrolledPlugins(options);
  await initBackend(options.backend ?? 'wasm');
  describe('plugin contracts', () => {
    afterAll(async () => {
      await bench.release();
      const counts = Object.entries(countByGroup(specs)).map(([g, n]) => `${n} ${g}`);
      console.info(`contract suite: ${specs.length} plugins (${counts.join(', ')})`);
    });
    for (const spec of specs) {
      it(
        `${spec.group}:${spec.name}`,
        async () => {
          const report = await checkPlugin(bench, spec);
          console.info(`contract: ${spec.group}:${spec.name} — ${report.summary}`);
        },
        options.timeout ?? 120_000,
      );
    }
  });
}
