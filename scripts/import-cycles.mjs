#!/usr/bin/env node
/**
 * Fails (exit 1) when the relative imports inside a package's or app's `src/` form a cycle, printing each
 * cycle as a chain of files. Imports are read with TypeScript's own `preProcessFile` (static, type-only,
 * re-exports and dynamic `import()`), so a type-only cycle counts too: it is still two modules that cannot
 * be understood apart. Imports between packages are not followed: the tsconfig project references already
 * reject a cycle between packages. `npm test` runs it after the typecheck.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Every .ts file under `dir` (no declaration files). */
function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The file a relative specifier names (`./x.js` is `./x.ts` in the sources, `./dir` its index). */
function resolveRelative(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  const stem = base.replace(/\.(js|mjs|ts)$/, '');
  for (const c of [`${stem}.ts`, `${stem}.mts`, path.join(base, 'index.ts')]) if (existsSync(c)) return c;
  return undefined;
}

/** The import graph of one `src/` folder: file → files it imports. */
export function importGraph(srcDir) {
  const graph = new Map();
  for (const file of sources(srcDir)) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((f) => f.fileName)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolveRelative(file, s))
      .filter((t) => t !== undefined);
    graph.set(file, [...new Set(targets)]);
  }
  return graph;
}

/** Cycles of `graph` (one per strongly connected component of more than one file, or a self-import). */
export function findCycles(graph) {
  // Tarjan's strongly connected components, iterative so deep chains cannot overflow the stack.
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const cycles = [];
  for (const start of graph.keys()) {
    if (idx.has(start)) continue;
    const work = [[start, 0]];
    idx.set(start, index);
    low.set(start, index++);
    stack.push(start);
    onStack.add(start);
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      const next = graph.get(v) ?? [];
      if (i < next.length) {
        frame[1]++;
        const w = next[i];
        if (!graph.has(w)) continue;
        if (!idx.has(w)) {
          idx.set(w, index);
          low.set(w, index++);
          stack.push(w);
          onStack.add(w);
          work.push([w, 0]);
        } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
        continue;
      }
      work.pop();
      if (work.length) {
        const u = work[work.length - 1][0];
        low.set(u, Math.min(low.get(u), low.get(v)));
      }
      if (low.get(v) === idx.get(v)) {
        const comp = [];
        let w;
        do {
          w = stack.pop();
          onStack.delete(w);
          comp.push(w);
        } while (w !== v);
        if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
      }
    }
  }
  return cycles;
}

/** One concrete loop inside a strongly connected component, for the message: a → b → … → a. */
function loopIn(graph, comp) {
  const inComp = new Set(comp);
  const start = comp[0];
  const prev = new Map([[start, undefined]]);
  const queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of graph.get(v) ?? []) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const chain = [v];
        while (prev.get(chain[0]) !== undefined) chain.unshift(prev.get(chain[0]));
        return [...chain, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return comp;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const projects = ['packages', 'apps'].flatMap((d) =>
    readdirSync(path.join(root, d))
      .map((n) => path.join(root, d, n, 'src'))
      .filter((p) => existsSync(p)),
  );
  let found = 0;
  let files = 0;
  for (const src of projects) {
    const graph = importGraph(src);
    files += graph.size;
    for (const comp of findCycles(graph)) {
      found++;
      const rel = (f) => path.relative(root, f);
      console.log(`import cycle (${comp.length} files): ${loopIn(graph, comp).map(rel).join(' → ')}`);
    }
  }
  console.log(`import cycles: ${found} in ${files} files of ${projects.length} projects`);
  process.exit(found ? 1 : 0);
}
