import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Container } from 'inversify';
import { DatasetError, PluginRegistry, TOKENS, type PluginSpec, type RunContext } from '@niwt/core';
import {
  CaptionsEncoder,
  alternateCubSpelling,
  canonicalClassKey,
  captionsOptions,
  domainKnowledgeModule,
  encodeCaptions,
  parseCaptions,
  stopWordSet,
  tokenize,
  type CaptionsEmbedding,
} from '../index.js';
import { FIXTURE, recordingLogger, writeCaptionFixture, type FixtureClass } from './captions-fixture.js';
import { VOCAB_VECTORS, VOCAB_WORDS, pyWrite, tempDir } from './fixtures.js';

describe('CUB class-name spellings', () => {
  it('maps the 17 CUB_200_2011 names to Reed’s and back, keeping the NNN. prefix', () => {
    expect(alternateCubSpelling('009.Brewer_Blackbird')).toBe('009.Brewers_Blackbird');
    expect(alternateCubSpelling('009.Brewers_Blackbird')).toBe('009.Brewer_Blackbird');
    expect(alternateCubSpelling('126.Nelson_Sharp_tailed_Sparrow')).toBe('126.Nelsons_Sparrow');
    expect(alternateCubSpelling('Harriss_Sparrow')).toBe('Harris_Sparrow');
    expect(alternateCubSpelling('001.Black_footed_Albatross')).toBeUndefined();
  });

  it('gives one canonical key to every spelling of a class', () => {
    for (const v of ['022.Chuck_will_Widow', '022.Chuck_wills_Widow', 'Chuck_will_Widow', 'chuck will widow'])
      expect(canonicalClassKey(v)).toBe('chuck_will_widow');
    expect(canonicalClassKey('124.Le_Contes_Sparrow')).toBe('le_conte_sparrow');
  });
});

describe('caption reading and tokenizing', () => {
  it('decodes leniently, turns \\uFFFD\\uFFFD into a space, skips empty lines, keeps the first N', () => {
    const bytes = Buffer.concat([
      Buffer.from('a red\n\n  \nbird'),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('x\r\nwing'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('s\nfour\nfive\n'),
    ]);
    const f = parseCaptions(bytes, 4);
    expect(f.captions).toEqual(['a red', 'bird\uFFFD(x', 'wing s', 'four']);
    expect(f.nonEmpty).toBe(5);
  });

  it('lowercases, splits on non-letters/digits, keeps apostrophes inside words', () => {
    expect(tokenize("The bird's 2nd WING-tips; 'quoted' rock’s 10cm.", { lowercase: true })).toEqual([
      'the',
      "bird's",
      '2nd',
      'wing',
      'tips',
      'quoted',
      "rock's",
      '10cm',
    ]);
    expect(tokenize('Red Bird', { lowercase: false })).toEqual(['Red', 'Bird']);
    expect(tokenize('The bird has a red crown', { lowercase: true, stopWords: stopWordSet(true) })).toEqual([
      'bird',
      'red',
      'crown',
    ]);
    expect(tokenize('The bird has', { lowercase: false, stopWords: stopWordSet(['BIRD']) })).toEqual(['The', 'has']);
    expect(stopWordSet(false)).toBeUndefined();
  });
});

describe('captions encoder', () => {
  const root = tempDir('captions');
  const dataset = writeCaptionFixture(root);
  pyWrite(path.join(root, 'vectors.bin'), 'binary', VOCAB_WORDS, VOCAB_VECTORS);
  pyWrite(path.join(root, 'vectors.bin.gz'), 'binary', VOCAB_WORDS, VOCAB_VECTORS, ['--gzip']);
  pyWrite(path.join(root, 'vectors.txt'), 'text', VOCAB_WORDS, VOCAB_VECTORS);
  const run = (cache: string): RunContext => ({
    seed: 0,
    baseDir: root,
    cacheDir: path.join(root, cache),
    runDir: path.join(root, 'run'),
  });
  const opts = (o: Record<string, unknown> = {}) =>
    captionsOptions.parse({ textRoot: 'text_c10', word2vec: 'vectors.bin', ...o });

  // Hand-computed (vectors in fixtures.ts VOCAB; "is", "the", "a", "zzz", "qqq" are out of vocabulary; "blue" → "Blue"
  // by the lowercase fallback): class 0: image 1 = mean(mean(this,bird,red), mean(small,wings)) = mean([1/3,2/3,1/3],
  // [1.25,1.25,1.25]) image 2 = mean(mean(bird,has,Blue), 9 × bird) = mean([1/3,0,1], 9 × [1,0,0]) = [(1/3+9)/10, 0,
  // 0.1] (captions 11–12 dropped)
  const img01 = [(1 / 3 + 1.25) / 2, (2 / 3 + 1.25) / 2, (1 / 3 + 1.25) / 2];
  const img02 = [(1 / 3 + 9) / 10, 0, 0.1];
  const EXPECTED = [
    img01.map((v, d) => (v + img02[d]) / 2), // [0.8625, 0.47916…, 0.44583…]
    [-0.25, 0.75, 0.25], // mean(bird's, wings); the image without a caption file is skipped
    [0, 2, 0], // "zzz qqq" has no in-vocabulary word: only "Red" counts
    [1, 1, 1.5], // mean(this, small)
  ];
  const expectMatrix = (e: CaptionsEmbedding) => {
    expect([e.matrix.rows, e.matrix.cols]).toEqual([4, 3]);
    EXPECTED.flat().forEach((v, i) => expect(e.matrix.data[i]).toBeCloseTo(v, 6));
  };

  it('gives the hand-computed class means, names the dims, reports OOV rates and warns once per problem', async () => {
    const log = recordingLogger();
    const e = await encodeCaptions(dataset, opts(), run('cache-a'), log);
    expectMatrix(e);
    expect(Array.from(e.matrix.data.subarray(0, 3)).map((v) => +v.toFixed(6))).toEqual([0.8625, 0.479167, 0.445833]);
    expect(e.dimNames).toEqual(['w2v[0]', 'w2v[1]', 'w2v[2]']);
    const s = e.stats;
    expect([s.tokens, s.oovTokens, s.types, s.oovTypes]).toEqual([27, 5, 13, 5]);
    expect(s.tokenOovRate).toBeCloseTo(5 / 27, 10);
    expect(s.typeOovRate).toBeCloseTo(5 / 13, 10);
    expect([s.images, s.imagesWithoutFile, s.captions, s.shortFiles, s.imagesWithoutWords]).toEqual([7, 1, 17, 5, 0]);
    expect([s.matchedExact, s.matchedFallback]).toEqual([7, 1]);
    expect(s.cached).toBe(false);
    expect(s.perClass.map((c) => [c.textFolder, c.images, c.imagesUsed])).toEqual([
      ['009.Brewers_Blackbird', 2, 2],
      ['067.Anna_Hummingbird', 1, 1],
      ['139.Scarlet_Tanager', 1, 1],
      ['123.Henslow_Sparrow', 2, 2],
    ]);
    expect(e.description).toBe(
      'captions from text_c10 via vectors.bin (3-d): 6 images, 17 captions; OOV 18.5% of tokens, 38.5% of types',
    );
    expect(log.warnings).toEqual([
      expect.stringMatching(/^captions: 5 of 6 caption files have fewer than 10 captions \(first: .*\.txt has [12]\)$/),
      `captions: 1 images have no caption file and are skipped (first: ` +
        `${path.join(root, 'text_c10/067.Anna_Hummingbird/Anna_Hummingbird_0002_2.txt')})`,
    ]);
  });

  it('gives the same vectors from .bin.gz and text word2vec files', async () => {
    expectMatrix(
      await encodeCaptions(dataset, opts({ word2vec: 'vectors.bin.gz' }), run('cache-gz'), recordingLogger()),
    );
    expectMatrix(await encodeCaptions(dataset, opts({ word2vec: 'vectors.txt' }), run('cache-txt'), recordingLogger()));
  });

  it('caches the class embedding: a rerun reads neither the captions nor the word2vec file', async () => {
    const file = path.join(root, 'cached.bin');
    pyWrite(file, 'binary', VOCAB_WORDS, VOCAB_VECTORS);
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    const first = await encodeCaptions(dataset, opts({ word2vec: 'cached.bin' }), run('cache-b'), recordingLogger());
    expect(first.stats.cached).toBe(false);
    // same size and mtime, garbage content: a re-read would fail with a FormatError
    const size = statSync(file).size;
    writeFileSync(file, Buffer.alloc(size, 0x41));
    utimesSync(file, 1_700_000_000, 1_700_000_000);
    const second = await encodeCaptions(dataset, opts({ word2vec: 'cached.bin' }), run('cache-b'), recordingLogger());
    expect(second.stats.cached).toBe(true);
    expect(Array.from(second.matrix.data)).toEqual(Array.from(first.matrix.data));
    expect(second.description).toBe(first.description.replace('vectors.bin', 'cached.bin'));
    expect(readFileSync(path.join(second.stats.cacheDir, 'stats.json'), 'utf8')).toContain('"tokenOovRate"');
    // another option, or a changed word2vec file, misses the cache
    await expect(
      encodeCaptions(dataset, opts({ word2vec: 'cached.bin', maxCaptions: 9 }), run('cache-b'), recordingLogger()),
    ).rejects.toThrow(/cached\.bin: wrong header/);
  });

  it('options are strict, with documented defaults', () => {
    expect(captionsOptions.parse({ textRoot: 't', word2vec: 'w.bin' })).toEqual({
      textRoot: 't',
      word2vec: 'w.bin',
      format: 'auto',
      maxCaptions: 10,
      lowercase: true,
      lowercaseFallback: true,
      stopWords: false,
    });
    expect(() => captionsOptions.parse({ textRoot: 't', word2vec: 'w', maxCaption: 3 })).toThrow(/maxCaption/);
    expect(() => captionsOptions.parse({ word2vec: 'w' })).toThrow(/textRoot/);
  });

  describe('classes without captions are a DatasetError naming the class and folder', () => {
    const bad = (name: string, classes: FixtureClass[]) => {
      const dir = tempDir(`captions-${name}`);
      const ds = writeCaptionFixture(dir, classes);
      pyWrite(path.join(dir, 'v.bin'), 'binary', VOCAB_WORDS, VOCAB_VECTORS);
      const r: RunContext = { seed: 0, baseDir: dir, cacheDir: path.join(dir, 'cache'), runDir: dir };
      return {
        dir,
        go: () =>
          encodeCaptions(ds, captionsOptions.parse({ textRoot: 'text_c10', word2vec: 'v.bin' }), r, recordingLogger()),
      };
    };

    it('no caption folder', async () => {
      const { dir, go } = bad('nofolder', [
        FIXTURE[3],
        { name: 'Cardinal', imageFolder: '017.Cardinal', images: { c: undefined } },
      ]);
      await expect(go()).rejects.toThrow(DatasetError);
      await expect(go()).rejects.toThrow(
        `${path.join(dir, 'text_c10')}: no caption folder for class "Cardinal" (image folder ` +
          `"017.Cardinal"); tried 017.Cardinal, any folder named like "cardinal"`,
      );
    });

    it('a folder without caption files', async () => {
      const { dir, go } = bad('nofiles', [
        FIXTURE[3],
        {
          name: 'Cardinal',
          imageFolder: 'Cardinal',
          textFolder: '017.Cardinal',
          images: { c1: undefined, c2: undefined },
        },
      ]);
      await expect(go()).rejects.toThrow(
        `${path.join(dir, 'text_c10/017.Cardinal')}: class "Cardinal" has no captions: none of its 2 images ` +
          `has a caption file (e.g. c1.txt)`,
      );
    });

    it('only empty caption files', async () => {
      const { dir, go } = bad('empty', [
        FIXTURE[3],
        { name: 'Cardinal', imageFolder: 'Cardinal', textFolder: 'Cardinal', images: { c1: '\n\n' } },
      ]);
      await expect(go()).rejects.toThrow(
        `${path.join(dir, 'text_c10/Cardinal')}: class "Cardinal" has no captions: its 1 caption files hold ` +
          `no non-empty line`,
      );
    });

    it('no in-vocabulary word', async () => {
      const { dir, go } = bad('oov', [
        FIXTURE[3],
        { name: 'Cardinal', imageFolder: 'Cardinal', textFolder: 'Cardinal', images: { c1: 'zzz qqq\n', c2: 'the\n' } },
      ]);
      await expect(go()).rejects.toThrow(
        `${path.join(dir, 'text_c10/Cardinal')}: class "Cardinal" has no in-vocabulary words: all 3 tokens ` +
          `of its 2 captions are missing from ${path.join(dir, 'v.bin')}`,
      );
    });

    it('a missing text root or word2vec file', async () => {
      const { dir, go } = bad('root', [FIXTURE[3]]);
      const r: RunContext = { seed: 0, baseDir: dir, cacheDir: path.join(dir, 'cache'), runDir: dir };
      await expect(
        encodeCaptions(
          writeCaptionFixture(dir, [FIXTURE[3]]),
          opts({ textRoot: 'nope', word2vec: 'v.bin' }),
          r,
          recordingLogger(),
        ),
      ).rejects.toThrow(`${path.join(dir, 'nope')}: caption folder not found`);
      await expect(
        encodeCaptions(writeCaptionFixture(dir, [FIXTURE[3]]), opts({ word2vec: 'nope.bin' }), r, recordingLogger()),
      ).rejects.toThrow(`${path.join(dir, 'nope.bin')}: word2vec file not found`);
      expect(go).toBeTypeOf('function');
    });
  });

  it('is registered as knowledge:captions and built with injected options, run context and logger', async () => {
    const container = new Container();
    container.load(domainKnowledgeModule);
    const log = recordingLogger();
    container.bind(TOKENS.logger).toConstantValue(log);
    container.bind(TOKENS.runContext).toConstantValue(run('cache-di'));
    const registry = new PluginRegistry(container);
    const spec = container
      .getAll<PluginSpec>(TOKENS.pluginSpec)
      .find((s) => s.group === 'knowledge' && s.name === 'captions')!;
    expect(spec.impl).toBe(CaptionsEncoder);
    const enc = registry.create(spec, opts()) as CaptionsEncoder;
    expectMatrix(await enc.encode(dataset));
    expect(log.warnings.length).toBe(2);
  });
});
