// Forward images/s of VGG16 and ResNet-101 at 224×224 (batch 16, random weights) on each extraction engine:
// tfjs on the active backend (in process, and with 2 extraction workers on WASM) and onnxruntime (the network
// exported to ONNX, all cores). Needs `npm run build`. Prints JSON on stdout.
//   ENGINES=onnx,tfjs (default both)   NIWT_BACKEND=auto   BATCH=16
import * as tf from '@tensorflow/tfjs';
import { silentLogger } from '@niwt/core';
import { initBackend, loadOnnxRuntime, onnxRuntimeUnavailableReason } from '@niwt/compute';
import { Vgg16, ResNet101, OnnxForward, imagenetOptions } from '@niwt/backbones';

const info = await initBackend(process.env.NIWT_BACKEND ?? 'auto');
const batch = Number(process.env.BATCH ?? 16);
const engines = (process.env.ENGINES ?? 'onnx,tfjs').split(',');
const ort = engines.includes('onnx') ? await loadOnnxRuntime() : undefined;
const ctx = { seed: 1, baseDir: '.', cacheDir: '/tmp/niwt-bench', runDir: '/tmp/niwt-bench' };
const dataset = {
  name: 'random',
  root: '/tmp',
  classes: [],
  split: {},
  samples: Array.from({ length: 2 * batch }, (_, i) => ({ index: i, classIndex: 0, path: '' })),
  async *readImages(indices, spec, bs) {
    for (let s = 0; s < indices.length; s += bs) {
      const idx = indices.slice(s, s + bs);
      const pixels = new Float32Array(idx.length * spec.height * spec.width * 3).map((_, k) => (k * 2654435761) % 256);
      yield { indices: idx, pixels, spec };
    }
  },
};
const out = {
  backend: info.name,
  threads: info.threads,
  batch,
  onnx: ort ? 'onnxruntime-node' : `unavailable (${onnxRuntimeUnavailableReason()})`,
  models: {},
};
for (const [name, Cls] of [
  ['vgg16', Vgg16],
  ['resnet101', ResNet101],
]) {
  const bb = new Cls(imagenetOptions(name).parse({}), ctx, silentLogger);
  await bb.ensureWeights();
  const res = { imagesPerSecond: null, imagesPerSecond2Workers: null, onnx: null };
  if (ort) {
    // Features only (as the tfjs numbers below); the export + session creation is timed apart from the forward.
    const t0 = performance.now();
    const fwd = await OnnxForward.create(bb.net, undefined, ort);
    const setupSeconds = (performance.now() - t0) / 1000;
    const pixels = new Float32Array(batch * 224 * 224 * 3).map((_, k) => (k * 2654435761) % 256);
    await fwd.run(pixels, batch); // warm-up
    const t1 = performance.now();
    await fwd.run(pixels, batch);
    res.onnx = {
      imagesPerSecond: +(batch / ((performance.now() - t1) / 1000)).toFixed(2),
      threads: fwd.threads,
      setupSeconds: +setupSeconds.toFixed(1),
    };
    await fwd.dispose();
  }
  if (engines.includes('tfjs')) {
    const x = tf.randomUniform([batch, 224, 224, 3], 0, 255);
    // 16 images per timed call, in chunks of 4: one tidy keeps every intermediate, and VGG16 at 16 overflows the 4 GB
    // WASM heap.
    const run = () => {
      for (let c = 0; c < batch; c += 4) {
        const f = tf.tidy(() => bb.net.features(x.slice([c], [Math.min(4, batch - c)])));
        f.dataSync();
        f.dispose();
      }
    };
    run(); // warm-up (XNNPACK packs weights)
    const t0 = performance.now();
    run();
    res.imagesPerSecond = +(batch / ((performance.now() - t0) / 1000)).toFixed(2);
    x.dispose();
    if (info.name === 'wasm') {
      const w = new Cls(imagenetOptions(name).parse({ workers: 2, engine: 'tfjs' }), ctx, silentLogger);
      w.net.dispose();
      await bb.save('/tmp/niwt-bench/net-' + name);
      await w.net.loadSaved('/tmp/niwt-bench/net-' + name + '/network');
      const idx = dataset.samples.map((s) => s.index);
      const r = await w.extractSplit(dataset, idx, `/tmp/niwt-bench/x-${name}-${Date.now()}`, {
        batchSize: 4,
        withTap: false,
      });
      // includes worker start-up and warm-up: a lower bound
      res.imagesPerSecond2Workers = +r.imagesPerSecond.toFixed(2);
      w.dispose();
    }
  }
  out.models[name] = res;
  bb.dispose();
}
process.stdout.write(JSON.stringify(out) + '\n');
