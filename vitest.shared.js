import path from 'node:path';
import { fileURLToPath } from 'node:url';
const root = path.dirname(fileURLToPath(import.meta.url));
/** Common vitest settings: sources resolved through the `@niwt/source` condition, JSON report per package. */
export function niwtVitest(name, extra = {}) {
    return {
        resolve: { conditions: ['@niwt/source'] },
        test: {
            include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
            environment: 'node',
            pool: 'forks',
            testTimeout: extra.testTimeout ?? 120_000,
            hookTimeout: 300_000,
            reporters: ['default', ['json', { outputFile: path.join(root, '.reports', `vitest-${name}.json`) }]],
        },
    };
}
//# sourceMappingURL=vitest.shared.js.map