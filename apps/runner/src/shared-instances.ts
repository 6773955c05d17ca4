/**
 * Third-party plugins share the runner's instances of `@niwt/*`, inversify, zod, tfjs and reflect-metadata:
 * a plugin in any folder (no node_modules, or its own dev copies) imports them by their bare names and gets
 * the very modules the runner loaded. See `hooks/shared-instances.mjs` for the rule.
 */
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';

/** Libraries whose instances a plugin must share with the runner (with their subpaths), besides `@niwt/*`. */
export const SHARED_PACKAGES: readonly string[] = [
  'inversify',
  'zod',
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-core',
  'reflect-metadata',
];

let registered = false;

/**
 * Registers the resolution hook once per process, before the first plugin module is imported (modules
 * imported earlier keep their resolution). A no-op after the first call.
 */
export function shareInstancesWithPlugins(): void {
  if (registered) return;
  registered = true;
  const requireHere = createRequire(import.meta.url);
  // where the runner's copy of inversify lives tells the installation's root (a project, a global prefix, the repo)
  const inversify = pathToFileURL(requireHere.resolve('inversify')).href;
  const cut = inversify.lastIndexOf('/node_modules/');
  const root = cut >= 0 ? inversify.slice(0, cut + 1) : new URL('../../', import.meta.url).href;
  // resolve as the runner does, then as @niwt/core does (its peers, e.g. reflect-metadata)
  const parents = [import.meta.url, pathToFileURL(requireHere.resolve('@niwt/core')).href];
  register(new URL('../hooks/shared-instances.mjs', import.meta.url), {
    data: { parents, root, shared: [...SHARED_PACKAGES], prefixes: ['@niwt/'] },
  });
}
