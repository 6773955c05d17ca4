// Example dataset plugin: drawn bars whose classes combine orientation × colour × count, rendered on the fly (no
// files: `Sample.path` is a `bars://` URI). Plain ESM that works from any folder (`niwt` lends it `@niwt/*` and `zod`).
// Use: `plugins: [./bars-dataset.js]`, `dataset: { name: bars, imagesPerClass: 40 }`.
import { z } from 'zod';
import { Rng, TOKENS, fingerprintOf, injectParams, pluginModule } from '@niwt/core';
import { attributeTable, classSplit, renderedImages } from '@niwt/datasets';

/** Bump when the rendering changes: cached networks and activations of older images are then not reused. */
const GENERATOR_VERSION = 1;
const RGB = { red: [220, 40, 40], green: [40, 190, 60], blue: [40, 70, 220] };
const VALUES = { orientation: ['horizontal', 'vertical', 'diagonal'], colour: Object.keys(RGB), count: [1, 2, 3] };
const { orientation: O, colour: C, count: N } = VALUES;
const CLASSES = O.flatMap((d) => C.flatMap((c) => N.map((n) => `${n}-${c}-${d}`)));
const ATTRIBUTES = Object.entries(VALUES).flatMap(([group, values]) => values.map((v) => `${group}:${v}`));
/** One unseen class per colour, each a new combination of values that all occur among the seen classes. */
const UNSEEN = ['2-red-diagonal', '3-green-horizontal', '1-blue-vertical'];

const options = z.strictObject({
  imagesPerClass: z.number().int().min(4).default(40),
  seed: z.number().int().default(3),
  testFraction: z.number().gt(0).lt(1).default(0.25),
});

/** `count` stripes of the class colour along its orientation, on a grey background with noise. */
function render(className, rng, size) {
  const [count, colour, orientation] = className.split('-');
  const [n, rgb, px] = [Number(count), RGB[colour], new Float32Array(size * size * 3)];
  const [phase, width] = [rng.next(), 1.5 + rng.next()];
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const t = orientation === 'horizontal' ? y / size : orientation === 'vertical' ? x / size : (x + y) / (2 * size);
      const on = Math.abs(((t * n + phase) % 1) - 0.5) < (width * n) / size;
      const noise = 20 * (rng.next() - 0.5);
      for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = Math.min(255, Math.max(0, (on ? rgb[c] : 128) + noise));
    }
  return px;
}

class BarsDataset {
  constructor(opts) {
    this.opts = opts;
  }
  async load() {
    const path = (name, i) => `bars://${name}/${i}`;
    const { classes, samples, split } = classSplit({ classes: CLASSES, unseen: UNSEEN, ...this.opts, path });
    // a class has an attribute when its name holds the value (values are distinct across groups)
    const has = (name, attribute) => (name.split('-').includes(attribute.split(':')[1]) ? 100 : 0);
    const attributes = attributeTable(CLASSES, ATTRIBUTES, has, 'bars-dataset.js');
    // every image is a function of its index and the seed: rendered when asked, identical every time
    const rng = (i) => new Rng(this.opts.seed * 100003 + i);
    const image = (i, spec) => render(CLASSES[samples[i].classIndex], rng(i), spec.height);
    const readImages = (indices, spec, batchSize) => renderedImages(indices, spec, batchSize, image);
    // no files: the images are a function of the generator and its options (the runner also hashes this file)
    const fingerprint = async () => fingerprintOf({ generator: GENERATOR_VERSION, ...this.opts });
    return { name: 'bars', root: 'bars://', classes, samples, split, attributes, readImages, fingerprint };
  }
}
const [description, impl] = ['Example dataset: procedural bars', injectParams(BarsDataset, TOKENS.options)];
const testOptions = { imagesPerClass: 4 }; // what the contract suite (`@niwt/runner/testing`) runs it with
export default pluginModule({ group: 'dataset', name: 'bars', description, schema: options, impl, testOptions });
