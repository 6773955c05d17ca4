import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasetError, FormatError } from '@niwt/core';
import { binaryRecord, readWord2Vec, writeWord2Vec, type Word2VecEntry } from '../index.js';
import { VOCAB, VOCAB_VECTORS, VOCAB_WORDS, pyWrite, tempDir } from './fixtures.js';

const entries = (): Word2VecEntry[] => VOCAB_WORDS.map((w) => [w, VOCAB[w]] as const);
const header = { vocab: VOCAB_WORDS.length, dim: 3 };
const asArrays = (m: ReadonlyMap<string, Float32Array>): Record<string, number[]> =>
  Object.fromEntries([...m].map(([k, v]) => [k, Array.from(v)]));

describe('word2vec writer (checked against the Python struct writer)', () => {
  const dir = tempDir('w2v-write');
  it.each([
    ['binary', [], { format: 'binary' as const }],
    ['binary', ['--no-newline'], { format: 'binary' as const, newline: false }],
    ['text', [], { format: 'text' as const }],
    ['text', ['--no-header'], { format: 'text' as const, header: false }],
  ])('%s %j: same bytes (binary) / same tokens and float values (text)', async (format, flags, opts) => {
    const py = pyWrite(
      path.join(dir, `py-${format}${flags.join('')}`),
      format as 'binary' | 'text',
      VOCAB_WORDS,
      VOCAB_VECTORS,
      flags,
    );
    const ts = path.join(dir, `ts-${format}${flags.join('')}`);
    await writeWord2Vec(ts, header, entries(), opts);
    if (format === 'binary') {
      expect(readFileSync(ts).equals(readFileSync(py))).toBe(true);
    } else {
      // Python prints 1.0 where JS prints 1: compare numbers as numbers
      const norm = (f: string) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .map((l) => l.split(' ').map((x) => (/^-?[\d.]+$/.test(x) ? Number(x) : x)));
      expect(norm(ts)).toEqual(norm(py));
      expect(norm(ts).length).toBe(VOCAB_WORDS.length + (flags.length ? 1 : 2));
    }
  });

  it('encodes one binary record as word, space, LE float32, newline', () => {
    expect([...binaryRecord('ab', [1, -2])]).toEqual([0x61, 0x62, 0x20, 0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0x0a]);
  });
});

describe('word2vec reader', () => {
  const dir = tempDir('w2v-read');
  const files = {
    bin: pyWrite(path.join(dir, 'v.bin'), 'binary', VOCAB_WORDS, VOCAB_VECTORS),
    binNoNl: pyWrite(path.join(dir, 'v-nonl.bin'), 'binary', VOCAB_WORDS, VOCAB_VECTORS, ['--no-newline']),
    binGz: pyWrite(path.join(dir, 'v.bin.gz'), 'binary', VOCAB_WORDS, VOCAB_VECTORS, ['--gzip']),
    txt: pyWrite(path.join(dir, 'v.txt'), 'text', VOCAB_WORDS, VOCAB_VECTORS),
    glove: pyWrite(path.join(dir, 'glove.txt'), 'text', VOCAB_WORDS, VOCAB_VECTORS, ['--no-header']),
    txtGz: pyWrite(path.join(dir, 'v.txt.gz'), 'text', VOCAB_WORDS, VOCAB_VECTORS, ['--gzip']),
  };

  it.each(Object.entries(files))('reads %s and keeps only the requested words', async (_k, file) => {
    const r = await readWord2Vec(file, ['bird', 'wings', "bird's", 'absent']);
    expect(asArrays(r.vectors)).toEqual({ bird: [1, 0, 0], wings: [0.5, 0.5, 0.5], "bird's": [-1, 1, 0] });
    expect(r.dim).toBe(3);
    expect(r.format).toBe(file.includes('.bin') ? 'binary' : 'text');
    expect(r.gzip).toBe(file.endsWith('.gz'));
    expect(r.vocabSize).toBe(file.includes('glove') ? undefined : 8);
    expect(r.stoppedEarly).toBe(false);
    expect(r.wordsScanned).toBe(8);
  });

  it.each([1, 2, 3, 5, 7, 13])('parses across chunk boundaries (chunks of %i bytes)', async (chunkBytes) => {
    for (const file of [files.bin, files.binNoNl, files.binGz, files.txt]) {
      const r = await readWord2Vec(file, VOCAB_WORDS, { chunkBytes });
      expect(asArrays(r.vectors)).toEqual(Object.fromEntries(VOCAB_WORDS.map((w) => [w, [...VOCAB[w]]])));
    }
  });

  it('stops early once every word has its exact vector', async () => {
    const r = await readWord2Vec(files.bin, ['this', 'bird']);
    expect(r.stoppedEarly).toBe(true);
    expect(r.wordsScanned).toBe(2);
  });

  it('looks up the exact word first, then a case-insensitive match (all-lowercase form preferred)', async () => {
    const f = pyWrite(
      path.join(dir, 'case.bin'),
      'binary',
      ['BIRD', 'Bird', 'bird', 'Blue', 'RED'],
      [
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 5],
      ],
    );
    const r = await readWord2Vec(f, ['Bird', 'bIRd', 'blue', 'red', 'green']);
    expect(asArrays(r.vectors)).toEqual({ Bird: [2, 2], bIRd: [3, 3], blue: [4, 4], red: [5, 5] });
    expect([r.matchedExact, r.matchedFallback]).toEqual([1, 3]);
    const strict = await readWord2Vec(f, ['Bird', 'bIRd', 'blue'], { lowercaseFallback: false });
    expect(asArrays(strict.vectors)).toEqual({ Bird: [2, 2] });
  });

  describe('bad input is a one-line FormatError naming the file', () => {
    const expectFormat = async (p: Promise<unknown>, re: RegExp): Promise<string> => {
      const e = await p.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(FormatError);
      const msg = (e as Error).message;
      expect(msg).not.toContain('\n');
      expect(msg).toMatch(re);
      return msg;
    };

    it('wrong header', async () => {
      const f = path.join(dir, 'bad-header.bin');
      writeFileSync(f, Buffer.concat([Buffer.from('vectors 300\n'), binaryRecord('a', [1, 2])]));
      const msg = await expectFormat(readWord2Vec(f, ['a']), /wrong header/);
      expect(msg).toBe(
        `${f}: wrong header "vectors 300" at line 1; expected "<vocab size> <dim>\\n" (word2vec binary)`,
      );
      const noNl = path.join(dir, 'no-newline.bin');
      writeFileSync(noNl, Buffer.alloc(1000, 0x41));
      await expectFormat(
        readWord2Vec(noNl, ['a']),
        new RegExp(`^${noNl}: wrong header "A+…" \\(no newline in the first 256 bytes\\)`),
      );
      const empty = path.join(dir, 'empty.bin');
      writeFileSync(empty, '');
      await expectFormat(readWord2Vec(empty, ['a']), new RegExp(`^${empty}: wrong header "" \\(file ends at byte 0`));
    });

    it('truncated vector: names the word and the byte offset', async () => {
      const f = path.join(dir, 'trunc.bin');
      const full = readFileSync(files.bin);
      writeFileSync(f, full.subarray(0, full.length - 5));
      await expectFormat(
        readWord2Vec(f, ["bird's", 'zzz']),
        new RegExp(
          `^${f}: truncated vector of word "bird's" \\(word 8, starting at byte \\d+\\): file ends at byte ` +
            `${full.length - 5} after 8 of 12 bytes$`,
        ),
      );
      const gz = path.join(dir, 'trunc.bin.gz');
      writeFileSync(gz, gzipSync(full.subarray(0, full.length - 5)));
      await expectFormat(readWord2Vec(gz, ['zzz']), /truncated vector of word "bird's"/);
    });

    it('fewer words than the header announces', async () => {
      const f = path.join(dir, 'short.bin');
      writeFileSync(f, Buffer.concat([Buffer.from('5 2\n'), binaryRecord('a', [1, 2])]));
      await expectFormat(
        readWord2Vec(f, ['zzz']),
        new RegExp(`^${f}: truncated: the header announces 5 words but the file ends at byte 15 after 1$`),
      );
    });

    it('dim mismatch: header vs expectation, and vectors shorter than the header says', async () => {
      await expectFormat(
        readWord2Vec(files.bin, ['bird'], { dim: 300 }),
        /: dim mismatch: the header says 3, expected 300$/,
      );
      await expectFormat(
        readWord2Vec(files.txt, ['bird'], { dim: 300 }),
        new RegExp(`^${files.txt}:1: dim mismatch: the header says 3, expected 300$`),
      );
      const f = path.join(dir, 'dim.bin');
      writeFileSync(
        f,
        Buffer.concat([
          Buffer.from('3 4\n'),
          binaryRecord('a', [0.5, 1, 2]),
          binaryRecord('b', [0.5, 1, 2]),
          binaryRecord('c', [0.5, 1, 2]),
        ]),
      );
      await expectFormat(
        readWord2Vec(f, ['zzz']),
        /is not text \(a NUL byte inside a word\); .*do not have the 4 values the header says \(dim mismatch\)$/,
      );
      const t = path.join(dir, 'dim.txt');
      writeFileSync(t, 'the 1 2 3\nbird 1 2\n');
      await expectFormat(
        readWord2Vec(t, ['bird']),
        new RegExp(`^${t}:2: word "bird" has 2 values, expected 3 \\(dim mismatch with line 1\\)$`),
      );
    });

    it('non-numeric text values name file:line', async () => {
      const t = path.join(dir, 'nan.txt');
      writeFileSync(t, '2 3\nthe 1 2 3\nbird 1 x2 3\n');
      await expectFormat(
        readWord2Vec(t, ['bird']),
        new RegExp(`^${t}:3: value 2 "x2" of word "bird" is not a number$`),
      );
    });

    it('corrupt gzip', async () => {
      const f = path.join(dir, 'corrupt.bin.gz');
      const gz = readFileSync(files.binGz);
      writeFileSync(f, Buffer.concat([gz.subarray(0, 20), Buffer.alloc(50, 7)]));
      await expectFormat(readWord2Vec(f, ['bird']), /corrupt gzip data/);
    });

    it('a missing file is a DatasetError', async () => {
      await expect(readWord2Vec(path.join(dir, 'nope.bin'), ['a'])).rejects.toThrow(DatasetError);
      await expect(readWord2Vec(path.join(dir, 'nope.bin'), ['a'])).rejects.toThrow(
        /nope\.bin: word2vec file not found/,
      );
    });
  });
});
