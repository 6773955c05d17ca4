/**
 * `backend: tensorflow` (the native backend of scripts/tfjs-native.sh) end to end on a small version of the
 * comparison config (NIWT, ALE, DEM on synthetic shapes): with the seen network trained on WASM and reused
 * from the cache, every method's metrics are WASM's within 1e-3; with its own network trained natively, it
 * still classifies unseen classes at ≥ 2× chance. Fails, never skips, when the native backend cannot be built or
 * loaded.
 */
import { execFileSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '@niwt/core';
import { composeExperiment } from '../compose.js';
import { runExperiment, type RunResult } from '../pipeline.js';
import { REPO, tempDir } from './helpers.js';

const CONFIG = `experiment: native-backend-test
seed: 5
dataset: { name: shapes, imagesPerClass: 30, seenClasses: 12, unseenClasses: 6 }
backbone: { name: small-cnn, train: { epochs: 10 } }
methods:
  - { name: niwt }
  - { name: ale }
  - { name: dem }
`;

async function run(dir: string, backend: string): Promise<RunResult> {
  const exp = await composeExperiment('test.yaml', {
    inlineText: CONFIG,
    cwd: dir,
    overrides: [
      `backend=${backend}`,
      `cacheDir=${path.join(dir, 'cache')}`,
      `tracking.uri=file:${path.join(dir, 'mlruns')}`,
    ],
    logger: silentLogger,
  });
  return runExperiment(exp, silentLogger);
}

const metrics = (r: RunResult) =>
  Object.fromEntries(r.methods.map((m) => [m.label, { s: m.s, u: m.u, H: m.H, zslT1: m.zslT1 }]));

beforeAll(() => {
  const script = path.join(REPO, 'scripts/tfjs-native.sh');
  execFileSync(script, [], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 900_000 });
}, 900_000);

describe('niwt run with backend: tensorflow', () => {
  let wasm: RunResult;

  it('with the seen network WASM trained (from the cache), NIWT, ALE and DEM match WASM within 1e-3', async () => {
    const a = tempDir('native-wasm');
    wasm = await run(a, 'wasm');
    expect(wasm.backend).toBe('wasm');
    const b = tempDir('native-tf');
    // Only the seen network is shared: extraction, importances, stage D and the baselines run again natively.
    cpSync(path.join(a, 'cache', 'seen-network'), path.join(b, 'cache', 'seen-network'), { recursive: true });
    const native = await run(b, 'tensorflow');
    expect(native.backend).toBe('tensorflow');
    expect(native.seenNetwork.cached).toBe(true);
    const [mw, mn] = [metrics(wasm), metrics(native)];
    console.log(`same network: wasm ${JSON.stringify(mw)}; tensorflow ${JSON.stringify(mn)}`);
    expect(Object.keys(mn).sort()).toEqual(['ale', 'dem', 'niwt']);
    for (const [label, m] of Object.entries(mw)) {
      for (const k of ['s', 'u', 'H', 'zslT1'] as const) {
        expect(Math.abs(mn[label]![k] - m[k]), `${label} ${k}`).toBeLessThanOrEqual(1e-3);
      }
    }
  }, 900_000);

  it('trains its own seen network natively; NIWT classifies unseen classes at ≥ 2× chance', async () => {
    const native = await run(tempDir('native-own'), 'tensorflow');
    expect(native.seenNetwork.cached).toBe(false);
    console.log(`own network: wasm ${JSON.stringify(metrics(wasm))}; tensorflow ${JSON.stringify(metrics(native))}`);
    const niwt = native.methods.find((m) => m.label === 'niwt')!;
    // Two backends' training trajectories differ, so only the ZSL bar holds (H of this small config is ~0.1
    // on WASM's own network too).
    expect(niwt.zslT1).toBeGreaterThanOrEqual(2 * native.chanceZsl);
  }, 900_000);
});
