/**
 * The config hash identifies the experiment and nothing else (issue 13, point 5): the same experiment has the
 * same hash whatever the store, cache, spool or timeouts, and `config show` prints credentials as `***`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.js';

const text = `experiment: hashes
seed: 3
dataset: { name: shapes }
backbone: { name: small-cnn }
methods:
  - { name: niwt }
`;

describe('niwt config show', () => {
  const dir = tempDir('hash');
  writeFileSync(path.join(dir, 'exp.yaml'), text);
  const show = async (...sets: string[]): Promise<{ hash: string; stdout: string }> => {
    const r = await runCli(['config', 'show', 'exp.yaml', '--json', ...sets.flatMap((s) => ['--set', s])], dir);
    expect([r.code, r.stderr]).toEqual([0, '']);
    return { hash: (JSON.parse(r.stdout) as { hash: string }).hash, stdout: r.stdout };
  };

  it(
    'gives the same hash in every store, cache and spool; a different one when a result-changing value ' + 'differs',
    async () => {
      const base = (await show()).hash;
      expect(base).toMatch(/^[0-9a-f]{16}$/);
      for (const sets of [
        [
          'tracking.uri=http://niwt:pw-Hx81@127.0.0.1:5701',
          'tracking.spoolDir=elsewhere',
          'tracking.timeoutMs=100',
          'tracking.retryBudgetMs=5',
        ],
        ['tracking.uri=file:/tmp/other-mlruns'],
        ['cacheDir=/tmp/other-cache'],
        ['experiment=renamed'],
        ['backbone.name=vgg16', 'backbone.workers=1'],
      ]) {
        const h = (await show(...sets)).hash;
        if (sets[0].startsWith('backbone.name')) expect(h).not.toBe(base);
        else expect([sets, h]).toEqual([sets, base]);
      }
      // options a plugin declares as not changing results (nonResultOptions)
      const vgg = (await show('backbone.name=vgg16')).hash;
      expect((await show('backbone.name=vgg16', 'backbone.workers=4', 'backbone.engine=tfjs')).hash).toBe(vgg);
      expect((await show('backbone.name=vgg16', 'backbone.tap=block4_conv3')).hash).not.toBe(vgg);
      expect((await show('seed=4')).hash).not.toBe(base);
      expect((await show('methods.0.lambda=0.5')).hash).not.toBe(base);
    },
  );

  it('redacts a password in tracking.uri as the saved config does, in YAML and JSON, short passwords too', async () => {
    for (const pw of ['S3cretPw', 'pw']) {
      const uri = `http://niwt:${pw}@127.0.0.1:5701`;
      const yaml = await runCli(['config', 'show', 'exp.yaml', '--set', `tracking.uri=${uri}`], dir);
      expect(yaml.code).toBe(0);
      expect(yaml.stdout).toContain('  uri: http://niwt:***@127.0.0.1:5701\n');
      expect(yaml.stdout).not.toContain(`niwt:${pw}`);
      const json = await show(`tracking.uri=${uri}`);
      expect(json.stdout).toContain('"uri": "http://niwt:***@127.0.0.1:5701"');
      expect(json.stdout).not.toContain(`niwt:${pw}`);
    }
  });
});
