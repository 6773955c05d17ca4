// Times readMat on a res101-sized file and reports MB/s and peak RSS as JSON (see run.sh).
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { readMat } = await import(path.join(repo, 'packages/datasets/dist/mat/reader.js'));
const file = process.argv[2];
const float32 = !process.argv.includes('--float64');
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 10);
const baseline = process.memoryUsage().rss;
const t0 = performance.now();
const mat = await readMat(file, { float32 });
const seconds = (performance.now() - t0) / 1000;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);
const f = mat.variables.get('features');
const values = f.dims[0] * f.dims[1];
const inflatedMB = (values * 8) / 1e6;
const diskMB = statSync(file).size / 1e6;
const maxRssMB = process.resourceUsage().maxRSS / 1024;
console.log(
  JSON.stringify(
    {
      file,
      dims: f.dims,
      decodedAs: f.data.constructor.name,
      diskMB: +diskMB.toFixed(1),
      inflatedMB: +inflatedMB.toFixed(1),
      outputMB: +(f.data.byteLength / 1e6).toFixed(1),
      seconds: +seconds.toFixed(2),
      MBps: +(inflatedMB / seconds).toFixed(1),
      diskMBps: +(diskMB / seconds).toFixed(1),
      baselineRssMB: +(baseline / 1e6).toFixed(1),
      peakRssMB: +Math.max(peak / 1e6, maxRssMB * 1.048576).toFixed(1),
      node: process.version,
    },
    null,
    2,
  ),
);
