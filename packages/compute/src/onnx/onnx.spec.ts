import { describe, expect, it } from 'vitest';
import { Rng } from '@niwt/core';
import { OnnxGraph } from './graph.js';
import { ProtoMessage } from './proto.js';
import { OrtProgram, loadOnnxRuntime } from './runtime.js';

const randn = (rng: Rng, n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());

describe('protobuf writer', () => {
  it('encodes varints, negative int64s, floats, strings and nested messages as the protobuf spec does', () => {
    // protobuf docs: field 1 = 150 → 08 96 01; a negative int64 takes 10 bytes.
    expect([...new ProtoMessage().int(1, 150).toBytes()]).toEqual([0x08, 0x96, 0x01]);
    expect([...new ProtoMessage().int(3, -1).toBytes()]).toEqual([
      0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    expect([...new ProtoMessage().float(2, 1.5).toBytes()]).toEqual([0x15, 0x00, 0x00, 0xc0, 0x3f]);
    expect([...new ProtoMessage().string(2, 'testing').toBytes()]).toEqual([
      0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67,
    ]);
    const inner = new ProtoMessage().int(1, 150);
    expect([...new ProtoMessage().message(3, inner).toBytes()]).toEqual([0x1a, 0x03, 0x08, 0x96, 0x01]);
  });
});

describe('OnnxGraph on onnxruntime', () => {
  it('loads onnxruntime-node (installed as an optional dependency here)', async () => {
    expect(await loadOnnxRuntime()).toBeDefined();
  });

  it(
    'runs a dense layer and a conv with int, float, string and negative attributes, matching hand ' + 'computation',
    async () => {
      const rng = new Rng(3);
      const [B, I, O] = [3, 5, 4];
      const g = new OnnxGraph('test');
      const x = g.input('x', ['batch', I]);
      const wd = { w: randn(rng, I * O), b: randn(rng, O), k: randn(rng, 3 * 2 * 9) };
      const w = g.initializer('w', wd.w, [I, O]);
      const b = g.initializer('b', wd.b, [O]);
      const y = g.op('LeakyRelu', [g.op('Add', [g.op('MatMul', [x, w]), b])], { alpha: { f: 0.25 } });
      const sm = g.op('Softmax', [y], { axis: { i: -1 } });
      g.output(y, ['batch', O]);
      g.output(sm, ['batch', O]);
      // conv: NCHW 1×2×4×4, OIHW 3×2×3×3, SAME_UPPER padding, then reshape with an int64 shape constant
      const img = g.input('img', [1, 2, 4, 4]);
      const k = g.initializer('k', wd.k, [3, 2, 3, 3]);
      const conv = g.op('Conv', [img, k], {
        auto_pad: { s: 'SAME_UPPER' },
        kernel_shape: { ints: [3, 3] },
        strides: { ints: [1, 1] },
      });
      const flat = g.op('Reshape', [conv, g.int64s([1, -1])]);
      g.output(flat, [1, 48]);

      const xs = randn(rng, B * I);
      const im = randn(rng, 32);
      const prog = await OrtProgram.create(g, { threads: 1 });
      const out = await prog.run({ x: { data: xs, dims: [B, I] }, img: { data: im, dims: [1, 2, 4, 4] } });
      await prog.dispose();

      for (let n = 0; n < B; n++) {
        const z = Array.from({ length: O }, (_, o) => {
          let s = wd.b[o];
          for (let i = 0; i < I; i++) s += xs[n * I + i] * wd.w[i * O + o];
          return s > 0 ? s : 0.25 * s;
        });
        const e = z.map((v) => Math.exp(v - Math.max(...z)));
        const sum = e.reduce((a, c) => a + c, 0);
        for (let o = 0; o < O; o++) {
          expect(out[y].data[n * O + o]).toBeCloseTo(z[o], 5);
          expect(out[sm].data[n * O + o]).toBeCloseTo(e[o] / sum, 5);
        }
      }
      // direct 3×3 same convolution, cross-correlation as ONNX defines it
      const kd = wd.k;
      for (let o = 0; o < 3; o++)
        for (let r = 0; r < 4; r++)
          for (let c = 0; c < 4; c++) {
            let s = 0;
            for (let ci = 0; ci < 2; ci++)
              for (let dr = -1; dr <= 1; dr++)
                for (let dc = -1; dc <= 1; dc++) {
                  const rr = r + dr;
                  const cc = c + dc;
                  if (rr < 0 || rr > 3 || cc < 0 || cc > 3) continue;
                  s += im[ci * 16 + rr * 4 + cc] * kd[((o * 2 + ci) * 3 + dr + 1) * 3 + dc + 1];
                }
            expect(out[flat].data[o * 16 + r * 4 + c]).toBeCloseTo(s, 4);
          }
      expect(out[flat].dims).toEqual([1, 48]);
    },
  );

  it('refuses a malformed model with a BackendError naming the model', async () => {
    const g = new OnnxGraph('broken');
    const x = g.input('x', [2, 3]);
    g.output(g.op('MatMul', [x, g.constant([1, 2], [2, 1])]), [2, 1]);
    await expect(OrtProgram.create(g)).rejects.toThrow(/onnxruntime rejected the model 'broken'/);
  });
});
