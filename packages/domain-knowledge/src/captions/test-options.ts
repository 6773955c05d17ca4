/**
 * `testOptions` of `captions`: a Reed-layout `text_c10` with two captions per image of the test dataset (the CUB
 * fixture) and a text word2vec file covering their words, written into the contract suite's temp folder.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { Rng, StateError, type PluginTestContext } from '@niwt/core';
import type { captionsOptions } from './options.js';

type CaptionsInput = z.input<typeof captionsOptions>;

/** A word made of letters only (tokenizers keep it whole): 0 → 'ka', 1 → 'kb', 26 → 'kba'. */
function classWord(k: number): string {
  let s = '';
  do {
    s = String.fromCharCode(97 + (k % 26)) + s;
    k = Math.floor(k / 26);
  } while (k > 0);
  return `k${s}`;
}

export function captionsTestOptions(context: PluginTestContext): CaptionsInput {
  const ds = context.dataset;
  if (!ds) throw new StateError('captions testOptions: the contract suite passes the test dataset (testDataset: cub)');
  const root = path.join(context.dir, 'text_c10');
  for (const s of ds.samples) {
    const folder = path.join(root, path.basename(path.dirname(s.path)));
    mkdirSync(folder, { recursive: true });
    const word = classWord(s.classIndex);
    const text = `a bird with ${word} feathers\nthe ${word} bird\n`;
    writeFileSync(path.join(folder, `${path.basename(s.path, path.extname(s.path))}.txt`), text);
  }
  const words = ['a', 'bird', 'with', 'feathers', 'the', ...ds.classes.map((c) => classWord(c.index))];
  const rng = new Rng(11);
  const dim = 6;
  const lines = words.map((w) => `${w} ${Array.from({ length: dim }, () => rng.normal().toFixed(4)).join(' ')}`);
  const vectors = path.join(context.dir, 'vectors.txt');
  writeFileSync(vectors, `${words.length} ${dim}\n${lines.join('\n')}\n`);
  return { textRoot: root, word2vec: vectors, format: 'text' };
}
