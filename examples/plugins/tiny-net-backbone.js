/**
 * Example backbone plugin: a two-block CNN trained from scratch on the seen classes, on top of the plugin
 * kit's `TapBackbone` (which supplies the seen head and its training loop, extraction, save/load). Plain ESM
 * that works from any folder (`niwt` lends it `@niwt/*`, `zod` and `@tensorflow/tfjs`).
 *
 *   input → conv1 → pool1 → conv2 → pool2 → fc (penultimate) → seen head
 *
 * Use: `plugins: [./tiny-net-backbone.js]`, `backbone: { name: tiny-net, tap: conv2 }`.
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { TOKENS, injectParams, pluginModule } from '@niwt/core';
import { TapBackbone, applyLayer, seenTrainOptions } from '@niwt/backbones';

const TAPS = ['conv1', 'pool1', 'conv2', 'pool2'];

const options = z.strictObject({
  /** Layer whose output neuron importance is read at. */
  tap: z.enum(TAPS).default('conv2'),
  /** Images are delivered at imageSize × imageSize (a multiple of 4: two 2×2 poolings). */
  imageSize: z.number().int().min(8).max(128).multipleOf(4).default(24),
  /** Channels of conv1 and conv2. */
  widths: z.tuple([z.number().int().min(1), z.number().int().min(1)]).default([12, 24]),
  /** Width of fc, the penultimate layer. */
  hidden: z.number().int().min(2).default(64),
  train: seenTrainOptions(),
});

/** How a layer of the head reads as `HeadLayer`s, so NIWT's stage D takes its exact linear path. */
function describe(layer) {
  const relu = { kind: 'relu' },
    { w, b } = layer;
  if (layer.kind === 'conv') return [{ kind: 'conv', filter: w, bias: b, stride: 1, padding: 'same' }, relu];
  if (layer.kind === 'pool') return [{ kind: 'maxpool', size: 2, stride: 2, padding: 'valid' }];
  return [{ kind: 'dense', weights: w, bias: b }, relu];
}

class TinyNet extends TapBackbone {
  constructor(opts, run, log) {
    const s = opts.imageSize;
    const [c1, c2] = opts.widths;
    const h = s / 2,
      q = s / 4;
    const shapes = [
      [s, s, c1],
      [h, h, c1],
      [h, h, c2],
      [q, q, c2],
    ];
    const taps = TAPS.map((name, i) => ({ name, shape: shapes[i] }));
    const input = { height: s, width: s, channels: 3 };
    super({ name: 'tiny-net', input, taps, tap: opts.tap, train: opts.train, options: opts, run, log });
    this.hidden = opts.hidden;
    this.layers = [
      this.conv('conv1', 3, 3, c1),
      { kind: 'pool', name: 'pool1' },
      this.conv('conv2', 3, c1, c2),
      { kind: 'pool', name: 'pool2' },
      this.dense('fc', q * q * c2, opts.hidden),
    ];
    this.cut = this.layers.findIndex((l) => l.name === opts.tap) + 1;
  }

  /** Pixels in [0, 255] → [-1, 1] → the layers up to and including the tap. */
  toTap(pixels) {
    return this.layers.slice(0, this.cut).reduce((h, layer) => applyLayer(layer, h), tf.sub(tf.div(pixels, 127.5), 1));
  }

  head() {
    const rest = this.layers.slice(this.cut);
    return {
      tap: this.tap,
      outDim: this.hidden,
      apply: (a) => rest.reduce((h, layer) => applyLayer(layer, h), a),
      layers: rest.flatMap(describe),
    };
  }
}

export default pluginModule({
  group: 'backbone',
  name: 'tiny-net',
  description: 'Example third-party backbone: a two-block CNN trained on the seen classes (plugin kit)',
  schema: options,
  impl: injectParams(TinyNet, TOKENS.options, TOKENS.runContext, TOKENS.logger),
  testOptions: { imageSize: 16, widths: [4, 4], hidden: 8, train: { epochs: 1, batchSize: 8 } },
});
