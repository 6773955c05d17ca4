/**
 * Activations of a whole split at the tap (and the penultimate features), streamed to `.npy` files in
 * bounded memory: `tap.npy` [N, h, w, k], `features.npy` [N, D], `indices.json`. Resumable (NpyRowWriter),
 * with a progress bar showing images/s. On WASM (one thread in Node) `workers` > 1 runs the forward pass
 * in worker threads, each with its own WASM backend and a copy of the weights, over whole batches: each
 * batch goes through exactly the code a single thread runs, so the outputs are identical. With the 'onnx'
 * engine (or 'auto' where onnxruntime-node loads) the network is exported to ONNX and run on ORT's
 * multithreaded CPU kernels instead (../onnx/engine.ts): same files, same layout, values within 1e-5.
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import type { Dataset, Logger, TapInfo } from '@niwt/core';
import { readForInference } from '../preprocess/preprocess.js';
import type { Network } from '../imagenet/network.js';
import type { Family, ImagenetOptions } from '../imagenet/options.js';
import { OnnxForward, resolveEngine, type EngineChoice, type RuntimeLoader } from '../onnx/engine.js';
import { NpyRowWriter } from './npy-stream.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './extract-worker.js';

export interface ExtractSplitOptions {
  readonly batchSize: number;
  /** Write tap activations too (else features only). */
  readonly withTap: boolean;
  readonly workers: number;
  /** 'onnx' | 'tfjs' | 'auto' (onnx when onnxruntime-node loads here). */
  readonly engine: EngineChoice;
  /** Where onnxruntime-node comes from (default `loadOnnxRuntime`; tests inject one that finds none). */
  readonly loadRuntime?: RuntimeLoader;
}

export interface ExtractSplitResult {
  readonly dir: string;
  readonly rows: number;
  /** The features, read back (N × D). */
  readonly features: Float32Array;
  readonly imagesPerSecond: number;
  /** The engine that ran, and its compute threads (ORT intra-op threads, tfjs workers, or tfjs backend threads). */
  readonly engine: 'onnx' | 'tfjs';
  readonly threads: number;
}

/** The compiled worker (dist/…/extract-worker.js); running from sources, the package's build output. */
export function workerScript(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const candidates = [
    path.join(path.dirname(here), 'extract-worker.js'),
    path
      .join(path.dirname(here), 'extract-worker.js')
      .replace(`${path.sep}src${path.sep}`, `${path.sep}dist${path.sep}`),
  ];
  return candidates.find((c) => existsSync(c));
}

class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();

  constructor(script: string, n: number, init: WorkerInit) {
    for (let i = 0; i < n; i++) {
      const w = new Worker(script, { workerData: init });
      w.on('message', (r: WorkerReply) => {
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        if (r.error) p?.reject(new Error(`extraction worker: ${r.error}`));
        else p?.resolve(r);
      });
      w.on('error', (e) => this.pending.forEach((p) => p.reject(e)));
      this.workers.push(w);
    }
  }

  run(req: WorkerRequest): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.workers[req.id % this.workers.length].postMessage(req, [req.pixels.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

async function readAll(file: string): Promise<Float32Array> {
  const buf = await fs.readFile(file);
  const headerLen = buf.readUInt16LE(8);
  const body = buf.subarray(10 + headerLen);
  return new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
}

/**
 * What extraction reads of an ImageNet backbone. A structural view, not the class, so this module and
 * `imagenet/backbone.ts` (which calls it) do not import each other.
 */
export interface ExtractSource {
  readonly name: Family;
  readonly opts: Pick<ImagenetOptions, 'inputSize' | 'width' | 'resize'>;
  readonly tap: TapInfo;
  readonly penultimateDim: number;
  readonly net: Network;
}

export async function extractSplit(
  bb: ExtractSource,
  dataset: Dataset,
  indices: readonly number[],
  dir: string,
  o: ExtractSplitOptions,
  log: Logger,
): Promise<ExtractSplitResult> {
  await fs.mkdir(dir, { recursive: true });
  const n = indices.length;
  const tapShape = bb.tap.shape;
  const fw = await NpyRowWriter.open(path.join(dir, 'features.npy'), n, [bb.penultimateDim]);
  const tw = o.withTap ? await NpyRowWriter.open(path.join(dir, 'tap.npy'), n, tapShape) : undefined;
  const start = Math.min(fw.rows, tw?.rows ?? fw.rows);
  fw.rows = start;
  if (tw) tw.rows = start;
  await fs.writeFile(path.join(dir, 'indices.json'), JSON.stringify(indices));
  const engine = await resolveEngine(o.engine, o.loadRuntime);
  const onnx =
    engine.engine === 'onnx' && start < n
      ? await OnnxForward.create(bb.net, o.withTap ? bb.tap.name : undefined, engine.runtime)
      : undefined;
  const script = engine.engine === 'tfjs' && o.workers > 1 && tf.getBackend() === 'wasm' ? workerScript() : undefined;
  if (engine.engine === 'tfjs' && o.workers > 1 && tf.getBackend() === 'wasm' && !script)
    log.warn(`${bb.name}: extraction worker not built (npm run build); extracting on one thread`);
  const pool = script
    ? new WorkerPool(script, o.workers, {
        family: bb.name,
        inputSize: bb.opts.inputSize,
        width: bb.opts.width,
        descriptor: bb.net.descriptor,
        tap: bb.tap.name,
        withTap: o.withTap,
        layers: bb.net.spec.layers
          .filter((l) => l.vars.length)
          .map((l) => ({ name: l.name, values: l.vars.map((v) => v.dataSync() as Float32Array) })),
      })
    : undefined;
  const threads =
    onnx?.threads ?? (pool ? o.workers : tf.getBackend() === 'tensorflow' ? os.availableParallelism() : 1);
  const how =
    engine.engine === 'onnx'
      ? `onnx, ${threads} thread${threads > 1 ? 's' : ''}`
      : `tfjs ${tf.getBackend()}${pool ? `, ${o.workers} workers` : ''}`;
  if (engine.why) log.info(`${bb.name}: extraction engine ${engine.engine} — ${engine.why}`);
  const bar = log.progress(`extract ${bb.name} at ${bb.tap.name} (${how})`, n - start);
  const t0 = performance.now();
  let done = 0;
  const size = bb.opts.inputSize;
  const inFlight: Promise<WorkerReply>[] = [];
  try {
    const flush = async (r: WorkerReply): Promise<void> => {
      await fw.append(r.features);
      if (tw && r.tap) await tw.append(r.tap);
      await fw.checkpoint();
      await tw?.checkpoint();
      done += r.n;
      bar.tick(r.n, `${(done / ((performance.now() - t0) / 1000)).toFixed(1)} images/s`);
    };
    let id = 0;
    for await (const batch of readForInference(dataset, indices.slice(start), size, bb.opts.resize, o.batchSize)) {
      const m = batch.indices.length;
      if (onnx) {
        // One ORT run in flight: the next batch is decoded while this one computes.
        if (inFlight.length) await flush(await inFlight.shift()!);
        const k = id++;
        inFlight.push(onnx.run(batch.pixels, m).then((r) => ({ id: k, n: m, ...r })));
        continue;
      }
      if (pool) {
        inFlight.push(pool.run({ id: id++, n: m, pixels: batch.pixels }));
        if (inFlight.length >= 2 * o.workers) await flush(await inFlight.shift()!);
        continue;
      }
      const [a, f] = tf.tidy(() => {
        const x = tf.tensor4d(batch.pixels, [m, size, size, 3]);
        const t = bb.net.toTap(x, bb.tap.name);
        return [o.withTap ? t : undefined, bb.net.fromTap(t, bb.tap.name)];
      });
      await flush({
        id: id++,
        n: m,
        features: (await f.data()) as Float32Array,
        tap: a ? ((await a.data()) as Float32Array) : undefined,
      });
      tf.dispose([a, f].filter((t): t is tf.Tensor => t !== undefined));
    }
    while (inFlight.length) await flush(await inFlight.shift()!);
  } finally {
    if (onnx) {
      await Promise.allSettled(inFlight); // after an error mid-way, the run finishes before its session is released
      await onnx.dispose();
    }
    await pool?.close();
    await fw.close();
    await tw?.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  bar.done(`${n} images, ${(done / Math.max(seconds, 1e-9)).toFixed(1)} images/s (${how})`);
  return {
    dir,
    rows: n,
    features: await readAll(path.join(dir, 'features.npy')),
    imagesPerSecond: done / Math.max(seconds, 1e-9),
    engine: engine.engine,
    threads,
  };
}
