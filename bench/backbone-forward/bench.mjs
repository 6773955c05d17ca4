// Forward images/s of VGG16 and ResNet-101 at 224×224 (batch 16, random weights) on the active tfjs backend,
// in process and with 2 extraction workers (WASM). Needs `npm run build`. Prints JSON on stdout.
import * as tf from '@tensorflow/tfjs';
import { initBackend, silentLogger } from '@niwt/core';
import { Vgg16, ResNet101, imagenetOptions } from '@niwt/backbones';

const info = await initBackend(process.env.NIWT_BACKEND ?? 'auto');
const batch = Number(process.env.BATCH ?? 16);
const ctx = { seed: 1, baseDir: '.', cacheDir: '/tmp/niwt-bench', runDir: '/tmp/niwt-bench' };
const dataset = {
  name: 'random', root: '/tmp', classes: [], split: {},
  samples: Array.from({ length: 2 * batch }, (_, i) => ({ index: i, classIndex: 0, path: '' })),
  async *readImages(indices, spec, bs) {
    for (let s = 0; s < indices.length; s += bs) {
      const idx = indices.slice(s, s + bs);
      const pixels = new Float32Array(idx.length * spec.height * spec.width * 3).map((_, k) => (k * 2654435761) % 256);
      yield { indices: idx, pixels, spec };
    }
  },
};
const out = { backend: info.name, threads: info.threads, batch, models: {} };
for (const [name, Cls] of [['vgg16', Vgg16], ['resnet101', ResNet101]]) {
  const bb = new Cls(imagenetOptions(name).parse({}), ctx, silentLogger);
  await bb.ensureWeights();
  const x = tf.randomUniform([batch, 224, 224, 3], 0, 255);
  // 16 images per timed call, in chunks of 4: one tidy keeps every intermediate, and VGG16 at 16 overflows the 4 GB WASM heap.
  const run = () => { for (let c = 0; c < batch; c += 4) { const f = tf.tidy(() => bb.net.features(x.slice([c], [Math.min(4, batch - c)]))); f.dataSync(); f.dispose(); } };
  run(); // warm-up (XNNPACK packs weights)
  const t0 = performance.now();
  run();
  const single = batch / ((performance.now() - t0) / 1000);
  x.dispose();
  let workers;
  if (info.name === 'wasm') {
    const w = new Cls(imagenetOptions(name).parse({ workers: 2 }), ctx, silentLogger);
    w.net.dispose();
    await bb.save('/tmp/niwt-bench/net-' + name);
    await w.net.loadSaved('/tmp/niwt-bench/net-' + name + '/network');
    const idx = dataset.samples.map((s) => s.index);
    const r = await w.extractSplit(dataset, idx, `/tmp/niwt-bench/x-${name}-${Date.now()}`, { batchSize: 4, withTap: false });
    workers = r.imagesPerSecond; // includes worker start-up and warm-up: a lower bound
    w.dispose();
  }
  out.models[name] = { imagesPerSecond: +single.toFixed(2), imagesPerSecond2Workers: workers === undefined ? null : +workers.toFixed(2) };
  bb.dispose();
}
process.stdout.write(JSON.stringify(out) + '\n');
