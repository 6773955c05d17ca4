import { mkdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { Rng, silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { runExperiment } from '../pipeline.js';
import { runCli, tempDir } from './helpers.js';

const config = (pool: string) => `experiment: pool-test
seed: 4
dataset: { name: shapes, imagesPerClass: 16, seenClasses: 8, unseenClasses: 4 }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 3 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 60, pairsPerClass: 20, pool: ${pool} }]
explain: { enabled: false }
`;

describe('stage D image pool from a folder', () => {
  it('extracts the folder once at the tap, uses it for stage D, and caches it', async () => {
    const dir = tempDir('pool');
    const images = path.join(dir, 'imagenet-like', 'n01');
    mkdirSync(images, { recursive: true });
    const rng = new Rng(3);
    for (let i = 0; i < 12; i++) {
      const px = Buffer.from(Uint8Array.from({ length: 24 * 24 * 3 }, () => Math.floor(rng.next() * 256)));
      await sharp(px, { raw: { width: 24, height: 24, channels: 3 } })
        .png()
        .toFile(path.join(images, `img${i}.png`));
    }
    const run = async () => {
      const exp = await composeExperiment('p.yaml', {
        inlineText: config('{ folder: imagenet-like, limit: 10 }'),
        cwd: dir,
        overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
        logger: silentLogger,
      });
      return runExperiment(exp, silentLogger);
    };
    const r = await run();
    expect(r.methods[0].summary.stageD_pool).toBe('folder imagenet-like (10 images)');
    expect(r.methods[0].summary.stageD_steps).toBeGreaterThan(0);
    const again = await run();
    expect(again.methods[0].zslT1).toBe(r.methods[0].zslT1);
  }, 300_000);

  it('a missing pool folder is a one-line error naming it', async () => {
    const dir = tempDir('pool');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(dir, 'p.yaml'), config('{ folder: nowhere }'));
    const r = await runCli(['run', 'p.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n').pop()).toBe(
      `niwt: ${path.join(dir, 'nowhere')}: cannot read the stage D image pool folder (ENOENT)`,
    );
  }, 300_000);
});
