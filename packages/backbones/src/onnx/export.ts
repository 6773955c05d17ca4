/**
 * A `Network` as an ONNX model for forward-only extraction: input `pixels` [N, H, W, 3] RGB in [0, 255]
 * (exactly what `Network.toTap` takes; the weights' preprocessing is the graph's first nodes), outputs
 * `tap` [N, h, w, k] (NHWC, the layout of the .npy caches; optional) and `features` [N, D].
 *
 *   const graph = exportOnnx(net, 'block5_conv3');
 *   const prog = await OrtProgram.create(graph, { threads: 2 });
 *   const { tap, features } = await prog.run({ pixels: { data, dims: [16, 224, 224, 3] } });
 */
import * as tf from '@tensorflow/tfjs';
import { OnnxGraph } from '@niwt/compute';
import { foldBn, nodeIndex, type FoldBn } from '../nets/graph.js';
import type { Network } from '../imagenet/network.js';
import type { WeightsDescriptor } from '../preprocess/preprocess.js';
import { OnnxEmitter, type OnnxValue } from './emit.js';

export const ONNX_INPUT = 'pixels';
export const ONNX_TAP = 'tap';
export const ONNX_FEATURES = 'features';

/** RGB [0, 255] NHWC → the network's input, NCHW: channel order, then x·(scale/std) − mean/std per channel. */
function preprocess(e: OnnxEmitter, x: string, size: number, d: WeightsDescriptor): OnnxValue {
  const g = e.graph;
  let h = g.op('Transpose', [x], { perm: { ints: [0, 3, 1, 2] } });
  if (d.channels === 'BGR') h = g.op('Gather', [h, g.int64s([2, 1, 0], 'bgr')], { axis: { i: 1 } });
  const scale = Float32Array.from(d.std, (s) => d.scale / s);
  const offset = Float32Array.from(d.mean, (m, c) => -m / d.std[c]);
  return e.affine({ name: h, shape: [3, size, size], nonNegative: false }, scale, offset);
}

/**
 * Builds the graph; the weights are copied out of the network's variables (folded BN tensors are
 * released before returning). `tap` undefined: features only.
 */
export function exportOnnx(net: Network, tap: string | undefined): OnnxGraph {
  const spec = net.spec;
  const g = new OnnxGraph(`${spec.family}${tap ? `-${tap}` : ''}`);
  const e = new OnnxEmitter(g);
  const size = spec.inputSize;
  const input = g.input(ONNX_INPUT, ['batch', size, size, 3]);
  const last = nodeIndex(spec, spec.penultimate);
  const tapAt = tap === undefined ? -1 : nodeIndex(spec, tap);
  if (tapAt > last) throw new Error(`onnx export: tap '${tap}' is after the penultimate layer '${spec.penultimate}'`);
  const owned: tf.Tensor[] = [];
  const fold: FoldBn = (bn) => {
    const f = foldBn(bn);
    owned.push(f.scale, f.offset);
    return f;
  };
  try {
    let h = preprocess(e, input, size, net.descriptor);
    for (let i = 0; i <= last; i++) {
      const node = spec.nodes[i];
      if (node.onnx) h = node.onnx(e, h, fold);
      else if (node.describe) h = e.layers(h, node.describe(fold));
      else
        throw new Error(
          `onnx export: node '${node.name}' of ${spec.family} has neither an ONNX hook nor a description`,
        );
      if (i === tapAt) e.output(h, ONNX_TAP);
    }
    e.output(h, ONNX_FEATURES);
  } finally {
    tf.dispose(owned);
  }
  return g;
}
