/**
 * Worker thread of `extractSplit`: its own WASM backend (tfjs-wasm is single-threaded in Node, so two
 * workers use two cores), the network rebuilt from the main thread's weights, forward passes per batch.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '@niwt/compute';
import { createVariables } from '../nets/graph.js';
import { resnetSpec } from '../nets/resnet.js';
import { vgg16Spec } from '../nets/vgg16.js';
import { Network } from '../imagenet/network.js';
import type { WeightsDescriptor } from '../preprocess/preprocess.js';

export interface WorkerInit {
  readonly family: 'vgg16' | 'resnet50' | 'resnet101';
  readonly inputSize: number;
  readonly width: number;
  readonly descriptor: WeightsDescriptor;
  readonly tap: string;
  readonly withTap: boolean;
  readonly layers: readonly { readonly name: string; readonly values: readonly Float32Array[] }[];
}
export interface WorkerRequest {
  readonly id: number;
  readonly n: number;
  readonly pixels: Float32Array;
}
export interface WorkerReply {
  readonly id: number;
  readonly n: number;
  readonly features: Float32Array;
  readonly tap?: Float32Array;
  readonly error?: string;
}

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  await initBackend('wasm');
  const spec =
    init.family === 'vgg16'
      ? vgg16Spec(init.inputSize, init.width)
      : resnetSpec(init.family, init.inputSize, init.width);
  const net = new Network(spec, init.descriptor);
  const byName = new Map(init.layers.map((l) => [l.name, l.values]));
  for (const l of spec.layers) {
    const v = byName.get(l.name);
    if (v) createVariables(l, v, net.scope);
  }
  const s = init.inputSize;
  const queue: WorkerRequest[] = [];
  let busy = false;
  const work = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    while (queue.length) {
      const req = queue.shift()!;
      try {
        const [a, f] = tf.tidy(() => {
          const t = net.toTap(tf.tensor4d(req.pixels, [req.n, s, s, 3]), init.tap);
          return [init.withTap ? t : undefined, net.fromTap(t, init.tap)];
        });
        const features = (await f.data()) as Float32Array;
        const tap = a ? ((await a.data()) as Float32Array) : undefined;
        tf.dispose([a, f].filter((t): t is tf.Tensor => t !== undefined));
        const reply: WorkerReply = { id: req.id, n: req.n, features, tap };
        parentPort!.postMessage(reply, [features.buffer as ArrayBuffer, ...(tap ? [tap.buffer as ArrayBuffer] : [])]);
      } catch (e) {
        parentPort!.postMessage({
          id: req.id,
          n: req.n,
          features: new Float32Array(),
          error: e instanceof Error ? e.message : String(e),
        } satisfies WorkerReply);
      }
    }
    busy = false;
  };
  parentPort!.on('message', (req: WorkerRequest) => {
    queue.push(req);
    void work();
  });
}

void main();
