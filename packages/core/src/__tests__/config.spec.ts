import { describe, expect, it } from 'vitest';
import { ConfigError, parseOverride, readConfigSource, validateTopConfig } from '../index.js';

const base = `experiment: t
seed: 1
dataset:
  name: shapes
backbone:
  name: small-cnn
methods:
  - name: niwt
`;

function topError(text: string, overrides: string[] = []): string {
  try {
    validateTopConfig(readConfigSource('exp.yaml', overrides, text));
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('config: top level', () => {
  it('fills defaults', () => {
    const top = validateTopConfig(readConfigSource('exp.yaml', [], base));
    expect(top.knowledge).toEqual({ name: 'attributes' });
    expect(top.tracking).toEqual({ name: 'mlflow' });
    expect(top.plugins).toEqual([]);
    expect(top.backend).toBe('auto');
  });

  it.each([
    [
      'a misspelled top-level key',
      base.replace('seed: 1', 'sed: 1'),
      [],
      'exp.yaml:2 sed: unknown key (known: experiment, seed, plugins, backend, cacheDir, dataset, knowledge, ' +
        "backbone, methods, tracking, sweep, explain, calibration; did you mean 'seed'?)",
    ],
    [
      'a wrong type',
      base.replace('seed: 1', 'seed: one'),
      [],
      'exp.yaml:2 seed: expected number, received string (found "one")',
    ],
    [
      'a negative seed',
      base.replace('seed: 1', 'seed: -3'),
      [],
      'exp.yaml:2 seed: Too small: expected number to be >=0 (found -3)',
    ],
    [
      'no methods',
      base.replace(/methods:\n {2}- name: niwt\n/, 'methods: []\n'),
      [],
      'exp.yaml:7 methods: Too small: expected array to have >=1 items (found [])',
    ],
    [
      'a missing block',
      base.replace('dataset:\n  name: shapes\n', ''),
      [],
      'exp.yaml:1 dataset: expected object, received undefined (found missing)',
    ],
    ['a bad --set value', base, ['seed=abc'], '--set seed=abc: seed: expected number, received string (found "abc")'],
  ])('%s', (_what, text, overrides, message) => {
    expect(topError(text, overrides)).toBe(message);
  });

  it('reports YAML syntax errors with the line', () => {
    expect(topError('experiment: t\nseed: [1,\n')).toMatch(/^exp\.yaml:\d+: YAML syntax error: /);
  });

  it('reports duplicate keys', () => {
    expect(topError('seed: 1\nseed: 2\n')).toMatch(/^exp\.yaml:\d+: YAML syntax error: Map keys must be unique/);
  });

  it('names an unreadable file', () => {
    expect(() => readConfigSource('/nonexistent/x.yaml')).toThrow(
      '/nonexistent/x.yaml: cannot read config (no such file)',
    );
  });
});

describe('--set overrides', () => {
  it('parses YAML values and list indices', () => {
    expect(parseOverride('methods.0.lambda=1e-4')).toEqual({ path: ['methods', 0, 'lambda'], value: 1e-4 });
    expect(parseOverride('dataset.name=folder')).toEqual({ path: ['dataset', 'name'], value: 'folder' });
    expect(parseOverride('backbone.widths=[8, 16, 32]')).toEqual({ path: ['backbone', 'widths'], value: [8, 16, 32] });
  });

  it('applies into the raw config', () => {
    const src = readConfigSource('exp.yaml', ['methods.0.lambda=0.01', 'seed=5'], base);
    const raw = src.raw as { seed: number; methods: { lambda: number }[] };
    expect(raw.seed).toBe(5);
    expect(raw.methods[0].lambda).toBe(0.01);
  });

  it.each([
    ['seed', '--set seed: expected path=value, e.g. --set methods.0.lambda=1e-4'],
    ['methods.3.lambda=1', '--set methods.3.lambda=1: methods.3 is past the end of a list of 1'],
    ['seed.x=1', '--set seed.x=1: seed is 1, not a map or list'],
    ['methods.x=1', '--set methods.x=1: methods is a list; index it with a number'],
  ])('rejects %s', (o, message) => {
    expect(() => readConfigSource('exp.yaml', [o], base)).toThrow(message);
  });
});

describe('config composition (defaults:)', () => {
  it(
    'merges included files in order, the including file winning; errors point into the file that set the ' + 'key',
    async () => {
      const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs');
      const os = await import('node:os');
      const path = await import('node:path');
      const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
      mkdirSync(path.join(dir, 'base'));
      writeFileSync(path.join(dir, 'base', 'data.yaml'), 'dataset:\n  name: shapes\n  imagesPerClass: 40\nseed: 3\n');
      writeFileSync(
        path.join(dir, 'base', 'model.yaml'),
        'backbone:\n  name: small-cnn\n  tapp: conv3\nmethods:\n  - name: niwt\n',
      );
      writeFileSync(
        path.join(dir, 'exp.yaml'),
        'defaults: [base/data.yaml, base/model.yaml]\nexperiment: composed\nseed: 9\ndataset:\n  seenClasses: 10\n',
      );
      const src = readConfigSource(path.join(dir, 'exp.yaml'));
      const raw = src.raw as Record<string, Record<string, unknown>>;
      expect(raw.seed).toBe(9);
      expect(raw.dataset).toEqual({ name: 'shapes', imagesPerClass: 40, seenClasses: 10 });
      expect(src.includes.map((f) => path.basename(f))).toEqual(['data.yaml', 'model.yaml']);
      expect(src.locate(['backbone', 'tapp'])).toBe(`${path.join(dir, 'base', 'model.yaml')}:3`);
      expect(src.locate(['seed'])).toBe(`${path.join(dir, 'exp.yaml')}:3`);
    },
  );

  it('refuses include cycles and missing includes, naming the files', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    writeFileSync(path.join(dir, 'a.yaml'), 'defaults: [b.yaml]\n');
    writeFileSync(path.join(dir, 'b.yaml'), 'defaults: [a.yaml]\n');
    expect(() => readConfigSource(path.join(dir, 'a.yaml'))).toThrow(
      /b\.yaml:1 defaults: 'a\.yaml' includes itself \(a\.yaml → b\.yaml → a\.yaml\)/,
    );
    writeFileSync(path.join(dir, 'c.yaml'), 'defaults: [missing.yaml]\n');
    expect(() => readConfigSource(path.join(dir, 'c.yaml'))).toThrow(
      `${path.join(dir, 'c.yaml')} defaults: ${path.join(dir, 'missing.yaml')}: cannot read config (no such file)`,
    );
  });
});
