/**
 * Class attributes as domain knowledge: the dataset's class × attribute table, with missing values
 * (negative, e.g. AWA2's −1) set to 0 and an optional normalisation that is recorded in the run.
 */
import { createHash } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { z } from 'zod';
import { DatasetError, TOKENS, matrix, type ClassEmbedding, type Dataset, type KnowledgeEncoder } from '@niwt/core';

export const attributesOptions = z.strictObject({
  /** none: raw values (the NIWT release); l2: unit-L2 row per class; max: divide by the global maximum. */
  normalize: z.enum(['none', 'l2', 'max']).default('none'),
  /** Values below 0 mean "missing" in AWA2 and are replaced by this value. */
  missingValue: z.number().default(0),
});
export type AttributesOptions = z.infer<typeof attributesOptions>;

/** Applies the missing-value rule and normalisation to a class × attribute matrix (a copy). */
export function encodeAttributes(dataset: Dataset, opts: AttributesOptions): ClassEmbedding {
  const table = dataset.attributes;
  if (!table)
    throw new DatasetError(
      `${dataset.root}: dataset '${dataset.name}' ships no class attributes; choose another knowledge encoder`,
    );
  const { rows, cols } = table.matrix;
  const out = Float32Array.from(table.matrix.data, (v) => (v < 0 ? opts.missingValue : v));
  if (opts.normalize === 'l2') {
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += out[i * cols + j] ** 2;
      const n = Math.sqrt(s) || 1;
      for (let j = 0; j < cols; j++) out[i * cols + j] /= n;
    }
  } else if (opts.normalize === 'max') {
    const m = out.reduce((a, b) => Math.max(a, Math.abs(b)), 0) || 1;
    for (let i = 0; i < out.length; i++) out[i] /= m;
  }
  // the values themselves (a few KB), not the file they came from: exact, and the same wherever it lives
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ names: table.names, rows, cols, ...opts }))
    .update(new Uint8Array(table.matrix.data.buffer, table.matrix.data.byteOffset, table.matrix.data.byteLength))
    .digest('hex')
    .slice(0, 32);
  return {
    matrix: matrix(rows, cols, out),
    dimNames: [...table.names],
    description: `attributes from ${table.source}, missing→${opts.missingValue}, normalize=${opts.normalize}`,
    fingerprint,
  };
}

@injectable()
export class AttributesEncoder implements KnowledgeEncoder {
  constructor(@inject(TOKENS.options) private readonly opts: AttributesOptions) {}

  async encode(dataset: Dataset): Promise<ClassEmbedding> {
    return encodeAttributes(dataset, this.opts);
  }
}
