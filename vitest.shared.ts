import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ViteUserConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));

const PACKAGES: Record<string, string> = {
  '@niwt/core': 'packages/core',
  '@niwt/compute': 'packages/compute',
  '@niwt/backbones': 'packages/backbones',
  '@niwt/datasets': 'packages/datasets',
  '@niwt/domain-knowledge': 'packages/domain-knowledge',
  '@niwt/niwt': 'packages/niwt',
  '@niwt/baselines': 'packages/baselines',
  '@niwt/tracking': 'packages/tracking',
  '@niwt/runner': 'apps/runner',
};

/** Common vitest settings: workspace packages resolve to their sources (no build needed), JSON report per package. */
export function niwtVitest(
  name: string,
  extra: { testTimeout?: number; passWithNoTests?: boolean } = {},
): ViteUserConfig {
  return {
    resolve: {
      alias: Object.entries(PACKAGES).map(([pkg, dir]) => ({
        find: new RegExp(`^${pkg}$`),
        replacement: path.join(root, dir, 'src/index.ts'),
      })),
    },
    test: {
      include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
      environment: 'node',
      passWithNoTests: extra.passWithNoTests ?? false,
      env: { NIWT_SHARED_DIR: sharedDir() },
      pool: 'forks',
      testTimeout: extra.testTimeout ?? 120_000,
      hookTimeout: 600_000,
      reporters: ['default', ['json', { outputFile: path.join(root, '.reports', `vitest-${name}.json`) }]],
    },
  };
}

/**
 * The steering repo's shared data (`shared/` beside the checkout: `../shared`), falling back to the
 * developers' `/work/shared`; tests read it from NIWT_SHARED_DIR and fail, never skip, when it is absent.
 */
function sharedDir(): string {
  for (const p of [path.resolve(root, '..', 'shared'), '/work/shared']) if (existsSync(path.join(p, 'data'))) return p;
  return path.resolve(root, '..', 'shared'); // absent: the tests that need it fail naming this path
}
