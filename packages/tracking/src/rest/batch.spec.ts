import { describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES, splitBatches, type BatchEntity } from './batch.js';

const metric = (i: number): BatchEntity => ({
  kind: 'metric',
  item: { key: `m${i}`, value: i, timestamp: 1, step: 0 },
});

describe('splitBatches', () => {
  it('splits 150 params + 2000 metrics into 100 | 50+950 | 1000 | 50, in order', () => {
    const entities: BatchEntity[] = [
      ...Array.from({ length: 150 }, (_, i): BatchEntity => ({
        kind: 'param',
        item: { key: `p${i}`, value: String(i) },
      })),
      ...Array.from({ length: 2000 }, (_, i) => metric(i)),
    ];
    const parts = splitBatches(entities);
    expect(parts.map((p) => [p.batch.params.length, p.batch.metrics.length, p.from, p.to])).toEqual([
      [100, 0, 0, 100],
      [50, 950, 100, 1100],
      [0, 1000, 1100, 2100],
      [0, 50, 2100, 2150],
    ]);
    expect(parts.flatMap((p) => p.batch.metrics.map((m) => m.key))).toEqual(entities.slice(150).map((e) => e.item.key));
  });

  it('keeps each body under 1 MB: 100 params of 6000 and 100 tags of 5000 characters need 2 calls', () => {
    const entities: BatchEntity[] = [
      ...Array.from({ length: 100 }, (_, i): BatchEntity => ({
        kind: 'param',
        item: { key: `p${i}`, value: 'x'.repeat(6000) },
      })),
      ...Array.from({ length: 100 }, (_, i): BatchEntity => ({
        kind: 'tag',
        item: { key: `t${i}`, value: 'y'.repeat(5000) },
      })),
    ];
    const parts = splitBatches(entities);
    expect(parts).toHaveLength(2);
    for (const p of parts)
      expect(Buffer.byteLength(JSON.stringify({ run_id: 'a'.repeat(32), ...p.batch }))).toBeLessThan(
        MAX_BATCH_BYTES + 1000,
      );
    expect(parts.reduce((n, p) => n + p.batch.params.length + p.batch.tags.length, 0)).toBe(200);
  });

  it('never puts the same param key twice in one call (MLflow rejects duplicates)', () => {
    const parts = splitBatches([
      { kind: 'param', item: { key: 'a', value: '1' } },
      { kind: 'param', item: { key: 'a', value: '1' } },
    ]);
    expect(parts.map((p) => p.batch.params.length)).toEqual([1, 1]);
  });
});
