/**
 * Full `niwt run`s over tiny datasets in the exact xlsa17, AWA2 and CUB layouts. MAT files are
 * written by an independent writer (SciPy's savemat, venv from scripts/scipy-venv.sh, cached).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { silentLogger } from '@niwt/core';
import { writeAwa2Fixture, writeCubFixture, type MatVarSpec, type RawFixture } from '@niwt/datasets';
import { composeExperiment } from '../compose.js';
import { runExperiment, type RunResult } from '../pipeline.js';
import { REPO, tempDir } from './helpers.js';

let python: string | undefined;
/** scipy.io.savemat through scripts/scipy-mat.py. */
function scipyWriteMat(file: string, vars: Readonly<Record<string, MatVarSpec>>, compress: boolean): void {
  python ??= execFileSync(path.join(REPO, 'scripts/scipy-venv.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop()!;
  execFileSync(
    python,
    [path.join(REPO, 'scripts/scipy-mat.py'), 'write', file, ...(compress ? [] : ['--no-compress'])],
    { input: JSON.stringify(vars), stdio: ['pipe', 'inherit', 'inherit'] },
  );
}

async function run(dir: string, config: string): Promise<RunResult> {
  const exp = await composeExperiment('test.yaml', {
    inlineText: config,
    cwd: dir,
    overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
    logger: silentLogger,
  });
  return runExperiment(exp, silentLogger);
}

const expectSane = (r: RunResult, counts: RawFixture['xlsa17']['counts']): void => {
  expect(r.dataset).toMatchObject({
    trainval: counts.trainval,
    testSeen: counts.testSeen,
    testUnseen: counts.testUnseen,
  });
  const m = r.methods[0];
  for (const v of [m.s, m.u, m.H, m.zslT1]) expect(v).toBeGreaterThanOrEqual(0);
  expect(Number.isFinite(m.H)).toBe(true);
};

describe('niwt run over AWA2, CUB and xlsa17 layouts', () => {
  let dir: string;
  let awa2: RawFixture;
  let cub: RawFixture;
  beforeAll(async () => {
    dir = tempDir('datasets-run');
    awa2 = await writeAwa2Fixture(path.join(dir, 'awa2'), scipyWriteMat, { compress: true });
    cub = await writeCubFixture(path.join(dir, 'cub'), scipyWriteMat, { compress: false });
  });

  it('xlsa17 alone: features backbone (MLP head on res101 features), NIWT', async () => {
    const r = await run(
      dir,
      `experiment: xlsa17-test
seed: 3
explain: { enabled: false }  # Grad-CAM overlays need images; xlsa17 has none
dataset: { name: xlsa17, root: ${awa2.xlsa17.dir} }
knowledge: { name: attributes }
backbone: { name: features, hidden: [32], train: { epochs: 5, batchSize: 16 } }
methods:
  - { name: niwt }
`,
    );
    expectSane(r, awa2.xlsa17.counts);
    expect(r.dataset.classes).toBe(8);
  }, 240_000);

  it('awa2 raw images with the xlsa17 split: small-cnn (imageSize 16, 2 epochs), NIWT', async () => {
    const r = await run(
      dir,
      `experiment: awa2-test
seed: 3
dataset: { name: awa2, root: ${awa2.root}, xlsa17: ${awa2.xlsa17.dir} }
knowledge: { name: attributes }
backbone: { name: small-cnn, imageSize: 16, widths: [4, 8, 8], hidden: 16, train: { epochs: 2 } }
methods:
  - { name: niwt }
`,
    );
    expectSane(r, awa2.xlsa17.counts);
  }, 240_000);

  it('cub raw images with the xlsa17 split (uncompressed MAT files): small-cnn, NIWT', async () => {
    const r = await run(
      dir,
      `experiment: cub-test
seed: 3
dataset: { name: cub, root: ${cub.root}, xlsa17: ${cub.xlsa17.dir}, resize: crop }
knowledge: { name: attributes }
backbone: { name: small-cnn, imageSize: 16, widths: [4, 8, 8], hidden: 16, train: { epochs: 2 } }
methods:
  - { name: niwt }
`,
    );
    expectSane(r, cub.xlsa17.counts);
  }, 240_000);
});
