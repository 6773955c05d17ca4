/**
 * Every backbone's head describes itself as `HeadLayer`s, and NIWT's linearised head computes the same
 * importances from that description as backprop through the backbone's own `apply` — so stage D's fast
 * path is exact for the real architectures (VGG16: pool5 → fc1 → fc2; ResNet: two bottlenecks → GAP).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, silentLogger, type Backbone } from '@niwt/core';
import { initBackend } from '@niwt/compute';
import { LinearizedHead, importance } from '@niwt/niwt';
import { baseContainer } from '../compose.js';
import { PluginRegistry, TOKENS } from '@niwt/core';
import { tempDir } from './helpers.js';

await initBackend('wasm');

async function make(name: string, options: Record<string, unknown>): Promise<Backbone> {
  const c = baseContainer(silentLogger);
  const dir = tempDir('heads');
  c.bind(TOKENS.runContext).toConstantValue({ seed: 3, baseDir: dir, cacheDir: dir, runDir: dir });
  const reg = new PluginRegistry(c);
  const spec = reg.specs().find((s) => s.group === 'backbone' && s.name === name)!;
  const b = reg.create(spec, spec.schema.parse(options)) as Backbone & { ensureWeights?: () => Promise<void> };
  await b.ensureWeights?.();
  return b;
}

describe.each([
  ['vgg16', { width: 0.0625, inputSize: 32 }, 'block5_conv3'],
  ['resnet50', { width: 0.0625, inputSize: 64 }, 'conv5_block1_out'],
])('%s head', (name, options, tap) => {
  it('lists its layers, and the linearised head gives the backprop importances', async () => {
    const b = await make(name, { ...options, tap });
    const head = b.head();
    expect(head.layers).toBeDefined();
    const [h, w, k] = head.tap.shape;
    const B = 3;
    const rng = new Rng(1);
    const tapData = Float32Array.from({ length: B * h * w * k }, () => Math.max(0, rng.normal()));
    const W = Float32Array.from({ length: head.outDim * 2 }, () => rng.normal());
    const lin = new LinearizedHead(head.layers!, [h, w, k]);
    const [fast, ref] = tf.tidy(() => {
      const a = tf.tensor4d(tapData, [B, h, w, k]);
      const weights = tf.tensor2d(W, [head.outDim, 2]);
      const cols = tf.tensor1d([0, 1, 1], 'int32');
      const wPer = tf.matMul(tf.oneHot(cols, 2), weights, false, true) as tf.Tensor2D;
      return [lin.alpha(lin.masks(lin.state(a), B), wPer).dataSync(), importance(head, a, weights, cols).dataSync()];
    });
    lin.dispose();
    let num = 0;
    let den = 0;
    for (let i = 0; i < ref.length; i++) {
      num = Math.max(num, Math.abs(fast[i] - ref[i]));
      den = Math.max(den, Math.abs(ref[i]));
    }
    expect(den).toBeGreaterThan(0);
    expect(num / den).toBeLessThan(1e-4);
    b.dispose();
  }, 300_000);
});
