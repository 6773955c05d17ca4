/**
 * An example third-party dataset plugin, living outside packages/: procedurally drawn bar images whose
 * classes combine an orientation, a colour and a bar count. Pixels are rendered on the fly (no files).
 *
 * Use it by listing this file under `plugins:` in a config and naming the dataset `bars`:
 *
 *   plugins: [./examples/plugins/bars-dataset.js]
 *   dataset: { name: bars, imagesPerClass: 40 }
 *
 * It is plain ESM JavaScript on purpose: a plugin only needs the public `@niwt/core` API, `inversify` and
 * `zod`, not the project's build.
 */
import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { Rng, TOKENS, fingerprintOf, matrix, registerPlugin } from '@niwt/core';

/** Bump when the rendering changes: cached networks and activations of older images are then not reused. */
const GENERATOR_VERSION = 1;

const ORIENTATIONS = ['horizontal', 'vertical', 'diagonal'];
const COLOURS = { red: [220, 40, 40], green: [40, 190, 60], blue: [40, 70, 220] };
const COUNTS = [1, 2, 3];

const options = z.strictObject({
  imagesPerClass: z.number().int().min(4).default(40),
  seed: z.number().int().default(3),
  testFraction: z.number().gt(0).lt(1).default(0.25),
});

function classList() {
  const out = [];
  for (const o of ORIENTATIONS) for (const c of Object.keys(COLOURS)) for (const n of COUNTS) out.push({ o, c, n, name: `${n}-${c}-${o}` });
  return out;
}

function render(cls, rng, size) {
  const px = new Float32Array(size * size * 3);
  const [r, g, b] = COLOURS[cls.c];
  const phase = rng.next();
  const width = 1.5 + rng.next();
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const t = cls.o === 'horizontal' ? v : cls.o === 'vertical' ? u : (u + v) / 2;
      const on = Math.abs(((t * cls.n + phase) % 1) - 0.5) < (width * cls.n) / size;
      const noise = 20 * (rng.next() - 0.5);
      const i = (y * size + x) * 3;
      px[i] = Math.max(0, Math.min(255, (on ? r : 128) + noise));
      px[i + 1] = Math.max(0, Math.min(255, (on ? g : 128) + noise));
      px[i + 2] = Math.max(0, Math.min(255, (on ? b : 128) + noise));
    }
  return px;
}

class BarsDataset {
  constructor(opts) {
    this.opts = opts;
  }

  async load() {
    const { imagesPerClass, seed, testFraction } = this.opts;
    const classes = classList();
    const attrNames = [...ORIENTATIONS.map((o) => `orientation:${o}`), ...Object.keys(COLOURS).map((c) => `colour:${c}`), ...COUNTS.map((n) => `count:${n}`)];
    const att = classes.map((k) => attrNames.map((a) => (a === `orientation:${k.o}` || a === `colour:${k.c}` || a === `count:${k.n}` ? 100 : 0)));
    // unseen: one class per colour, new combinations of values that all occur among the seen classes
    const unseen = [classes.findIndex((k) => k.name === '2-red-diagonal'), classes.findIndex((k) => k.name === '3-green-horizontal'), classes.findIndex((k) => k.name === '1-blue-vertical')];
    const seen = classes.map((_, i) => i).filter((i) => !unseen.includes(i));
    const samples = [];
    const trainval = [];
    const testSeen = [];
    const testUnseen = [];
    const rng = new Rng(seed);
    classes.forEach((k, c) => {
      const order = rng.shuffle(Array.from({ length: imagesPerClass }, (_, i) => i));
      const nTest = Math.round(imagesPerClass * testFraction);
      for (let i = 0; i < imagesPerClass; i++) {
        const index = samples.length;
        samples.push({ index, classIndex: c, path: `bars://${k.name}/${i}` });
        if (unseen.includes(c)) testUnseen.push(index);
        else if (order.indexOf(i) < nTest) testSeen.push(index);
        else trainval.push(index);
      }
    });
    return {
      name: 'bars',
      root: 'bars://',
      classes: classes.map((k, index) => ({ index, name: k.name })),
      samples,
      split: { seen, unseen, trainval, testSeen, testUnseen },
      attributes: { names: attrNames, matrix: matrix(classes.length, attrNames.length, att.flat()), source: 'bars-dataset.js' },
      readImages: (indices, spec, batchSize) => this.readImages(samples, classes, indices, spec, batchSize),
      // No files: the images are a function of the generator and its options. (The runner also hashes this
      // module file, so editing the plugin recomputes what it produced even without a version bump.)
      fingerprint: async () => fingerprintOf({ generator: GENERATOR_VERSION, ...this.opts }),
    };
  }

  async *readImages(samples, classes, indices, spec, batchSize) {
    const per = spec.height * spec.width * 3;
    for (let s = 0; s < indices.length; s += batchSize) {
      const chunk = indices.slice(s, s + batchSize);
      const pixels = new Float32Array(chunk.length * per);
      chunk.forEach((i, k) => pixels.set(render(classes[samples[i].classIndex], new Rng(this.opts.seed * 100003 + i), spec.height), k * per));
      yield { indices: chunk, pixels, spec };
    }
  }
}

// Explicit injection without decorators: inversify reads the same metadata the decorators would write.
import { inject, injectable } from 'inversify';
injectable()(BarsDataset);
inject(TOKENS.options)(BarsDataset, undefined, 0);

export default new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'dataset',
    name: 'bars',
    description: 'Example third-party dataset: procedural bars (orientation × colour × count)',
    schema: options,
    impl: BarsDataset,
    // what the contract suite runs it with (`contractSuite` in @niwt/runner/testing): the fewest images allowed
    testOptions: { imagesPerClass: 4 },
  });
});
