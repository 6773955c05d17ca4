/**
 * The INDEPENDENT MAT writer of the specs: SciPy's `savemat`, run from the venv that
 * scripts/scipy-venv.sh creates once under .cache/ (cached between runs).
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let python: string | undefined;

/** The venv's python (creating the venv on first use). */
export function scipyPython(): string {
  python ??= execFileSync(path.join(REPO, 'scripts/scipy-venv.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .trim()
    .split('\n')
    .pop()!;
  return python;
}

export type MatSpec =
  | { readonly dtype: string; readonly shape: readonly number[]; readonly data: readonly number[] }
  | { readonly cellstr: readonly string[]; readonly shape?: readonly number[] }
  | { readonly char: string }
  | {
      readonly random: {
        readonly shape: readonly number[];
        readonly seed?: number;
        readonly dtype?: string;
        readonly relu?: boolean;
        readonly scale?: number;
      };
    }
  | { readonly struct: Readonly<Record<string, MatSpec>> };

/** Writes `vars` to `file` with scipy.io.savemat (compressed unless `compress: false`). */
export function writeMat(file: string, vars: Readonly<Record<string, MatSpec>>, compress = true): void {
  execFileSync(
    scipyPython(),
    [path.join(REPO, 'scripts/scipy-mat.py'), 'write', file, ...(compress ? [] : ['--no-compress'])],
    {
      input: JSON.stringify(vars),
      stdio: ['pipe', 'inherit', 'inherit'],
    },
  );
}

/** Writes `vars` as a MATLAB v7.3 (HDF5) file with h5py, in MATLAB's layout (scripts/scipy-mat.py write73). */
export function writeMat73(file: string, vars: Readonly<Record<string, MatSpec>>): void {
  execFileSync(scipyPython(), [path.join(REPO, 'scripts/scipy-mat.py'), 'write73', file], {
    input: JSON.stringify(vars),
    stdio: ['pipe', 'inherit', 'inherit'],
  });
}

export interface Dumped {
  readonly dtype?: string;
  readonly shape?: number[];
  readonly data?: number[];
  readonly re?: number[];
  readonly im?: number[];
  readonly str?: string[];
  readonly cell?: Dumped[];
  readonly struct?: Record<string, Dumped>;
}

/** scipy.io.loadmat's view of a file, as JSON. */
export function dumpMat(file: string): Record<string, Dumped> {
  return JSON.parse(
    execFileSync(scipyPython(), [path.join(REPO, 'scripts/scipy-mat.py'), 'dump', file], {
      encoding: 'utf8',
      maxBuffer: 1 << 28,
    }),
  ) as Record<string, Dumped>;
}

/** scipy's own test data (real MATLAB files, incl. big-endian SOL2 and a v7.3 file). */
let testDataDir: string | undefined;
export function scipyTestData(name: string): string {
  testDataDir ??= execFileSync(
    scipyPython(),
    ['-c', 'import os, scipy.io.matlab as m; print(os.path.dirname(m.__file__))'],
    { encoding: 'utf8' },
  ).trim();
  return path.join(testDataDir, 'tests/data', name);
}
