import { FormatError } from './errors.js';

/** A dense row-major float matrix: the value type at package boundaries. */
export interface Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float32Array;
}

export function matrix(rows: number, cols: number, data?: Float32Array | ArrayLike<number>): Matrix {
  const d =
    data === undefined ? new Float32Array(rows * cols) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (d.length !== rows * cols) {
    throw new FormatError(`matrix ${rows}x${cols} needs ${rows * cols} values, got ${d.length}`);
  }
  return { rows, cols, data: d };
}

/** Row `i` as a view (no copy). */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Copy of the rows at `indices`, in that order. */
export function selectRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const out = new Float32Array(indices.length * m.cols);
  for (let k = 0; k < indices.length; k++) out.set(row(m, indices[k]), k * m.cols);
  return { rows: indices.length, cols: m.cols, data: out };
}

export function fromRows(rows: ArrayLike<number>[]): Matrix {
  const cols = rows.length === 0 ? 0 : rows[0].length;
  const out = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => {
    if (r.length !== cols) throw new FormatError(`row ${i} has ${r.length} values, expected ${cols}`);
    out.set(r, i * cols);
  });
  return { rows: rows.length, cols, data: out };
}

export function transpose(m: Matrix): Matrix {
  const out = new Float32Array(m.rows * m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) out[j * m.rows + i] = m.data[i * m.cols + j];
  return { rows: m.cols, cols: m.rows, data: out };
}

/** Index of the largest value in each row (first on ties). */
export function argmaxRows(m: Matrix, columns?: ArrayLike<number>): Int32Array {
  const out = new Int32Array(m.rows);
  const cols = columns ?? Array.from({ length: m.cols }, (_, j) => j);
  for (let i = 0; i < m.rows; i++) {
    let best = -Infinity;
    let arg = -1;
    const base = i * m.cols;
    for (let k = 0; k < cols.length; k++) {
      const v = m.data[base + cols[k]];
      if (v > best) {
        best = v;
        arg = cols[k];
      }
    }
    out[i] = arg;
  }
  return out;
}
