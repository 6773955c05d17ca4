/** Checkpoint files (exact round trip, refusal of foreign or torn files) and the optimizer / RNG states they carry. */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Rng, ownTemporaries } from '@niwt/core';
import { Adam, FusedAdam, initBackend, readCheckpoint, writeCheckpoint, type CheckpointArray } from '../index.js';

await initBackend('wasm');

const tmp = (): string => mkdtempSync(path.join(os.tmpdir(), 'niwt-ckpt-'));
const bytes = (a: CheckpointArray): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('checkpoint files', () => {
  const arrays = new Map<string, CheckpointArray>([
    ['w', Float32Array.of(-0, 1.5, Math.fround(0.1), NaN, -Infinity)],
    ['h', Float64Array.of(Infinity, NaN, 0.1 + 0.2, -1e-308)],
    ['i', Int32Array.of(-1, 2 ** 31 - 1)],
    ['u', Uint32Array.of(0xffffffff, 7)],
    ['empty', new Float32Array(0)],
  ]);

  it('round-trips meta and every array bit for bit; no temporary is left', () => {
    const file = path.join(tmp(), 'sub', 'x.ckpt');
    const meta = { epoch: 3, acc: 0.1 + 0.2, name: 'é', stopped: false };
    writeCheckpoint(file, { fingerprint: 'abc', meta, arrays });
    expect(ownTemporaries()).toEqual([]);
    const r = readCheckpoint<typeof meta>(file, 'abc');
    if (r.status !== 'ok') throw new Error(JSON.stringify(r));
    expect(r.content.meta).toEqual(meta);
    expect([...r.content.arrays.keys()]).toEqual([...arrays.keys()]);
    for (const [k, a] of arrays) {
      const got = r.content.arrays.get(k)!;
      expect(got.constructor).toBe(a.constructor);
      expect(bytes(got).equals(bytes(a))).toBe(true);
    }
  });

  it('absent, foreign (other fingerprint), torn or not a checkpoint: reported, never thrown', () => {
    const dir = tmp();
    const file = path.join(dir, 'x.ckpt');
    expect(readCheckpoint(file, 'abc')).toEqual({ status: 'absent' });
    writeCheckpoint(file, { fingerprint: 'abc', meta: {}, arrays });
    expect(readCheckpoint(file, 'abd')).toEqual({
      status: 'ignored',
      reason: 'written for other inputs or settings (fingerprint abc, expected abd)',
    });
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 3));
    const reason = `${whole.length - 3} bytes, its header describes ${whole.length}`;
    expect(readCheckpoint(file, 'abc')).toEqual({ status: 'ignored', reason });
    writeFileSync(file, whole.subarray(0, 20));
    const torn = readCheckpoint(file, 'abc');
    expect(torn).toMatchObject({ status: 'ignored', reason: expect.stringMatching(/^unreadable/) });
    writeFileSync(file, 'hello, world');
    expect(readCheckpoint(file, 'abc')).toEqual({ status: 'ignored', reason: 'not a checkpoint file' });
  });

  it('the temporary of an interrupted write (its process is gone) is removed, not read', () => {
    const dir = tmp();
    const file = path.join(dir, 'x.ckpt');
    const stale = `${file}.tmp-4194000-abc`; // a pid above Linux's pid_max: no such process
    writeFileSync(stale, 'NIWTCKP1 half written');
    expect(readCheckpoint(file, 'abc')).toEqual({ status: 'absent' });
    expect(existsSync(stale)).toBe(false);
  });
});

describe('states that continue a run exactly', () => {
  it('Rng.fromState(getState()) continues the same stream', () => {
    const a = new Rng(11);
    for (let i = 0; i < 5; i++) a.next();
    const b = Rng.fromState(a.getState());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(Array.from({ length: 20 }, () => a.next()));
    expect(() => Rng.fromState(-1)).toThrow(RangeError);
  });

  it('Adam: 2 steps after a restored state equal 2 more steps of the original, bit for bit', () => {
    const init = Float32Array.from({ length: 7 }, (_, i) => Math.sin(i + 1));
    const target = tf.tensor1d(Float32Array.from({ length: 7 }, (_, i) => Math.cos(i)));
    const loss = (x: tf.Variable) => () => tf.sum(tf.square(tf.sub(tf.mul(x, x), target))) as tf.Scalar;
    const x = tf.variable(tf.tensor1d(init));
    const a = new Adam([x], { lr: 0.05 });
    for (let i = 0; i < 3; i++) a.step(loss(x));
    const saved = a.getState();
    const w3 = x.dataSync().slice();
    for (let i = 0; i < 2; i++) a.step(loss(x));
    const y = tf.variable(tf.tensor1d(w3));
    const b = new Adam([y], { lr: 0.05 });
    b.setState(saved);
    for (let i = 0; i < 2; i++) b.step(loss(y));
    expect(saved.step).toBe(3);
    expect(bytes(y.dataSync() as Float32Array).equals(bytes(x.dataSync() as Float32Array))).toBe(true);
    // Without the moments (a fresh Adam on the same weights) the path differs: the state matters.
    const z = tf.variable(tf.tensor1d(w3));
    const c = new Adam([z], { lr: 0.05 });
    for (let i = 0; i < 2; i++) c.step(loss(z));
    expect(bytes(z.dataSync() as Float32Array).equals(bytes(x.dataSync() as Float32Array))).toBe(false);
    const short = { step: 1, m: [new Float32Array(3)], v: [new Float32Array(3)] };
    expect(() => b.setState(short)).toThrow(/variable 0 has 7 values/);
    [a, b, c].forEach((o) => o.dispose());
    tf.dispose([x, y, z, target]);
  });

  it('FusedAdam: the same with its moments in JS memory', () => {
    const grads = (p: Float32Array): Float32Array[] => [p.map((v, i) => v - Math.cos(i))];
    const a = new FusedAdam([Float32Array.from({ length: 9 }, (_, i) => Math.sin(i))], { lr: 0.1, l2: 0.01 });
    for (let i = 0; i < 3; i++) a.step(grads(a.params[0]));
    const saved = a.getState();
    const w3 = a.params[0].slice();
    for (let i = 0; i < 2; i++) a.step(grads(a.params[0]));
    const b = new FusedAdam([w3], { lr: 0.1, l2: 0.01 });
    b.setState(saved);
    for (let i = 0; i < 2; i++) b.step(grads(b.params[0]));
    expect(bytes(b.params[0]).equals(bytes(a.params[0]))).toBe(true);
    expect(bytes(b.getState().m[0]).equals(bytes(a.getState().m[0]))).toBe(true);
    expect(b.getState().step).toBe(5);
    const c = new FusedAdam([w3], { lr: 0.1, l2: 0.01 });
    for (let i = 0; i < 2; i++) c.step(grads(c.params[0]));
    expect(bytes(c.params[0]).equals(bytes(a.params[0]))).toBe(false);
  });
});
