/**
 * Third-party plugins in a folder outside the repo, with no node_modules of their own: the examples run end
 * to end through the built CLI, `plugins ls --plugin` lists them, and what they import is the runner's own.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO, tempDir } from './helpers.js';

const MAIN = path.join(REPO, 'apps/runner/dist/main.js');

function node(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A copy of examples/plugins/ in a fresh temporary folder, checked to resolve none of the shared packages itself. */
async function copiedExamples(): Promise<string> {
  const dir = tempDir('outside');
  cpSync(path.join(REPO, 'examples/plugins'), dir, { recursive: true });
  for (let d = dir; d !== path.dirname(d); d = path.dirname(d)) {
    expect(existsSync(path.join(d, 'node_modules'))).toBe(false);
  }
  const own = await node(['--input-type=module', '-e', "await import('inversify')"], dir);
  expect(own.code).not.toBe(0);
  expect(own.stderr).toContain("Cannot find package 'inversify'");
  return dir;
}

describe('plugins in a folder outside the repo', () => {
  it('the example dataset and backbone run end to end through the built CLI', async () => {
    const dir = await copiedExamples();
    writeFileSync(
      path.join(dir, 'outside.yaml'),
      `experiment: outside
seed: 2
plugins: [./bars-dataset.js, ./tiny-net-backbone.js]
dataset: { name: bars, imagesPerClass: 24 }
backbone: { name: tiny-net, train: { epochs: 6 } }
methods: [{ name: niwt, map: { epochs: 200 } }, { name: ale }]
`,
    );
    const r = await node([MAIN, 'run', 'outside.yaml', '--json'], dir);
    // TensorFlow's own startup lines (the native backend, when installed) are not the run's
    const tfStartup = (l: string): boolean =>
      l.startsWith('WARNING: All log messages before absl') || /^I0000 /.test(l);
    expect(r.stderr.split('\n').filter((l) => /error|warn/i.test(l) && !tfStartup(l))).toEqual([]);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as {
      dataset: Record<string, number>;
      chanceZsl: number;
      seenNetwork: { testSeenAccuracy: number; epochs: number };
      methods: { label: string; s: number; u: number; H: number; zslT1: number }[];
    };
    const counts = { classes: 27, seen: 24, unseen: 3, trainval: 432, testSeen: 144, testUnseen: 72 };
    expect(result.dataset).toMatchObject(counts);
    expect(result.seenNetwork.epochs).toBe(6);
    // 24 seen classes: chance is 1/24; the example backbone learns them
    expect(result.seenNetwork.testSeenAccuracy).toBeGreaterThan(0.4);
    expect(result.methods.map((m) => m.label)).toEqual(['niwt', 'ale']);
    for (const m of result.methods) {
      for (const v of [m.s, m.u, m.H, m.zslT1]) expect(Number.isFinite(v)).toBe(true);
      // 3 unseen classes: chance is 1/3; both methods transfer the bars' attributes well above it
      expect(m.zslT1).toBeGreaterThan(2 * result.chanceZsl);
    }
    expect(readdirSync(path.join(dir, 'mlruns')).length).toBeGreaterThan(0);
  }, 600_000);

  it('niwt plugins ls --plugin lists the copied modules beside the built-ins', async () => {
    const dir = await copiedExamples();
    const bars = path.join(dir, 'bars-dataset.js');
    const both = ['--plugin', bars, '--plugin', './tiny-net-backbone.js'];
    const r = await node([MAIN, 'plugins', 'ls', ...both, '--json'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const specs = JSON.parse(r.stdout) as { group: string; name: string; module: string }[];
    const at = (key: string) => specs.find((s) => `${s.group}:${s.name}` === key)?.module;
    expect(at('dataset:bars')).toBe(bars);
    expect(at('backbone:tiny-net')).toBe('./tiny-net-backbone.js');
    expect(at('backbone:small-cnn')).toBe('built-in');
    expect(at('dataset:shapes')).toBe('built-in');

    const text = await node([MAIN, 'plugins', 'ls', '--plugin', './tiny-net-backbone.js'], dir);
    const description = 'Example third-party backbone: a two-block CNN trained on the seen classes (plugin kit)';
    expect(text.stdout).toContain(`${'backbone:tiny-net'.padEnd(24)} ${description} (from ./tiny-net-backbone.js)\n`);
    expect(text.stdout).toContain('    tap: "conv1" | "pool1" | "conv2" | "pool2" = "conv2"');

    const missing = await node([MAIN, 'plugins', 'ls', '--plugin', './nope.js'], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /^niwt: --plugin \.\/nope\.js: cannot load plugin module '\.\/nope\.js' \(Cannot find module '.*nope\.js'/,
    );
  }, 120_000);

  it("a plugin with its own copies still gets the runner's instances", async () => {
    const dir = tempDir('instances');
    // decoys where the plugin's own resolution finds them first: a second inversify and a second @niwt/core
    for (const pkg of ['inversify', '@niwt/core']) {
      mkdirSync(path.join(dir, 'node_modules', pkg), { recursive: true });
      const manifest = { name: pkg, type: 'module', exports: './index.js' };
      writeFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), JSON.stringify(manifest));
      writeFileSync(path.join(dir, 'node_modules', pkg, 'index.js'), 'export const decoy = true;\n');
    }
    writeFileSync(
      path.join(dir, 'probe.js'),
      `import * as inversify from 'inversify';
import * as zod from 'zod';
import * as tf from '@tensorflow/tfjs';
import * as core from '@niwt/core';
import * as backbones from '@niwt/backbones';
export const mods = { inversify, zod, tf, core, backbones };
class Probe { constructor(opts) { this.opts = opts; } async load() { return this.opts.n; } }
export const module = core.pluginModule({ group: 'dataset', name: 'probe', description: 'probe',
  schema: zod.z.strictObject({ n: zod.z.number() }), impl: core.injectParams(Probe, core.TOKENS.options) });
`,
    );
    // evaluated in apps/runner, so its own imports resolve as the runner's do
    const check = `
      const { shareInstancesWithPlugins } = await import('./dist/shared-instances.js');
      const runner = { inversify: await import('inversify'), zod: await import('zod'),
        tf: await import('@tensorflow/tfjs'), core: await import('@niwt/core'),
        backbones: await import('@niwt/backbones') };
      shareInstancesWithPlugins();
      const { mods, module } = await import(${JSON.stringify(pathToFileURL(path.join(dir, 'probe.js')).href)});
      const same = Object.fromEntries(Object.keys(runner).map((k) => [k, mods[k] === runner[k]]));
      await runner.tf.setBackend('cpu');
      const c = new runner.inversify.Container();
      await c.load(module);
      const reg = new runner.core.PluginRegistry(c);
      const spec = reg.find('dataset', 'probe', [], { locate: () => '' });
      const options = reg.validate(spec, { name: 'probe', n: 7 }, [], { locate: () => '' });
      const created = await reg.create(spec, options).load();
      console.log(JSON.stringify({ same, containerModule: module instanceof runner.inversify.ContainerModule,
        backend: mods.tf.getBackend(), created, decoy: 'decoy' in mods.inversify }));`;
    const r = await node(['--input-type=module', '-e', check], path.join(REPO, 'apps/runner'));
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      same: { inversify: true, zod: true, tf: true, core: true, backbones: true },
      containerModule: true,
      backend: 'cpu',
      created: 7,
      decoy: false,
    });
  }, 120_000);
});
