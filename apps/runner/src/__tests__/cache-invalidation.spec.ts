/**
 * Content-addressed stage caches: a change to what a stage consumed recomputes that stage and what follows it,
 * and nothing else — asserted from the cache's own hit/miss log (`<cacheDir>/cache-log.jsonl`). Each scenario
 * is one `niwt run` (in process) on a tiny folder dataset or the example third-party plugin.
 */
import { appendFileSync, copyFileSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CacheEvent } from '@niwt/core';
import { generateShapes } from '@niwt/datasets';
import { REPO, runCli, tempDir } from './helpers.js';

const FOLDER_CONFIG = `experiment: cache-keys
seed: 4
dataset: { name: folder, root: data/shapes }
backbone: { name: small-cnn, imageSize: 16, widths: [4, 8, 8], hidden: 16, train: { epochs: 2 } }
methods: [{ name: niwt, map: { epochs: 30 }, maxSteps: 30 }]
explain: { enabled: false }
`;

/** The cache's log lines written since `from` lines, as `stage → outcome` (hit, computed or waited). */
function outcomes(dir: string, from: number): { stages: Record<string, string>; lines: number } {
  const lines = readFileSync(path.join(dir, '.niwt/cache/cache-log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l);
  const stages: Record<string, string> = {};
  for (const e of lines.slice(from).map((l) => JSON.parse(l) as CacheEvent)) {
    if (e.event === 'failed' || e.event === 'stale-lock') throw new Error(`unexpected event ${JSON.stringify(e)}`);
    if (e.event !== 'miss') stages[e.stage] = e.event;
  }
  return { stages, lines: lines.length };
}

interface RunJson {
  seenNetwork: { cached: boolean };
  activationsCached: boolean;
  dataset: { trainval: number; testSeen: number };
  location: string;
}

async function run(dir: string, args: string[] = [], stderr = ''): Promise<RunJson> {
  const r = await runCli(['run', 'c.yaml', '--json', '-q', ...args], dir);
  expect(r.stderr).toBe(stderr);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as RunJson;
}

/** A third-party dataset without `fingerprint()`: the folder loader's dataset with the member removed. */
const PLAIN_PLUGIN = `import { ContainerModule, inject, injectable } from 'inversify';
import { z } from 'zod';
import { TOKENS, registerPlugin } from '@niwt/core';
import { loadFolderDataset } from '@niwt/datasets';
class Plain {
  constructor(opts) { this.opts = opts; }
  async load() {
    const { fingerprint: _f, ...rest } = await loadFolderDataset(this.opts.root);
    return rest;
  }
}
injectable()(Plain);
inject(TOKENS.options)(Plain, undefined, 0);
const schema = z.strictObject({ root: z.string() });
export default new ContainerModule(({ bind }) =>
  registerPlugin(bind, { group: 'dataset', name: 'plain', description: 'no fingerprint', schema, impl: Plain }));
`;

const param = (run: RunJson, name: string): string => readFileSync(path.join(run.location, 'params', name), 'utf8');

describe('what invalidates the stage cache', () => {
  it('folder dataset: a deleted, added or replaced image retrains; a new tap re-extracts only', async () => {
    const dir = tempDir('cache-keys');
    const data = path.join(dir, 'data/shapes');
    await generateShapes({ seed: 3, imageSize: 16, imagesPerClass: 10, seenClasses: 5, unseenClasses: 3 }, data);
    writeFileSync(path.join(dir, 'c.yaml'), FOLDER_CONFIG);
    const all = { 'seen-network': 'computed', activations: 'computed', importances: 'computed' };

    const cold = await run(dir);
    let log = outcomes(dir, 0);
    expect(log.stages).toEqual(all);
    const fp0 = param(cold, 'fingerprint.dataset');
    expect(fp0).toMatch(/^[0-9a-f]{32}$/);
    expect(param(cold, 'code.dataset.folder')).toMatch(/^@niwt\/datasets@\d+\.\d+\.\d+$/);
    expect(param(cold, 'code.backbone.small-cnn')).toMatch(/^@niwt\/backbones@/);
    expect(param(cold, 'fingerprint.knowledge')).toMatch(/^[0-9a-f]{32}$/);
    expect(param(cold, 'fingerprint.weights')).toBe('none');

    const unchanged = await run(dir);
    expect(unchanged.seenNetwork.cached && unchanged.activationsCached).toBe(true);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'hit', activations: 'hit', importances: 'hit' });

    // delete an image of a seen class: the old activations (indices into the old sample list) must not be read
    const images = path.join(data, 'images');
    const cls = readdirSync(images).sort()[0];
    const files = readdirSync(path.join(images, cls)).sort();
    rmSync(path.join(images, cls, files[0]));
    const deleted = await run(dir);
    expect(deleted.dataset.trainval + deleted.dataset.testSeen).toBe(cold.dataset.trainval + cold.dataset.testSeen - 1);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual(all);
    const fp1 = param(deleted, 'fingerprint.dataset');
    expect(fp1).not.toBe(fp0);

    // add an image (a copy under a new name)
    copyFileSync(path.join(images, cls, files[1]), path.join(images, cls, 'zz-added.png'));
    const added = await run(dir);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual(all);
    expect(added.dataset.trainval + added.dataset.testSeen).toBe(cold.dataset.trainval + cold.dataset.testSeen);
    const fp2 = param(added, 'fingerprint.dataset');
    expect(new Set([fp0, fp1, fp2]).size).toBe(3);

    // replace an image's content in place (same name, same count)
    copyFileSync(path.join(images, cls, files[3]), path.join(images, cls, files[2]));
    await run(dir);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual(all);

    // only the tap: the network is reused, activations and importances are recomputed
    await run(dir, ['--set', 'backbone.tap=conv2']);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'hit', activations: 'computed', importances: 'computed' });

    // a method's own option does not touch the network or activations
    await run(dir, ['--set', 'methods.0.maxSteps=20']);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'hit', activations: 'hit', importances: 'hit' });
  }, 300_000);

  it('a third-party plugin: editing its module retrains on its data; an unedited rerun reuses everything', async () => {
    const dir = tempDir('cache-plugin');
    // the plugin resolves @niwt/core, inversify and zod from the repository's node_modules
    symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
    const plugin = path.join(dir, 'bars.js');
    copyFileSync(path.join(REPO, 'examples/plugins/bars-dataset.js'), plugin);
    writeFileSync(
      path.join(dir, 'c.yaml'),
      `experiment: cache-plugin
seed: 2
plugins: [./bars.js]
dataset: { name: bars, imagesPerClass: 6 }
backbone: { name: small-cnn, imageSize: 16, widths: [4, 8, 8], hidden: 16, train: { epochs: 1 } }
methods: [{ name: ale, lrs: [0.1], maxEpochs: 3 }]
explain: { enabled: false }
`,
    );
    const first = await run(dir);
    let log = outcomes(dir, 0);
    expect(log.stages).toEqual({ 'seen-network': 'computed', activations: 'computed' });
    const code0 = param(first, 'code.dataset.bars');
    expect(code0).toMatch(/^sha256:[0-9a-f]{32}$/);

    await run(dir);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'hit', activations: 'hit' });

    appendFileSync(plugin, '\n// an edit: a changed rendering looks the same to the cache without the module hash\n');
    const edited = await run(dir);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'computed', activations: 'computed' });
    expect(param(edited, 'code.dataset.bars')).not.toBe(code0);
    // the plugin's own fingerprint (generator version + options) did not change; the code version did
    expect(param(edited, 'fingerprint.dataset')).toBe(param(first, 'fingerprint.dataset'));
  }, 300_000);

  it('a third-party dataset without fingerprint(): its sample files are stat-ed, and the run says so', async () => {
    const dir = tempDir('cache-plain');
    symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
    writeFileSync(path.join(dir, 'plain.js'), PLAIN_PLUGIN);
    const data = path.join(dir, 'data/shapes');
    await generateShapes({ seed: 3, imageSize: 16, imagesPerClass: 6, seenClasses: 4, unseenClasses: 2 }, data);
    const config = FOLDER_CONFIG.replace('name: folder', 'name: plain');
    writeFileSync(path.join(dir, 'c.yaml'), config.replace('seed: 4', 'seed: 4\nplugins: [./plain.js]'));
    // the folder loader names the dataset after its folder; 6 classes × 6 images
    const warning =
      "warning: dataset 'shapes' has no fingerprint(): the cache key stats its 36 sample files instead " +
      '(see "Adding a dataset plugin" in packages/datasets/README.md)\n';
    const first = await run(dir, [], warning);
    let log = outcomes(dir, 0);
    expect(log.stages).toEqual({ 'seen-network': 'computed', activations: 'computed', importances: 'computed' });
    await run(dir, [], warning);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'hit', activations: 'hit', importances: 'hit' });
    // replace one image's content: same sample count, so only the stat of the file can tell
    const cls = path.join(data, 'images', readdirSync(path.join(data, 'images')).sort()[0]);
    const [a, b] = readdirSync(cls).sort();
    copyFileSync(path.join(cls, b), path.join(cls, a));
    const replaced = await run(dir, [], warning);
    log = outcomes(dir, log.lines);
    expect(log.stages).toEqual({ 'seen-network': 'computed', activations: 'computed', importances: 'computed' });
    expect(param(replaced, 'fingerprint.dataset')).not.toBe(param(first, 'fingerprint.dataset'));
  }, 300_000);
});
