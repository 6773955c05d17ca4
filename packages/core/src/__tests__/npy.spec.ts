import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, decodeNpy, encodeNpy, readNpy, writeNpy } from '../index.js';

describe('.npy', () => {
  it('round-trips float32, float64 and int32 with shapes', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'npy-'));
    const f = path.join(dir, 'a.npy');
    await writeNpy(f, Float32Array.from([1.5, -2, 3, 4, 5, 6]), [2, 3]);
    const a = await readNpy(f);
    expect(a.dtype).toBe('<f4');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1.5, -2, 3, 4, 5, 6]);
    const b = decodeNpy(encodeNpy(Float64Array.from([Math.PI]), [1]));
    expect(b.shape).toEqual([1]);
    expect(b.data[0]).toBe(Math.PI);
    const c = decodeNpy(encodeNpy(Int32Array.from([7, -8]), [2]));
    expect(Array.from(c.data)).toEqual([7, -8]);
  });

  it('writes the header NumPy expects (magic, version 1.0, 64-byte aligned, dict text)', () => {
    const buf = encodeNpy(Float32Array.from([1, 2, 3]), [3]);
    expect(Array.from(buf.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLen = buf.readUInt16LE(8);
    expect((10 + headerLen) % 64).toBe(0);
    expect(buf.subarray(10, 10 + headerLen).toString('latin1')).toMatch(
      /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3,\), \} *\n$/,
    );
    expect(buf.length).toBe(10 + headerLen + 12);
  });

  it('rejects bad files with the file name', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'npy-'));
    const f = path.join(dir, 'bad.npy');
    writeFileSync(f, 'not numpy');
    await expect(readNpy(f)).rejects.toThrow(`${f}: not a .npy file (bad magic)`);
    const good = encodeNpy(Float32Array.from([1, 2, 3, 4]), [4]);
    const g = path.join(dir, 'trunc.npy');
    writeFileSync(g, good.subarray(0, good.length - 3));
    await expect(readNpy(g)).rejects.toThrow(FormatError);
    await expect(readNpy(g)).rejects.toThrow(/trunc\.npy: truncated \.npy data/);
    expect(readFileSync(f, 'utf8')).toBe('not numpy');
  });
});

describe('streamed .npy and tap sources', () => {
  it('writes rows incrementally, appears only when complete, and reads rows back by index', async () => {
    const { createNpyWriter, npyTaps, memoryTaps } = await import('../index.js');
    const { existsSync } = await import('node:fs');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'npy-'));
    const f = path.join(dir, 'tap.npy');
    const data = Float32Array.from({ length: 3 * 2 * 2 * 2 }, (_, i) => i);
    const w = createNpyWriter(f, [3, 2, 2, 2]);
    w.append(data.subarray(0, 8));
    expect(existsSync(f)).toBe(false);
    w.append(data.subarray(8));
    w.close();
    expect(Array.from((await readNpy(f)).data)).toEqual(Array.from(data));
    const src = npyTaps(f);
    expect(src.size).toBe(3);
    expect(src.shape).toEqual([2, 2, 2]);
    expect(Array.from(src.read([2, 0]))).toEqual([
      ...Array.from(data.subarray(16, 24)),
      ...Array.from(data.subarray(0, 8)),
    ]);
    src.close?.();
    expect(Array.from(memoryTaps(data, [2, 2, 2]).read([1]))).toEqual(Array.from(data.subarray(8, 16)));
    const bad = createNpyWriter(path.join(dir, 'short.npy'), [2, 2]);
    bad.append(Float32Array.from([1, 2, 3]));
    expect(() => bad.close()).toThrow(/short\.npy: wrote 3 values, the shape \[2, 2\] needs 4/);
    expect(existsSync(path.join(dir, 'short.npy'))).toBe(false);
  });
});
