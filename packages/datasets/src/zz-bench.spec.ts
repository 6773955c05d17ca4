import { test } from 'vitest';
import { generateShapes, loadFolderDataset, chooseClasses, valueSupport, SHAPE_ATTRIBUTE_NAMES } from './index.js';
import { execSync } from 'node:child_process';
test('bench', async () => {
  const ch = chooseClasses(7, 20, 8);
  console.log(ch.seen.map(c=>c.name).join('\n'), '\n--\n', ch.unseen.map(c=>c.name).join('\n'));
  console.log(SHAPE_ATTRIBUTE_NAMES.map((n, i) => `${n}=${valueSupport(ch.seen)[i]}/${valueSupport(ch.unseen)[i]}`).join(' '));
  const dir = '/tmp/dsbench/shapes-' + Date.now();
  const r = await generateShapes({}, dir);
  console.log('seconds', r.seconds, execSync(`du -sh ${dir}; du -sb ${dir}; find ${dir} -type f | wc -l`).toString());
  const t0 = performance.now();
  const ds = await loadFolderDataset(dir);
  console.log('load', (performance.now() - t0) / 1000, ds.samples.length, ds.split.trainval.length, ds.split.testSeen.length, ds.split.testUnseen.length);
  const t1 = performance.now();
  let n = 0;
  for await (const b of ds.readImages(ds.samples.map((s) => s.index), { height: 32, width: 32, channels: 3 }, 64)) n += b.indices.length;
  console.log('read all', (performance.now() - t1) / 1000, n);
}, 120000);
