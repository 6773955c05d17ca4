/** The MAT reader against files an independent writer made: SciPy's savemat, and MATLAB files shipped with SciPy. */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FormatError } from '@niwt/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/fixtures.js';
import { dumpMat, scipyTestData, writeMat, writeMat73, type Dumped } from '../../test/scipy.js';
import { readMat } from './reader.js';
import { matMatrixRows, matStrings } from './values.js';
import type { MatValue } from './types.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir('niwt-mat-'));
});
afterAll(() => cleanup());

const errorOf = (p: Promise<unknown>): Promise<Error> =>
  p.then(
    () => new Error('no error'),
    (e: unknown) => e as Error,
  );

/** Compares our value with scipy's loadmat view (numbers, strings, cells, structs). */
function expectSame(ours: MatValue, theirs: Dumped, label: string): void {
  if (theirs.cell) {
    expect(ours.kind, label).toBe('cell');
    if (ours.kind !== 'cell') return;
    expect(ours.items.length).toBe(theirs.cell.length);
    ours.items.forEach((it, i) => expectSame(it, theirs.cell![i], `${label}{${i}}`));
  } else if (theirs.str) {
    expect(ours.kind, label).toBe('char');
    if (ours.kind === 'char') expect(ours.rows, label).toEqual(theirs.str);
  } else if (theirs.struct) {
    expect(ours.kind, label).toBe('struct');
    if (ours.kind === 'struct')
      for (const [k, v] of Object.entries(theirs.struct)) expectSame(ours.items[0][k], v, `${label}.${k}`);
  } else if (theirs.re) {
    if (ours.kind !== 'numeric') throw new Error(`${label}: not numeric`);
    expect(Array.from(ours.data), label).toEqual(theirs.re);
    expect(Array.from(ours.imag ?? []), label).toEqual(theirs.im);
  } else if (theirs.data) {
    if (ours.kind === 'sparse') {
      const dense = new Array<number>(ours.dims[0] * ours.dims[1]).fill(0);
      for (let c = 0; c < ours.dims[1]; c++)
        for (let k = ours.jc[c]; k < ours.jc[c + 1]; k++) dense[ours.ir[k] + ours.dims[0] * c] = ours.data[k];
      expect(dense, label).toEqual(theirs.data.map(Number));
      return;
    }
    if (ours.kind !== 'numeric') throw new Error(`${label}: ${ours.kind}, expected numeric`);
    expect([...ours.dims], label).toEqual(theirs.shape);
    expect(Array.from(ours.data, Number), label).toEqual(theirs.data.map(Number));
  }
}

describe.each([true, false])('SciPy savemat files (compressed: %s)', (compress) => {
  it('reads numeric classes, column-major matrices, cells of strings, structs and chars as scipy does', async () => {
    const file = path.join(dir, `mixed-${compress}.mat`);
    writeMat(
      file,
      {
        m: { dtype: 'float64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5] },
        f: { dtype: 'float32', shape: [1, 3], data: [0.5, -1, 3] },
        u8: { dtype: 'uint8', shape: [4, 1], data: [1, 2, 250, 38] },
        u16: { dtype: 'uint16', shape: [3, 1], data: [65535, 1, 7] },
        i32: { dtype: 'int32', shape: [1, 2], data: [-5, 2 ** 31 - 1] },
        i64: { dtype: 'int64', shape: [1, 2], data: [-3, 2 ** 40] },
        names: { cellstr: ['antelope', 'grizzly+bear', 'größe ünïcode', ''] },
        one: { char: 'x' },
        s: { struct: { a: { char: 'hi' }, b: { dtype: 'float64', shape: [1, 1], data: [2] } } },
        big: { random: { shape: [50, 300], seed: 3 } },
      },
      compress,
    );
    const mat = await readMat(file);
    const ref = dumpMat(file);
    for (const [name, theirs] of Object.entries(ref)) expectSame(mat.variables.get(name)!, theirs, name);
    expect(mat.header.littleEndian).toBe(true);
    const m = mat.variables.get('m')!;
    expect(m.kind === 'numeric' && m.class).toBe('double');
    // column-major: column j of a 2×3 is contiguous, so it becomes row j of the 3×2 result
    expect(Array.from(matMatrixRows(mat, 'm').data)).toEqual([1, 2, 3, 4, 5, 6.5]);
    expect(matStrings(mat, 'names')).toEqual(['antelope', 'grizzly+bear', 'größe ünïcode', '']);
    const i64 = mat.variables.get('i64')!;
    expect(i64.kind === 'numeric' && i64.data).toBeInstanceOf(Float64Array);
  });

  it('decodes doubles as Float32Array when asked, and skips unwanted variables', async () => {
    const file = path.join(dir, `f32-${compress}.mat`);
    writeMat(
      file,
      {
        features: { random: { shape: [16, 9], seed: 1 } },
        labels: { dtype: 'uint8', shape: [9, 1], data: [1, 1, 2, 2, 3, 3, 1, 2, 3] },
      },
      compress,
    );
    const all = await readMat(file, { float32: true });
    const f = all.variables.get('features')!;
    expect(f.kind === 'numeric' && f.data).toBeInstanceOf(Float32Array);
    const ref = dumpMat(file).features.data!;
    expect(Array.from((f as { data: Float32Array }).data)).toEqual(ref.map((x) => Math.fround(x)));
    const only = await readMat(file, { variables: ['labels'] });
    expect([...only.variables.keys()]).toEqual(['labels']);
    expect(only.dims.get('features')).toEqual([16, 9]);
  });
});

describe('MATLAB-written files (shipped with SciPy)', () => {
  it.each([
    'testcell_6.1_SOL2.mat',
    'teststruct_6.1_SOL2.mat',
    'testcomplex_6.1_SOL2.mat',
    'teststringarray_6.1_SOL2.mat',
    'testsparse_6.1_SOL2.mat',
    'testcellnest_7.4_GLNX86.mat',
    'teststruct_7.4_GLNX86.mat',
    'testmatrix_7.4_GLNX86.mat',
    'teststringarray_7.4_GLNX86.mat',
    'testsparse_7.4_GLNX86.mat',
    'testonechar_7.4_GLNX86.mat',
    'big_endian.mat',
    'little_endian.mat',
  ])('%s (big-endian SOL2 files included) reads as scipy reads it', async (name) => {
    const file = scipyTestData(name);
    const mat = await readMat(file);
    expect(mat.header.littleEndian).toBe(!name.includes('SOL2') && name !== 'big_endian.mat');
    for (const [k, theirs] of Object.entries(dumpMat(file))) expectSame(mat.variables.get(k)!, theirs, `${name}:${k}`);
  });

  it('reads a MATLAB-written v7.3 (HDF5) file through h5wasm', async () => {
    const mat = await readMat(scipyTestData('testhdf5_7.4_GLNX86.mat'));
    const v = mat.variables.get('testdouble')!;
    expect(v.kind === 'numeric' && [v.dims, Array.from(v.data)]).toEqual([
      [1, 9],
      Array.from({ length: 9 }, (_, i) => (i * Math.PI) / 4),
    ]);
  });
});

describe("v7.3 (HDF5) files in MATLAB's layout, written by h5py", () => {
  it(
    'numeric (column-major, transposed in HDF5), uint16, cells of strings, structs; float32; variable ' + 'filter',
    async () => {
      const file = path.join(dir, 'v73.mat');
      writeMat73(file, {
        m: { dtype: 'float64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6.5] },
        u: { dtype: 'uint16', shape: [3, 1], data: [7, 8, 65535] },
        names: { cellstr: ['antelope', 'grizzly+bear'] },
        s: { struct: { x: { char: 'hi' } } },
      });
      const mat = await readMat(file);
      expect(mat.header.version).toBe(0x0200);
      const m = mat.variables.get('m')!;
      expect(m.kind === 'numeric' && [m.dims, Array.from(m.data)]).toEqual([
        [2, 3],
        [1, 2, 3, 4, 5, 6.5],
      ]);
      const u = mat.variables.get('u')!;
      expect(u.kind === 'numeric' && [u.class, Array.from(u.data)]).toEqual(['uint16', [7, 8, 65535]]);
      expect(matStrings(mat, 'names')).toEqual(['antelope', 'grizzly+bear']);
      const s = mat.variables.get('s')!;
      expect(s.kind === 'struct' && s.items[0].x).toEqual({ kind: 'char', dims: [1, 2], rows: ['hi'] });
      const only = await readMat(file, { variables: ['m'], float32: true });
      expect([...only.variables.keys()]).toEqual(['m']);
      expect((only.variables.get('m') as { data: unknown }).data).toBeInstanceOf(Float32Array);
    },
  );

  it('a truncated v7.3 file is a FormatError naming it', async () => {
    const file = path.join(dir, 'v73.mat');
    const cut = path.join(dir, 'v73-cut.mat');
    await writeFile(cut, (await readFile(file)).subarray(0, 700));
    const e = await errorOf(readMat(cut));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(
      new RegExp(
        `^${cut}: MATLAB v7.3 MAT-file \\(HDF5\\) that HDF5 cannot (open|read) \\(.*\\); the file may be truncated`,
      ),
    );
  });
});

describe('broken files: one-line FormatError naming the file (and variable, offset)', () => {
  let good: string;
  beforeAll(async () => {
    good = path.join(dir, 'good.mat');
    writeMat(good, {
      att: { random: { shape: [85, 50], seed: 2 } },
      labels: { dtype: 'uint16', shape: [3, 1], data: [1, 2, 3] },
    });
  });

  it('truncated in the middle of a compressed variable', async () => {
    const bytes = await readFile(good);
    const file = path.join(dir, 'truncated.mat');
    await writeFile(file, bytes.subarray(0, 128 + 8 + 2000));
    const e = await errorOf(readMat(file));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(
      new RegExp(
        String.raw`^.*truncated\.mat: variable 'att' \(element at offset 128\): truncated MAT-file: the ` +
          String.raw`element declares \d+ bytes but the file ends after 2000$`,
      ),
    );
    expect(e.message).not.toContain('\n');
  });

  it('truncated inside an uncompressed variable', async () => {
    const plain = path.join(dir, 'plain.mat');
    writeMat(plain, { att: { random: { shape: [85, 50], seed: 2 } } }, false);
    const file = path.join(dir, 'truncated-plain.mat');
    await writeFile(file, (await readFile(plain)).subarray(0, 1000));
    const e = await errorOf(readMat(file));
    expect(e.message).toMatch(
      new RegExp(
        String.raw`truncated-plain\.mat: variable 'att' \(element at offset 128\): truncated MAT-file: the ` +
          String.raw`element declares 34048 bytes but the file ends after 864$`,
      ),
    );
  });

  it('shorter than the header', async () => {
    const file = path.join(dir, 'short.mat');
    await writeFile(file, (await readFile(good)).subarray(0, 100));
    expect((await errorOf(readMat(file))).message).toBe(
      `${file}: truncated MAT-file (100 bytes, shorter than the 128-byte header); expected a MATLAB Level-5 MAT-file`,
    );
  });

  it('corrupt zlib data', async () => {
    const file = path.join(dir, 'corrupt.mat');
    const bytes = Buffer.from(await readFile(good));
    for (let i = 200; i < 260; i++) bytes[i] ^= 0x5a;
    await writeFile(file, bytes);
    const e = await errorOf(readMat(file));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message).toMatch(
      /corrupt\.mat: (variable 'att' )?\(element at offset 128\): corrupt compressed data \(zlib: .+\)$/,
    );
  });

  it("scipy's corrupted_zlib_data.mat", async () => {
    const file = path.join(dir, 'corrupted_zlib_data.mat');
    await copyFile(scipyTestData('corrupted_zlib_data.mat'), file);
    const e = await errorOf(readMat(file));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.message.startsWith(`${file}:`)).toBe(true);
  });

  it('not a MAT-file, missing file, missing variable', async () => {
    const file = path.join(dir, 'text.mat');
    await writeFile(file, 'x'.repeat(200));
    expect((await errorOf(readMat(file))).message).toBe(
      `${file}: not a MATLAB Level-5 MAT-file (header does not start with "MATLAB 5.0 MAT-file")`,
    );
    expect((await errorOf(readMat(path.join(dir, 'nope.mat')))).message).toBe(
      `${path.join(dir, 'nope.mat')}: file not found; expected a MATLAB Level-5 MAT-file`,
    );
    expect((await errorOf(readMat(good, { variables: ['features'] }))).message).toBe(
      `${good}: no variable 'features'; found none of them`,
    );
  });
});
