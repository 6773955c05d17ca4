/** Typed accessors over decoded MAT values, so callers get "expected X, found Y" messages instead of casts. */
import { FormatError, type Matrix } from '@niwt/core';
import type { MatFile, MatNumeric, MatValue } from './types.js';

function describe(v: MatValue): string {
  return `${v.kind === 'numeric' ? v.class : v.kind} ${v.dims.join('×')}`;
}

/** The variable `name`, or a FormatError naming the file and the variables it has. */
export function requireVar(mat: MatFile, name: string): MatValue {
  const v = mat.variables.get(name);
  if (!v)
    throw new FormatError(
      `${mat.file}: no variable '${name}'; found ${[...mat.variables.keys()].map((k) => `'${k}'`).join(', ')}`,
    );
  return v;
}

export function requireNumeric(mat: MatFile, name: string): MatNumeric {
  const v = requireVar(mat, name);
  if (v.kind !== 'numeric')
    throw new FormatError(`${mat.file}: variable '${name}' is ${describe(v)}; expected a numeric array`);
  return v;
}

/** A numeric variable's values as a flat array of numbers (column-major), e.g. a loc vector. */
export function matNumbers(mat: MatFile, name: string): NumericArrayLike {
  return requireNumeric(mat, name).data;
}

export type NumericArrayLike = MatNumeric['data'];

/** A scalar numeric variable. */
export function matNumber(mat: MatFile, name: string): number {
  const d = matNumbers(mat, name);
  if (d.length !== 1)
    throw new FormatError(`${mat.file}: variable '${name}' has ${d.length} values; expected a scalar`);
  return d[0];
}

/** A cell of char rows (e.g. `allclasses_names`, `image_files`) or a char matrix, as strings. */
export function matStrings(mat: MatFile, name: string): string[] {
  const v = requireVar(mat, name);
  if (v.kind === 'char') return [...v.rows];
  if (v.kind === 'cell') {
    return v.items.map((item, i) => {
      if (item.kind === 'char') return item.rows.join('');
      // Some writers wrap each string in a 1×1 cell.
      if (item.kind === 'cell' && item.items.length === 1 && item.items[0].kind === 'char')
        return item.items[0].rows.join('');
      throw new FormatError(`${mat.file}: variable '${name}'{${i + 1}} is ${describe(item)}; expected a char row`);
    });
  }
  throw new FormatError(`${mat.file}: variable '${name}' is ${describe(v)}; expected a cell of strings`);
}

/**
 * A 2-D numeric R×C variable as a row-major C×R float matrix: the MAT column j (contiguous in the
 * file's column-major order) becomes row j, with no reordering. `features` (2048×N) → N×2048.
 */
export function matMatrixRows(mat: MatFile, name: string): Matrix {
  const v = requireNumeric(mat, name);
  if (v.dims.length !== 2)
    throw new FormatError(`${mat.file}: variable '${name}' is ${describe(v)}; expected a 2-D matrix`);
  const [r, c] = v.dims;
  const data = v.data instanceof Float32Array ? v.data : Float32Array.from(v.data);
  return { rows: c, cols: r, data };
}
