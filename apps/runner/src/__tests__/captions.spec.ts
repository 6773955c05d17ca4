/**
 * `niwt run` with the captions encoder over a folder-format dataset whose class folders use CUB_200_2011
 * names, next to a Reed-layout `text_c10` tree that spells some of them Reed's way, and a gzipped
 * word2vec binary file.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { silentLogger, type CacheEvent, type Logger } from '@niwt/core';
import { alternateCubSpelling, writeWord2Vec, type Word2VecEntry } from '@niwt/domain-knowledge';
import { composeExperiment } from '../compose.js';
import { runExperiment } from '../pipeline.js';
import { runCli, tempDir } from './helpers.js';

/** CUB names; the text_c10 folder uses Reed's spelling for the ones marked `reed`. */
const CLASSES: readonly { name: string; reed?: boolean; words: string[] }[] = [
  { name: '009.Brewer_Blackbird', reed: true, words: ['black', 'glossy'] },
  { name: '022.Chuck_will_Widow', reed: true, words: ['brown', 'mottled'] },
  { name: '067.Anna_Hummingbird', words: ['green', 'tiny'] },
  { name: '098.Scott_Oriole', reed: true, words: ['yellow', 'black'] },
  { name: '113.Baird_Sparrow', words: ['brown', 'streaked'] },
  { name: '001.Black_footed_Albatross', words: ['large', 'grey'] },
  { name: '180.Wilson_Warbler', words: ['yellow', 'cap'] },
  { name: '036.Northern_Flicker', words: ['spotted', 'brown'] },
  { name: '126.Nelson_Sharp_tailed_Sparrow', reed: true, words: ['orange', 'streaked'] },
  { name: '017.Cardinal', words: ['red', 'crest'] },
  { name: '193.Bewick_Wren', reed: true, words: ['grey', 'tail'] },
];
const UNSEEN = ['126.Nelson_Sharp_tailed_Sparrow', '017.Cardinal', '193.Bewick_Wren'];
const IMAGES = 6;
const COMMON = ['this', 'bird', 'has', 'wings', 'beak', 'small', 'long'];
const DIM = 16;

/** Deterministic pseudo-random vector of a word. */
function vectorOf(word: string): Float32Array {
  let h = 2166136261;
  for (const ch of word) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return Float32Array.from({ length: DIM }, (_, d) => (((Math.imul(h, d + 1) >>> 0) % 2000) - 1000) / 1000);
}

async function writeFixture(dir: string): Promise<void> {
  const root = path.join(dir, 'cub');
  const lines = (xs: string[]) => `${xs.join('\n')}\n`;
  mkdirSync(root, { recursive: true });
  writeFileSync(path.join(root, 'classes.txt'), lines(CLASSES.map((c) => c.name)));
  writeFileSync(path.join(root, 'attributes.txt'), 'unused\n');
  writeFileSync(path.join(root, 'class-attributes.txt'), lines(CLASSES.map((_, i) => String(i))));
  writeFileSync(
    path.join(root, 'split.yaml'),
    `seen: [${CLASSES.filter((c) => !UNSEEN.includes(c.name))
      .map((c) => `"${c.name}"`)
      .join(', ')}]\nunseen: [${UNSEEN.map((u) => `"${u}"`).join(', ')}]\n`,
  );
  for (const [ci, c] of CLASSES.entries()) {
    const imgDir = path.join(root, 'images', c.name);
    const txtDir = path.join(dir, 'text_c10', c.reed ? alternateCubSpelling(c.name)! : c.name);
    mkdirSync(imgDir, { recursive: true });
    mkdirSync(txtDir, { recursive: true });
    for (let k = 0; k < IMAGES; k++) {
      const base = `${c.name.split('.')[1]}_${String(k + 1).padStart(4, '0')}_${100 + ci * 10 + k}`;
      const px = Buffer.alloc(16 * 16 * 3);
      for (let i = 0; i < px.length; i++) px[i] = (ci * 53 + (i % 3) * 90 + ((i * 7 + k * 13) % 40)) % 256;
      await sharp(px, { raw: { width: 16, height: 16, channels: 3 } })
        .png()
        .toFile(path.join(imgDir, `${base}.png`));
      const caps = Array.from(
        { length: 10 },
        (_, j) =>
          `This bird has ${c.words[j % 2]} wings and a ${c.words[(j + 1) % 2]} ` +
          `${COMMON[(j + k) % COMMON.length]}, qwzx.`,
      );
      const bytes =
        k === 0
          ? Buffer.concat([Buffer.from(caps[0]), Buffer.from([0xff, 0xfe]), Buffer.from(`\n\n${caps[1]}\n`)])
          : Buffer.from(lines(caps));
      writeFileSync(path.join(txtDir, `${base}.txt`), bytes);
    }
  }
  const vocab = [...new Set([...COMMON, ...CLASSES.flatMap((c) => c.words), 'and', 'a'])];
  const entries = function* (): Generator<Word2VecEntry> {
    for (const w of vocab) yield [w, vectorOf(w)];
  };
  await writeWord2Vec(path.join(dir, 'vectors.bin.gz'), { vocab: vocab.length, dim: DIM }, entries(), {
    format: 'binary',
    gzip: true,
  });
}

const CONFIG = `experiment: captions-test
seed: 3
dataset: { name: folder, root: cub }
knowledge: { name: captions, textRoot: text_c10, word2vec: vectors.bin.gz }
backbone: { name: small-cnn, imageSize: 16, train: { epochs: 2 } }
methods: [{ name: niwt, map: { epochs: 50 }, maxSteps: 50 }]
`;

function stageLogger(stages: string[], warnings: string[]): Logger {
  return {
    ...silentLogger,
    warn: (m) => void warnings.push(m),
    stage: (name) => ({ end: (detail?: string) => (stages.push(`${name}: ${detail ?? ''}`), 0) }),
  };
}

describe('niwt run with the captions encoder', () => {
  it('runs end to end over CUB-named class folders and a Reed-layout text_c10 tree', async () => {
    const dir = tempDir('captions');
    await writeFixture(dir);
    const stages: string[] = [];
    const warnings: string[] = [];
    const log = stageLogger(stages, warnings);
    const exp = await composeExperiment('captions.yaml', {
      inlineText: CONFIG,
      cwd: dir,
      overrides: [`cacheDir=${path.join(dir, 'cache')}`, `tracking.uri=file:${path.join(dir, 'mlruns')}`],
      logger: log,
    });
    const r = await runExperiment(exp, log);
    expect(r.dataset).toMatchObject({ classes: 11, seen: 8, unseen: 3, testUnseen: 3 * IMAGES });
    const niwt = r.methods[0];
    for (const v of [niwt.s, niwt.u, niwt.H, niwt.zslT1]) expect(Number.isFinite(v)).toBe(true);
    const knowledge = stages.find((s) => s.startsWith('knowledge: '));
    // 11 classes × (5 images × 10 captions + 1 image × 2); "qwzx" is the one OOV type of 26, once in each 10-token
    // caption
    expect(knowledge).toBe(
      `knowledge: ${DIM} dims: captions from text_c10 via vectors.bin.gz (${DIM}-d): 66 images, 572 ` +
        `captions; OOV 10.0% of tokens, 3.8% of types`,
    );
    expect(warnings).toEqual([
      expect.stringMatching(
        /^captions: 11 of 66 caption files have fewer than 10 captions \(first: .*_0001_\d+\.txt has 2\)$/,
      ),
    ]);
    expect(readdirSync(path.join(dir, 'cache', 'knowledge-captions')).filter((d) => !d.includes('.tmp-'))).toHaveLength(
      1,
    );
    expect(readFileSync(path.join(r.location, 'params', 'knowledge.name'), 'utf8')).toBe('captions');
    expect(readFileSync(path.join(r.location, 'params', 'knowledge.textRoot'), 'utf8')).toBe('text_c10');
  }, 300_000);

  it('a word2vec file with a wrong header is a one-line error naming the file (exit 2)', async () => {
    const dir = tempDir('captions-bad');
    await writeFixture(dir);
    writeFileSync(path.join(dir, 'bad.bin'), 'GoogleNews vectors\n\u0000\u0001');
    writeFileSync(path.join(dir, 'c.yaml'), `${CONFIG.replace('vectors.bin.gz', 'bad.bin')}cacheDir: cache\n`);
    const res = await runCli(['run', 'c.yaml', '-q'], dir);
    expect(res.code).toBe(2);
    // the short-caption warning comes first; the error is one line, the last
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines.at(-1)).toBe(
      `niwt: ${path.join(dir, 'bad.bin')}: wrong header "GoogleNews vectors" at line 1; expected "<vocab ` +
        `size> <dim>\\n" (word2vec binary)`,
    );
    expect(lines.filter((l) => l.startsWith('niwt:'))).toHaveLength(1);
  }, 300_000);

  it('a changed word2vec file recomputes the class embedding and nothing else (from the cache log)', async () => {
    const dir = tempDir('captions-w2v');
    await writeFixture(dir);
    writeFileSync(path.join(dir, 'c.yaml'), `${CONFIG}cacheDir: cache\nexplain: { enabled: false }\n`);
    let seen = 0;
    const outcomes = (): Record<string, string> => {
      const lines = readFileSync(path.join(dir, 'cache', 'cache-log.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l);
      const events = lines.slice(seen).map((l) => JSON.parse(l) as CacheEvent);
      seen = lines.length;
      return Object.fromEntries(events.filter((e) => e.event !== 'miss').map((e) => [e.stage, e.event]));
    };
    const run = async (): Promise<string> => {
      const r = await runCli(['run', 'c.yaml', '-q', '--json'], dir);
      expect(r.code).toBe(0);
      const { location } = JSON.parse(r.stdout) as { location: string };
      return readFileSync(path.join(location, 'params', 'fingerprint.knowledge'), 'utf8');
    };
    const fp0 = await run();
    const all = ['knowledge-captions', 'seen-network', 'activations', 'importances'];
    expect(outcomes()).toEqual(Object.fromEntries(all.map((s) => [s, 'computed'])));
    // the same words with other vectors (a retrained word2vec): same name, new content
    const vocab = [...new Set([...COMMON, ...CLASSES.flatMap((c) => c.words), 'and', 'a'])];
    const entries = function* (): Generator<Word2VecEntry> {
      for (const w of vocab) yield [w, vectorOf(w).map((v) => -v)];
    };
    const header = { vocab: vocab.length, dim: DIM };
    await writeWord2Vec(path.join(dir, 'vectors.bin.gz'), header, entries(), { format: 'binary', gzip: true });
    const fp1 = await run();
    const reused = { 'seen-network': 'hit', activations: 'hit', importances: 'hit' };
    expect(outcomes()).toEqual({ 'knowledge-captions': 'computed', ...reused });
    expect(fp1).toMatch(/^[0-9a-f]{16}$/);
    expect(fp1).not.toBe(fp0);
    await run();
    expect(outcomes()).toEqual({ 'knowledge-captions': 'hit', ...reused });
  }, 300_000);
});
