/**
 * Small dense float64 linear algebra for the closed-form baselines (ESZSL, SAE): row-major products,
 * Cholesky solves and the symmetric eigendecomposition (cyclic Jacobi). Sizes are the feature and
 * embedding dimensions (≤ a few thousand); nothing here allocates per element.
 */

/** Row-major dense matrix in float64. */
export interface Dense {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

export const dense = (rows: number, cols: number, data = new Float64Array(rows * cols)): Dense => ({
  rows,
  cols,
  data,
});

/** A·B, or Aᵀ·B with `transA`. */
export function mul(a: Dense, b: Dense, transA = false): Dense {
  const [n, k] = transA ? [a.cols, a.rows] : [a.rows, a.cols];
  if (k !== b.rows) throw new Error(`mul: ${n}×${k} by ${b.rows}×${b.cols}`);
  const out = dense(n, b.cols);
  const m = b.cols;
  for (let p = 0; p < k; p++) {
    const brow = b.data.subarray(p * m, (p + 1) * m);
    for (let i = 0; i < n; i++) {
      const v = transA ? a.data[p * a.cols + i] : a.data[i * a.cols + p];
      if (v === 0) continue;
      const o = i * m;
      for (let j = 0; j < m; j++) out.data[o + j] += v * brow[j];
    }
  }
  return out;
}

export function transpose(a: Dense): Dense {
  const out = dense(a.cols, a.rows);
  for (let i = 0; i < a.rows; i++) for (let j = 0; j < a.cols; j++) out.data[j * a.rows + i] = a.data[i * a.cols + j];
  return out;
}

/** A + shift·I (a copy). */
export function addDiagonal(a: Dense, shift: number): Dense {
  const out = dense(a.rows, a.cols, Float64Array.from(a.data));
  for (let i = 0; i < a.rows; i++) out.data[i * a.cols + i] += shift;
  return out;
}

/** Solves A·X = B for symmetric positive definite A (Cholesky A = LLᵀ). */
export function solveSpd(a: Dense, b: Dense): Dense {
  const n = a.rows;
  const L = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a.data[j * n + j];
    for (let k = 0; k < j; k++) d -= L[j * n + k] * L[j * n + k];
    if (!(d > 0)) throw new Error('solveSpd: matrix is not positive definite');
    const ljj = Math.sqrt(d);
    L[j * n + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      let s = a.data[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = s / ljj;
    }
  }
  const m = b.cols;
  const x = Float64Array.from(b.data);
  for (let i = 0; i < n; i++) {
    // forward: L y = b
    for (let k = 0; k < i; k++) {
      const l = L[i * n + k];
      if (l !== 0) for (let j = 0; j < m; j++) x[i * m + j] -= l * x[k * m + j];
    }
    for (let j = 0; j < m; j++) x[i * m + j] /= L[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    // backward: Lᵀ x = y
    for (let k = i + 1; k < n; k++) {
      const l = L[k * n + i];
      if (l !== 0) for (let j = 0; j < m; j++) x[i * m + j] -= l * x[k * m + j];
    }
    for (let j = 0; j < m; j++) x[i * m + j] /= L[i * n + i];
  }
  return dense(n, m, x);
}

/**
 * Symmetric eigendecomposition A = V·diag(w)·Vᵀ by cyclic Jacobi rotations (columns of V are the
 * eigenvectors), to a relative off-diagonal norm of 1e-14. O(n³) per sweep, typically 6–10 sweeps.
 */
export function symmetricEigen(a: Dense): { values: Float64Array; vectors: Dense } {
  const n = a.rows;
  const A = Float64Array.from(a.data);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  let total = 0;
  for (let i = 0; i < n * n; i++) total += A[i] * A[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += 2 * A[p * n + q] * A[p * n + q];
    if (off <= 1e-28 * total || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          // columns p, q
          const akp = A[k * n + p];
          const akq = A[k * n + q];
          A[k * n + p] = c * akp - s * akq;
          A[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          // rows p, q
          const apk = A[p * n + k];
          const aqk = A[q * n + k];
          A[p * n + k] = c * apk - s * aqk;
          A[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p];
          const vkq = V[k * n + q];
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => A[i * n + i]), vectors: dense(n, n, V) };
}

/**
 * Solves the Sylvester equation A·X + X·B = C for symmetric A (m×m) and B (n×n) through both
 * eigendecompositions: X = U [(Uᵀ C V) ⊘ (σ_i + λ_j)] Vᵀ (what scipy's `solve_sylvester` returns).
 */
export function solveSylvesterSymmetric(a: Dense, b: Dense, c: Dense): Dense {
  const ea = symmetricEigen(a);
  const eb = symmetricEigen(b);
  const t = mul(mul(ea.vectors, c, true), eb.vectors);
  for (let i = 0; i < t.rows; i++)
    for (let j = 0; j < t.cols; j++) t.data[i * t.cols + j] /= ea.values[i] + eb.values[j];
  return mul(mul(ea.vectors, t), transpose(eb.vectors));
}
