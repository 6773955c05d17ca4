/**
 * The reader streams: a generated 200k × 300 binary file (≈ 242 MB) is scanned for 50 words while the
 * process's resident memory grows by a small fraction of the file. Throughput is printed, not asserted.
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readWord2Vec, writeWord2Vec, type Word2VecEntry } from '../index.js';
import { tempDir } from './fixtures.js';

const VOCAB = 200_000;
const DIM = 300;
const word = (i: number): string => `w${i.toString(36)}_${i % 7 === 0 ? 'X' : 'y'}`;
/** Cheap deterministic values, exact in float32. */
const value = (i: number, d: number): number => ((i * 31 + d * 17) % 1024) / 64 - 8;

function* generate(): Generator<Word2VecEntry> {
  const v = new Float32Array(DIM);
  for (let i = 0; i < VOCAB; i++) {
    for (let d = 0; d < DIM; d++) v[d] = value(i, d);
    yield [word(i), v];
  }
}

describe('streaming word2vec reader', () => {
  const dir = tempDir('w2v-big');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps memory bounded on a 242 MB binary file', async () => {
    const file = path.join(dir, 'big.bin');
    await writeWord2Vec(file, { vocab: VOCAB, dim: DIM }, generate(), { format: 'binary' });
    const size = statSync(file).size;
    expect(size).toBeGreaterThan(240e6);
    // 50 words spread over the file, the last one included, so the whole file is scanned
    const wanted = Array.from({ length: 50 }, (_, k) => word(Math.round((k * (VOCAB - 1)) / 49)));
    const base = process.memoryUsage().rss;
    let peak = base;
    const r = await readWord2Vec(file, wanted, {
      onProgress: () => {
        peak = Math.max(peak, process.memoryUsage().rss);
      },
    });
    const growthMB = (peak - base) / 2 ** 20;
    const mbs = size / 2 ** 20 / r.seconds;
    console.log(
      `word2vec stream: ${(size / 2 ** 20).toFixed(0)} MiB in ${r.seconds.toFixed(2)} s = ${mbs.toFixed(0)} ` +
        `MiB/s, peak RSS growth ${growthMB.toFixed(1)} MiB, ${r.vectors.size} words kept`,
    );
    expect(r.vectors.size).toBe(50);
    expect(r.wordsScanned).toBe(VOCAB);
    expect(r.bytesRead).toBe(size);
    const last = r.vectors.get(word(VOCAB - 1))!;
    expect(Array.from(last.subarray(0, 3))).toEqual([0, 1, 2].map((d) => value(VOCAB - 1, d)));
    expect(growthMB).toBeLessThan(64); // the file is 231 MiB
  }, 120_000);
});
