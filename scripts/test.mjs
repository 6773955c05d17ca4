#!/usr/bin/env node
/**
 * `npm test`: typecheck, check for import cycles, lint and test every project through nx (offline, no cloud, no
 * daemon), then print one plain `N passed, N failed` line summed from the per-package vitest JSON reports.
 * Extra arguments go to nx (e.g. `npm test -- --projects=@niwt/core`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const reports = path.join(root, '.reports');
rmSync(reports, { recursive: true, force: true });

const env = {
  ...process.env,
  NX_DAEMON: 'false',
  NX_NO_CLOUD: 'true',
  NX_TUI: 'false',
  NX_INTERACTIVE: 'false',
  NX_SKIP_NX_CACHE: 'true',
};
// Typecheck = a full build of every project, tests included (tsc -b over the solution). nx's inferred
// `typecheck` target is not used: it shares the build's tsbuildinfo but emits only declarations, after which
// `tsc -b` believes the JavaScript is up to date when it was never written.
// The native TensorFlow backend (tfjs-node built against PyPI's TensorFlow, cached under .cache/) is placed
// before any test starts, so every project sees the same backends; its parity suite fails if it is missing.
console.log('> scripts/tfjs-native.sh (native TensorFlow backend)');
const native = spawnSync('bash', [path.join(root, 'scripts/tfjs-native.sh')], {
  cwd: root,
  stdio: ['ignore', 'ignore', 'inherit'],
  env,
});
if (native.status !== 0) console.log('scripts/tfjs-native.sh failed: the native backend parity suite will fail');
console.log('> tsc -b tsconfig.json (typecheck and build every project)');
const tsc = spawnSync('npx', ['tsc', '-b', 'tsconfig.json'], { cwd: root, stdio: 'inherit', env });
// Import cycles inside a package's src fail the run too (scripts/import-cycles.mjs prints each one).
console.log('> scripts/import-cycles.mjs (no import cycles inside a package)');
const cycles =
  tsc.status !== 0
    ? tsc
    : spawnSync('node', [path.join(root, 'scripts/import-cycles.mjs')], { cwd: root, stdio: 'inherit', env });
// Formatting (issue 16): Prettier at width 120 (.prettierrc.json, .prettierignore) and no source line over 120
// characters. Fix with `npm run format && npm run format:long`; the cache keeps the check to a few seconds.
console.log('> prettier --check . && node scripts/wrap-long-lines.mjs --check (formatting, lines of at most 120)');
const prettier = spawnSync(
  'npx',
  ['prettier', '--check', '--log-level', 'warn', '--cache', '--cache-strategy', 'content', '.'],
  { cwd: root, stdio: 'inherit', env },
);
const longLines = spawnSync('node', [path.join(root, 'scripts/wrap-long-lines.mjs'), '--check'], {
  cwd: root,
  stdio: 'inherit',
  env,
});
const formatted = prettier.status === 0 && longLines.status === 0;
if (!formatted) console.log('formatting check failed: run `npm run format && npm run format:long`');
const nx =
  cycles.status !== 0
    ? cycles
    : spawnSync(
        'npx',
        [
          'nx',
          'run-many',
          '-t',
          'lint',
          'test',
          '--output-style=static',
          '--parallel=2',
          '--skip-nx-cache',
          ...process.argv.slice(2),
        ],
        {
          cwd: root,
          stdio: 'inherit',
          env,
        },
      );

let passed = 0;
let failed = 0;
let skipped = 0;
const packages = [];
if (existsSync(reports)) {
  for (const f of readdirSync(reports)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const r = JSON.parse(readFileSync(path.join(reports, f), 'utf8'));
    passed += r.numPassedTests;
    // a file that failed to load has no test results of its own; failed describe blocks are not extra failures
    failed +=
      r.numFailedTests +
      (r.testResults ?? []).filter((f) => f.status === 'failed' && !(f.assertionResults ?? []).length).length;
    skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    packages.push(`${f.replace(/^vitest-|\.json$/g, '')} ${r.numPassedTests}/${r.numTotalTests}`);
  }
}
console.log(`\ntests by package: ${packages.join(', ') || 'none'}`);
if (nx.status !== 0 && failed === 0) failed = 1; // typecheck or lint failed, or a package crashed before reporting
if (!formatted) failed += 1; // formatting counts as one failure of its own
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(nx.status === 0 && formatted && failed === 0 && passed > 0 ? 0 : 1);
