import { statSync } from 'node:fs';
import path from 'node:path';
import { TOKENS, type DatasetAdapter, type PluginSpec, type RunContext } from '@niwt/core';
import { Container } from 'inversify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeValidDataset } from '../test/fixtures.js';
import { hashTree } from '../test/hash-tree.js';
import { datasetsModule, shapesHash, ShapesOptions } from './index.js';

/** Builds a plugin the way a runner would: options and run context bound in a child container. */
function instantiate(container: Container, name: string, rawOptions: unknown, run: RunContext): DatasetAdapter {
  const spec = container.getAll<PluginSpec>(TOKENS.pluginSpec).find((s) => s.group === 'dataset' && s.name === name);
  if (!spec) throw new Error(`no dataset plugin ${name}`);
  const child = new Container({ parent: container });
  child.bind(TOKENS.options).toConstantValue(spec.schema.parse(rawOptions));
  child.bind(TOKENS.runContext).toConstantValue(run);
  child.bind(spec.impl).toSelf();
  return child.get(spec.impl) as DatasetAdapter;
}

describe('datasetsModule', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let run: RunContext;
  const container = new Container();
  beforeAll(async () => {
    tmp = await tempDir('niwt-module-');
    run = {
      seed: 1,
      baseDir: path.join(tmp.dir, 'config'),
      cacheDir: path.join(tmp.dir, 'cache'),
      runDir: path.join(tmp.dir, 'run'),
    };
    container.load(datasetsModule);
  });
  afterAll(() => tmp.cleanup());

  it('registers folder, shapes, xlsa17, awa2 and cub with strict schemas', () => {
    const specs = container.getAll<PluginSpec>(TOKENS.pluginSpec);
    expect(specs.map((s) => `${s.group}:${s.name}`).sort()).toEqual([
      'dataset:awa2',
      'dataset:cub',
      'dataset:folder',
      'dataset:shapes',
      'dataset:xlsa17',
    ]);
    for (const name of ['awa2', 'cub', 'xlsa17']) {
      const spec = specs.find((s) => s.name === name)!;
      expect(spec.schema.safeParse({ root: 'x', xlsa17: 'y', extra: 1 }).success).toBe(false);
      expect(spec.schema.safeParse({}).success).toBe(false);
    }
    expect(specs.find((s) => s.name === 'awa2')!.schema.parse({ root: 'r', xlsa17: 'x' })).toMatchObject({
      split: 'proposed',
      attributes: 'continuous',
      skipBadImages: false,
      resize: 'stretch',
    });
    const folder = specs.find((s) => s.name === 'folder');
    expect(folder?.schema.safeParse({ root: 'x', extra: 1 }).success).toBe(false);
    expect(folder?.schema.safeParse({}).success).toBe(false);
  });

  it('loads a folder dataset relative to the working directory', async () => {
    await writeValidDataset(path.join(run.baseDir, 'data', 'animals'));
    const ds = await instantiate(container, 'folder', { root: 'data/animals' }, run).load();
    expect(ds.root).toBe(path.join(run.baseDir, 'data', 'animals'));
    expect(ds.classes).toHaveLength(5);
  });

  it('generates the default shapes dataset into the cache once, then reuses it', async () => {
    const t0 = performance.now();
    const ds = await instantiate(container, 'shapes', {}, run).load();
    const seconds = (performance.now() - t0) / 1000;
    const root = path.join(run.cacheDir, 'data', `shapes-${shapesHash(ShapesOptions.parse({}))}`);
    expect(ds.name).toBe('shapes');
    expect(ds.root).toBe(root);
    expect(ds.classes).toHaveLength(28);
    expect(ds.samples).toHaveLength(28 * 60);
    expect(ds.split.seen).toHaveLength(20);
    expect(ds.split.unseen).toHaveLength(8);
    expect(ds.split.trainval).toHaveLength(20 * 48);
    expect(ds.split.testSeen).toHaveLength(20 * 12);
    expect(ds.split.testUnseen).toHaveLength(8 * 60);
    const tree = await hashTree(root);
    console.info(
      `shapes default: generated and loaded in ${seconds.toFixed(2)} s, ${tree.files} files, ${tree.bytes} ` +
        `bytes, sha256 ${tree.hash}`,
    );

    // reused, not generated again: no image was rewritten
    const mtime = statSync(ds.samples[0].path).mtimeMs;
    const again = await instantiate(container, 'shapes', {}, run).load();
    expect(again.split).toEqual(ds.split);
    expect(statSync(again.samples[0].path).mtimeMs).toBe(mtime);
    expect((await hashTree(root)).hash).toBe(tree.hash);
  });

  it('honours an explicit shapes root relative to the working directory', async () => {
    const ds = await instantiate(
      container,
      'shapes',
      { root: 'tiny', imagesPerClass: 3, seenClasses: 4, unseenClasses: 2, imageSize: 16 },
      run,
    ).load();
    expect(ds.root).toBe(path.join(run.baseDir, 'tiny'));
    expect(ds.samples).toHaveLength(18);
  });
});
