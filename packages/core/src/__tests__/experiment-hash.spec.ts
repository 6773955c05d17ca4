import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, experimentHash, experimentHashInput, hashOf, stripUserInfo, withoutSecrets } from '../index.js';

const resolved = {
  experiment: 'e',
  seed: 7,
  backend: 'wasm',
  cacheDir: '.niwt/cache',
  plugins: [],
  dataset: { name: 'shapes', imagesPerClass: 12 },
  knowledge: { name: 'attributes', normalize: 'none' },
  backbone: { name: 'vgg16', tap: 'block5_conv3', workers: 1, engine: 'auto' },
  methods: [{ name: 'niwt', lambda: 1e-3, label: 'niwt' }],
  tracking: { name: 'mlflow', uri: 'http://u:S3cretPw@127.0.0.1:5000', timeoutMs: 100, spoolDir: 'sp' },
  explain: { enabled: true, topK: 5, classImages: 16 },
};
const opts = { nonResult: ['backbone.workers', 'backbone.engine'] };
const h = (over: (c: typeof resolved) => void): string => {
  const c = structuredClone(resolved);
  over(c);
  return experimentHash(c, opts);
};

describe('experiment hash', () => {
  const base = experimentHash(resolved, opts);

  it('is the sha256 (16 hex) of exactly the result-changing part, computed by hand', () => {
    const input = {
      seed: 7,
      backend: 'wasm',
      dataset: resolved.dataset,
      knowledge: resolved.knowledge,
      backbone: { name: 'vgg16', tap: 'block5_conv3' },
      methods: resolved.methods,
      explain: resolved.explain,
    };
    expect(experimentHashInput(resolved, opts)).toEqual(input);
    expect(base).toBe(createHash('sha256').update(canonicalJson(input)).digest('hex').slice(0, 16));
  });

  it('ignores where runs are stored, grouped and cached, and options that do not change results', () => {
    for (const change of [
      (c: typeof resolved) => void (c.tracking = { name: 'mlflow', uri: 'file:./mlruns', timeoutMs: 5, spoolDir: 'x' }),
      (c: typeof resolved) => void (c.tracking.uri = 'http://u:another@127.0.0.1:5000'),
      (c: typeof resolved) => void (c.cacheDir = '/elsewhere'),
      (c: typeof resolved) => void (c.experiment = 'other'),
      (c: typeof resolved) => void (c.backbone.workers = 4),
      (c: typeof resolved) => void (c.backbone.engine = 'onnx'),
    ]) {
      expect(h(change)).toBe(base);
    }
  });

  it('changes with everything that changes results', () => {
    const changed = [
      h((c) => void (c.seed = 8)),
      h((c) => void (c.backend = 'cpu')),
      h((c) => void (c.dataset.imagesPerClass = 13)),
      h((c) => void (c.backbone.tap = 'block4_conv3')),
      h((c) => void (c.methods[0].lambda = 1e-4)),
      h((c) => void (c.knowledge.normalize = 'l2')),
    ];
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1);
  });

  it('drops credentials anywhere: secret-named keys, URI user info, declared secret paths', () => {
    const withSecrets = {
      a: { dbPassword: 'x1', auth_token: 'x2', apiKey: 'x3', keep: 'ok' },
      u: ['https://me:pw@host/p'],
      d: { auth: { user: 'x4' } },
    };
    expect(withoutSecrets(withSecrets, ['d.auth'])).toEqual({ a: { keep: 'ok' }, u: ['https://host/p'], d: {} });
    expect(stripUserInfo('see http://a:b@h:1/x and ftp://c@d')).toBe('see http://h:1/x and ftp://d');
    const secretInDataset = (pw: string) =>
      experimentHash({ ...resolved, dataset: { name: 'folder', root: `https://u:${pw}@data/x`, password: pw } }, opts);
    expect(secretInDataset('one')).toBe(secretInDataset('two'));
    // the old hash (everything, secrets included) is what made the password recoverable
    expect(hashOf(resolved)).not.toBe(
      hashOf({ ...resolved, tracking: { ...resolved.tracking, uri: 'http://u:x@127.0.0.1:5000' } }),
    );
  });
});
