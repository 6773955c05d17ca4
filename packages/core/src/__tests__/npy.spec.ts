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
    expect(buf.subarray(10, 10 + headerLen).toString('latin1')).toMatch(/^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3,\), \} *\n$/);
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
