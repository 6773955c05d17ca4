/**
 * Test helper (plain JavaScript, so a child `node` runs it on the built packages): trains a tiny small CNN on
 * an in-memory dataset with per-epoch checkpoints in a folder, then saves the trained network.
 *
 *   node seen-train-child.mjs <checkpointDir> <outDir> [killAfterCheckpointOfEpoch]
 *
 * Every progress tick is printed to stderr as `tick <detail>`; with the third argument the process
 * SIGKILLs itself the moment that epoch's checkpoint is on disk (an exact epoch-boundary kill).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng, silentLogger } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { SmallCnn, checkpointedDetail, smallCnnOptions } from '@niwt/backbones';

/** Class c: a bright square in quadrant c on noise (learnable, but not in one epoch). */
export function quadrants(perClass) {
  const samples = Array.from({ length: 4 * perClass }, (_, i) => ({ index: i, classIndex: i % 4, path: `mem://${i}` }));
  const idx = samples.map((s) => s.index);
  return {
    name: 'quadrants',
    root: 'mem://',
    classes: [0, 1, 2, 3].map((index) => ({ index, name: `q${index}` })),
    samples,
    split: { seen: [0, 1, 2, 3], unseen: [], trainval: idx, testSeen: [], testUnseen: [] },
    async *readImages(indices, spec, batchSize) {
      for (let s = 0; s < indices.length; s += batchSize) {
        const chunk = indices.slice(s, s + batchSize);
        const px = new Float32Array(chunk.length * spec.height * spec.width * 3);
        chunk.forEach((i, k) => {
          const rng = new Rng(i);
          const c = samples[i].classIndex;
          for (let y = 0; y < spec.height; y++)
            for (let x = 0; x < spec.width; x++) {
              const inQ = (y < spec.height / 2 ? 0 : 2) + (x < spec.width / 2 ? 0 : 1) === c;
              const at = ((k * spec.height + y) * spec.width + x) * 3;
              for (let ch = 0; ch < 3; ch++) px[at + ch] = (inQ ? 120 : 60) + 60 * rng.normal();
            }
        });
        yield { indices: chunk, pixels: px, spec };
      }
    },
  };
}

export const EPOCHS = 8;

/** Trains and saves to `outDir`; `onTick(detail)` sees every progress tick. Returns the report. */
export async function trainTiny(checkpointDir, outDir, onTick = () => undefined) {
  await initBackend('wasm');
  const progress = () => ({ tick: (_n, detail) => onTick(detail ?? ''), done: () => undefined });
  const log = { ...silentLogger, progress };
  const train = { epochs: EPOCHS, batchSize: 8, lr: 3e-3, patience: 3, dropout: 0.3 };
  const opts = smallCnnOptions.parse({ imageSize: 16, widths: [4, 6, 8], hidden: 12, train });
  const net = new SmallCnn(opts, { seed: 5, baseDir: '.', cacheDir: '.', runDir: '.' }, log);
  const data = quadrants(20);
  const ids = data.split.trainval;
  const split = { trainIndices: ids.slice(0, 64), valIndices: ids.slice(64) };
  const report = await net.trainSeen({ dataset: data, seenClasses: [0, 1, 2, 3], ...split, checkpointDir });
  await net.save(outDir);
  await fs.writeFile(path.join(outDir, 'report.json'), JSON.stringify({ ...report, seconds: 0 }));
  net.dispose();
  return report;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [checkpointDir, outDir, killAt] = process.argv.slice(2);
  await trainTiny(checkpointDir, outDir, (detail) => {
    process.stderr.write(`tick ${detail}\n`);
    if (killAt !== undefined && detail === checkpointedDetail(Number(killAt))) process.kill(process.pid, 'SIGKILL');
  });
}
