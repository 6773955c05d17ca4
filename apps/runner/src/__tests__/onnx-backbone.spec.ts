/**
 * The `onnx` backbone through the CLI: `niwt weights inspect model.onnx`; a wrong tap and an unsupported
 * head op are exit 2 with one line before any run opens; and the whole path "train in PyTorch → export →
 * NIWT, ALE and DEM here" on the synthetic shapes, beating chance by the margin the small-CNN demo test
 * asserts (ZSL T1 ≥ 2× chance, H > 0.1).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger, writeNpy, type DatasetAdapter } from '@niwt/core';
import { OnnxGraph } from '@niwt/compute';
import { composeExperiment } from '../compose.js';
import { runExperiment } from '../pipeline.js';
import { REPO, runCli, tempDir } from './helpers.js';

/** The small custom CNN exported by scripts/onnx-fixtures.py (committed: the error tests need no PyTorch). */
const CUSTOM = path.join(REPO, 'packages/backbones/src/__tests__/fixtures/custom-cnn.onnx');

const config = (tap: string, model = 'model.onnx'): string => `experiment: onnx-errors
seed: 1
dataset: { name: shapes }
backbone:
  name: onnx
  model: ${model}
  tap: ${tap}
  preprocessing: tf
methods:
  - name: niwt
tracking:
  uri: file:./mlruns
`;

/** input → Conv → Relu (the tap) → Erf → GlobalAveragePool → Flatten → Gemm: a head op the tfjs head lacks. */
function erfModel(file: string): void {
  const g = new OnnxGraph('erf');
  const x = g.input('input', ['batch', 3, 8, 8]);
  const w = g.initializer('w', new Float32Array(4 * 3 * 3 * 3).fill(0.1), [4, 3, 3, 3]);
  const [c] = g.node('Conv', [x, w], { pads: { ints: [1, 1, 1, 1] } });
  g.node('Relu', [c], {}, ['tap_relu']);
  const [e] = g.node('Erf', ['tap_relu'], {}, ['erf_out']);
  const [p] = g.node('GlobalAveragePool', [e]);
  const [f] = g.node('Flatten', [p]);
  const fc = g.initializer('fc', new Float32Array(8).fill(0.5), [2, 4]);
  const [y] = g.node('Gemm', [f, fc], { transB: { i: 1 } }, ['logits']);
  g.output(y, ['batch', 2]);
  writeFileSync(file, g.toBytes());
}

async function failsBeforeRun(dir: string, text: string): Promise<string> {
  writeFileSync(path.join(dir, 'exp.yaml'), text);
  const before = readdirSync(dir).sort();
  const r = await runCli(['run', 'exp.yaml'], dir);
  expect(r.code).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(r.stdout).toBe('');
  expect(readdirSync(dir).sort()).toEqual(before); // no mlruns, no cache: nothing opened
  return lines[0];
}

describe('onnx backbone errors (exit 2, one line, before the run opens)', () => {
  it('a wrong tap suggests the closest value', async () => {
    const dir = tempDir('onnx-tap');
    copyFileSync(CUSTOM, path.join(dir, 'model.onnx'));
    const line = await failsBeforeRun(dir, config('/pool2/MaxPool_output'));
    expect(line).toMatch(
      new RegExp(
        String.raw`^niwt: exp\.yaml:7 backbone\.tap: unknown tap '\/pool2\/MaxPool_output' in .*model\.onnx; ` +
          String.raw`did you mean '\/pool2\/MaxPool_output_0'\? \(list the taps: niwt weights inspect ` +
          String.raw`model\.onnx\)`,
      ),
    );
  });

  it('a value inside a residual join is not a tap', async () => {
    const dir = tempDir('onnx-tap2');
    copyFileSync(CUSTOM, path.join(dir, 'model.onnx'));
    const line = await failsBeforeRun(dir, config('/Sigmoid_output_0'));
    expect(line).toMatch(
      new RegExp(
        String.raw`backbone\.tap: '\/Sigmoid_output_0' cannot be a tap of .*a path from the input reaches ` +
          String.raw`the features without passing through it`,
      ),
    );
  });

  it('an op the tfjs head lacks names the node, its op type and the tap', async () => {
    const dir = tempDir('onnx-op');
    erfModel(path.join(dir, 'model.onnx'));
    const line = await failsBeforeRun(dir, config('tap_relu'));
    expect(line).toMatch(
      new RegExp(
        String.raw`^niwt: exp\.yaml:7 backbone\.tap: node 'Erf_\d+' \(op Erf\) after tap 'tap_relu' is not ` +
          String.raw`implemented by the onnx backbone's tfjs head; choose a later tap`,
      ),
    );
  });

  it('a missing model file names it', async () => {
    const dir = tempDir('onnx-missing');
    const line = await failsBeforeRun(dir, config('x', 'nope.onnx'));
    expect(line).toMatch(/backbone\.model: .*nope\.onnx does not exist; export one with torch\.onnx\.export/);
  });
});

describe('niwt weights inspect model.onnx', () => {
  it('lists the taps with shapes, the features and the opset', async () => {
    const r = await runCli(['weights', 'inspect', CUSTOM], REPO);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ONNX opset 17 \(pytorch\)/);
    expect(r.stdout).toMatch(/features \/Relu_1_output_0 \(32-d, the input of the last Gemm\/MatMul\)/);
    expect(r.stdout).toMatch(/\/pool2\/MaxPool_output_0\s+1×16×8×8\s+MaxPool\s+ok/);
    expect(r.stdout).toMatch(/\/LeakyRelu_output_0\s+1×16×16×16\s+LeakyRelu\s+ok/);
    expect(r.stdout).not.toMatch(/\/Sigmoid_output_0/);
    const j = await runCli(['weights', 'inspect', CUSTOM, '--json'], REPO);
    const parsed = JSON.parse(j.stdout) as { opset: number; taps: { name: string; shape: number[] }[] };
    expect(parsed.opset).toBe(17);
    expect(parsed.taps.find((t) => t.name === '/Clip_output_0')?.shape).toEqual([1, 24, 8, 8]);
  });
});

const E2E = (model: string): string => `experiment: onnx-e2e
seed: 11
dataset: { name: shapes, imagesPerClass: 40, seenClasses: 16, unseenClasses: 8 }
backbone:
  name: onnx
  model: ${model}
  tap: /relu3/Relu_output_0
  seenHead: model                     # PyTorch's own seen-class layer
methods:
  - { name: niwt }
  - { name: ale }
  - { name: dem }
`;

describe('train in PyTorch → export → NIWT, ALE and DEM here', () => {
  it('beats chance like the small-CNN demo (ZSL T1 ≥ 2× chance, H > 0.1)', async () => {
    const dir = tempDir('onnx-e2e');
    const overrides = [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`];
    // the seen trainval images of the dataset the run will use, for PyTorch
    const probe = await composeExperiment('probe.yaml', {
      inlineText: E2E(CUSTOM)
        .replace('/relu3/Relu_output_0', '/pool2/MaxPool_output_0')
        .replace('seenHead: model', 'seenHead: train')
        .replace('backbone:', 'backbone:\n  preprocessing: tf'),
      cwd: dir,
      overrides,
      logger: silentLogger,
    });
    const dataset = await (probe.registry.create(probe.dataset.spec, probe.dataset.options) as DatasetAdapter).load();
    const seenPos = new Map(dataset.split.seen.map((c, i) => [c, i]));
    const idx = dataset.split.trainval.filter((i) => seenPos.has(dataset.samples[i].classIndex));
    const spec = { height: 32, width: 32, channels: 3 as const };
    const pixels = new Float32Array(idx.length * 32 * 32 * 3);
    let k = 0;
    for await (const b of dataset.readImages(idx, spec, 64)) {
      pixels.set(b.pixels, k * 32 * 32 * 3);
      k += b.indices.length;
    }
    await writeNpy(path.join(dir, 'pixels.npy'), pixels, [idx.length, 32, 32, 3]);
    await writeNpy(
      path.join(dir, 'labels.npy'),
      Float32Array.from(idx, (i) => seenPos.get(dataset.samples[i].classIndex)!),
      [idx.length],
    );
    const py = execFileSync(path.join(REPO, 'scripts/torch-venv.sh'), [], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 900_000,
    })
      .trim()
      .split('\n')
      .pop()!;
    const out = execFileSync(
      py,
      [path.join(REPO, 'scripts/onnx-train.py'), dir, path.join(dir, 'pixels.npy'), path.join(dir, 'labels.npy'), '12'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 },
    );
    const model = out.trim().split('\n').pop()!;

    const exp = await composeExperiment('e2e.yaml', {
      inlineText: E2E(model),
      cwd: dir,
      overrides,
      logger: silentLogger,
    });
    const r = await runExperiment(exp, silentLogger);
    const by = (label: string) => r.methods.find((m) => m.label === label)!;
    console.info(
      `onnx e2e: seen network test_seen ${r.seenNetwork.testSeenAccuracy.toFixed(3)}; ` +
        `${r.methods
          .map(
            (m) =>
              `${m.label} s ${m.s.toFixed(3)} u ${m.u.toFixed(3)} H ${m.H.toFixed(3)} ZSL ` + `${m.zslT1.toFixed(3)}`,
          )
          .join('; ')}`,
    );
    expect(r.chanceZsl).toBeCloseTo(1 / 8, 10);
    const niwt = by('niwt');
    expect(niwt.zslT1).toBeGreaterThanOrEqual(2 * r.chanceZsl);
    expect(niwt.H).toBeGreaterThan(0.1);
    expect(niwt.s).toBeGreaterThan(0.2);
    for (const m of ['ale', 'dem']) expect(by(m).zslT1, m).toBeGreaterThan(r.chanceZsl);
  }, 900_000);
});
