// @ts-check
/**
 * Module-resolution hook (runs on Node's loader thread; registered by src/shared-instances.ts) that gives
 * third-party plugins the runner's own copies of @niwt/* and of the libraries their contracts expose.
 *
 * A plugin in a folder of its own either cannot resolve `@niwt/core` or `inversify` at all (no
 * node_modules), or resolves a second copy (its dev install): a second inversify would hold other
 * metadata, a second @niwt/core other classes, a second tfjs another engine. So an import of a shared
 * specifier from a module outside the runner's installation resolves as if the runner imported it.
 * Inside the installation (the runner's own dependencies, plugins installed beside it, the repo's
 * examples/) the normal resolution stands: npm already shares one copy there, and a dependency that
 * pinned another version keeps it.
 */

/** @type {{ parents: string[]; root: string; shared: string[]; prefixes: string[] }} */
let state = { parents: [], root: '', shared: [], prefixes: [] };

/** @param {typeof state} data */
export function initialize(data) {
  state = data;
}

/** @param {string} specifier */
function isShared(specifier) {
  if (state.prefixes.some((p) => specifier.startsWith(p))) return true;
  return state.shared.some((name) => specifier === name || specifier.startsWith(`${name}/`));
}

/**
 * @param {string} specifier
 * @param {{ parentURL?: string; conditions: string[]; importAttributes: Record<string, string> }} context
 * @param {(specifier: string, context: object) => Promise<{ url: string }>} nextResolve
 */
export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (!parent || !parent.startsWith('file:') || parent.startsWith(state.root) || !isShared(specifier)) {
    return nextResolve(specifier, context);
  }
  for (const parentURL of state.parents) {
    try {
      return { ...(await nextResolve(specifier, { ...context, parentURL })), shortCircuit: true };
    } catch {
      // not resolvable from this parent: try the next
    }
  }
  // the runner has no such package either (a typo, an @niwt/* that does not exist): the plugin's own
  // resolution gives the error, naming the importing file
  return nextResolve(specifier, context);
}
