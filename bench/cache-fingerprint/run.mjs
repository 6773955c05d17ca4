/**
 * The cost of a content-addressed cache key for an AwA2-sized image folder: `fingerprintFiles` (path, size,
 * mtime of 37,322 files, the images a run stats before its seen network's key is known) against a Python peer
 * doing the same (os.stat + hashlib). Prints JSON: median of 5 runs each, warm page cache.
 *
 *   node bench/cache-fingerprint/run.mjs [--files 37322]
 *
 * The files (1 byte each, 50 class folders) are written once under .cache/bench/cache-fingerprint/.
 * Uses the built package (packages/core/dist): run `npm run build` first.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { fingerprintFiles } = await import(path.join(repo, 'packages/core/dist/fingerprint.js'));
const i = process.argv.indexOf('--files');
const n = i > 0 ? Number(process.argv[i + 1]) : 37322;
const root = path.join(repo, '.cache/bench/cache-fingerprint', `files-${n}`);
const files = [];
for (let k = 0; k < n; k++) files.push(path.join(root, `class${k % 50}`, `${k}.jpg`));
if (!existsSync(path.join(root, '.complete'))) {
  for (let c = 0; c < 50; c++) mkdirSync(path.join(root, `class${c}`), { recursive: true });
  for (const f of files) writeFileSync(f, 'x');
  writeFileSync(path.join(root, '.complete'), '');
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const ours = [];
for (let r = 0; r < 5; r++) {
  const t0 = performance.now();
  await fingerprintFiles(files, { base: root });
  ours.push(performance.now() - t0);
}

const py = `
import hashlib, os, sys, time
root, n = sys.argv[1], int(sys.argv[2])
files = [os.path.join(root, f"class{k % 50}", f"{k}.jpg") for k in range(n)]
times = []
for _ in range(5):
    t0 = time.perf_counter()
    h = hashlib.sha256()
    for f in files:
        st = os.stat(f)
        h.update(f"{os.path.relpath(f, root)}\\t{st.st_size}\\t{st.st_mtime * 1000}\\n".encode())
    h.hexdigest()
    times.append((time.perf_counter() - t0) * 1000)
print(sorted(times)[2])
`;
const peer = spawnSync('python3', ['-c', py, root, String(n)], { encoding: 'utf8' });
const peerMs = peer.status === 0 ? Number(peer.stdout.trim()) : undefined;
console.log(
  JSON.stringify({
    files: n,
    fingerprintFilesMs: Math.round(median(ours)),
    pythonOsStatMs: peerMs === undefined ? null : Math.round(peerMs),
    ratio: peerMs === undefined ? null : Number((median(ours) / peerMs).toFixed(2)),
  }),
);
