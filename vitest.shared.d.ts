import type { ViteUserConfig } from 'vitest/config';
/** Common vitest settings: sources resolved through the `@niwt/source` condition, JSON report per package. */
export declare function niwtVitest(name: string, extra?: {
    testTimeout?: number;
}): ViteUserConfig;
//# sourceMappingURL=vitest.shared.d.ts.map