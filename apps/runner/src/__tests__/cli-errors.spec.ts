import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

const good = `experiment: errors
seed: 1
dataset:
  name: shapes
backbone:
  name: small-cnn
  tap: conv3
methods:
  - name: niwt
    lambda: 0.001
tracking:
  uri: file:./mlruns
`;

describe('config errors fail before any work, exit 2, one line, nothing left behind', () => {
  it.each([
    [
      'a misspelled key in a plugin block',
      good.replace('  tap: conv3', '  tapp: conv3'),
      [],
      "exp.yaml:7 backbone.tapp: unknown key (known: tap, imageSize, widths, hidden, train; did you mean 'tap'?)",
    ],
    [
      'a wrong type',
      good.replace('lambda: 0.001', 'lambda: big'),
      [],
      'exp.yaml:10 methods.0.lambda: expected number, received string (found "big")',
    ],
    [
      'an unknown method',
      good.replace('  - name: niwt', '  - name: nwit'),
      [],
      "exp.yaml:9 methods.0.name: 'nwit' is not a method (known: ale, dem, eszsl, niwt, sae; did you mean " +
        "'niwt'?); a third-party method must be listed under plugins:",
    ],
    [
      'an unknown dataset',
      good.replace('name: shapes', 'name: awa3'),
      [],
      "exp.yaml:4 dataset.name: 'awa3' is not a dataset (known: awa2, cub, folder, shapes, xlsa17; did you " +
        "mean 'awa2'?); a third-party dataset must be listed under plugins:",
    ],
    [
      'a bad enum value',
      good.replace('tap: conv3', 'tap: fc9'),
      [],
      new RegExp(
        String.raw`^exp\.yaml:7 backbone\.tap: Invalid option: expected one of ` +
          String.raw`"conv1"\|"pool1"\|"conv2"\|"pool2"\|"conv3"\|"pool3" \(found "fc9"\)$`,
      ),
    ],
    [
      'a bad --set',
      good,
      ['--set', 'methods.0.lr=-1'],
      '--set methods.0.lr=-1: methods.0.lr: Too small: expected number to be >0 (found -1)',
    ],
    [
      'a plugin module that does not exist',
      good.replace('seed: 1', 'seed: 1\nplugins: [./nope.js]'),
      [],
      /^exp\.yaml:3 plugins\.0: cannot load plugin module '\.\/nope\.js' \(Cannot find module/,
    ],
  ])('%s', async (_what, text, extra, message) => {
    const dir = tempDir('cfg');
    writeFileSync(path.join(dir, 'exp.yaml'), text);
    const r = await runCli(['run', 'exp.yaml', ...(extra as string[])], dir);
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const msg = lines[0].replace(/^niwt: /, '');
    if (typeof message === 'string') expect(msg).toBe(message);
    else expect(msg).toMatch(message);
    expect(r.stdout).toBe('');
    // no run folder, no cache: the error came before any work
    expect(readdirSync(dir)).toEqual(['exp.yaml']);
  });

  it('prints the stack only with --verbose', async () => {
    const dir = tempDir('cfg');
    writeFileSync(path.join(dir, 'exp.yaml'), good.replace('seed: 1', 'sed: 1'));
    const r = await runCli(['run', 'exp.yaml', '--verbose'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/at .*config\.ts/);
    expect(existsSync(path.join(dir, 'mlruns'))).toBe(false);
  });

  it('names a missing config file', async () => {
    const dir = tempDir('cfg');
    const r = await runCli(['run', 'missing.yaml'], dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('niwt: missing.yaml: cannot read config (no such file)\n');
  });
});

describe('niwt plugins ls', () => {
  it('lists every built-in plugin', async () => {
    const r = await runCli(['plugins', 'ls', '--json'], tempDir('ls'));
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout) as {
      group: string;
      name: string;
      options: { properties: Record<string, { default?: unknown }> };
    }[];
    const names = list.map((p) => `${p.group}:${p.name}`);
    // each plugin lists its options with their defaults (JSON Schema of the input side)
    const niwt = list.find((p) => p.name === 'niwt')!;
    expect(niwt.options.properties.lambda.default).toBe(0.001);
    expect(niwt.options.properties.batchSize.default).toBe(64);
    expect(names).toEqual(
      expect.arrayContaining([
        'dataset:folder',
        'dataset:shapes',
        'dataset:awa2',
        'dataset:cub',
        'dataset:xlsa17',
        'knowledge:attributes',
        'knowledge:captions',
        'backbone:small-cnn',
        'backbone:vgg16',
        'backbone:resnet50',
        'backbone:resnet101',
        'backbone:features',
        'method:niwt',
        'method:ale',
        'method:dem',
        'tracker:mlflow',
      ]),
    );
  });
});
