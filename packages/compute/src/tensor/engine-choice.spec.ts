import { describe, expect, it } from 'vitest';
import { chooseEngine, ENGINE_TABLE, SWITCH_MARGIN, type EngineTable } from './engine-choice.js';

const table = (jobs: EngineTable['jobs']): EngineTable => ({
  machine: 'test',
  measured: '2026-01-01',
  commands: [],
  jobs,
});

describe('chooseEngine', () => {
  it('picks the fastest by the geometric mean of the per-network ratios, and says by how much', () => {
    // tensorflow/onnx: 2 and 0.5 → geometric mean 1 (a tie: the default stays); 2 and 1.5 → √3 ≈ 1.73
    const tie = table({ forward: { onnx: { a: 1, b: 4 }, tensorflow: { a: 2, b: 2 } }, finetune: {}, stageD: {} });
    expect(chooseEngine('forward', ['onnx', 'tensorflow'], tie).engine).toBe('onnx');
    const win = table({ forward: { onnx: { a: 1, b: 2 }, tensorflow: { a: 2, b: 3 } }, finetune: {}, stageD: {} });
    const c = chooseEngine('forward', ['onnx', 'tensorflow'], win);
    expect(c.engine).toBe('tensorflow');
    expect(c.why).toContain('1.7× onnx');
  });

  it(`keeps the default unless another engine is ${SWITCH_MARGIN}× faster`, () => {
    const close = table({ forward: {}, finetune: {}, stageD: { onnx: { x: 1 }, tensorflow: { x: 1.05 } } });
    const c = chooseEngine('stageD', ['onnx', 'tensorflow'], close);
    expect(c.engine).toBe('onnx');
    expect(c.why).toContain('switching margin');
    expect(chooseEngine('stageD', ['tensorflow', 'onnx'], close).engine).toBe('tensorflow');
  });

  it('ignores engines that are not available or not measured', () => {
    const t = table({ forward: { onnx: { a: 1 }, tensorflow: { a: 5 } }, finetune: {}, stageD: {} });
    expect(chooseEngine('forward', ['onnx', 'wasm'], t).engine).toBe('onnx');
    const none = { engine: 'wasm', why: 'no measurement for forward; first available' };
    expect(chooseEngine('forward', ['wasm'], t)).toEqual(none);
    expect(() => chooseEngine('forward', [], t)).toThrow(/no engine available/);
  });

  it('the committed table prefers native TensorFlow over WASM for fine-tuning and onnxruntime for forward', () => {
    const c = chooseEngine('finetune', ['wasm', 'tensorflow'], ENGINE_TABLE);
    expect(c.engine).toBe('tensorflow');
    expect(c.why).toMatch(/finetune on tensorflow: measured 7\.\d× wasm/);
    expect(chooseEngine('forward', ['onnx', 'tensorflow'], ENGINE_TABLE).engine).toBe('onnx');
  });
});
