/** The values a Level-5 MAT file holds, as the reader returns them (MATLAB column-major order kept). */

/** MATLAB array classes (mxClassID), by their code in the array-flags sub-element. */
export const MX_CLASS = {
  1: 'cell',
  2: 'struct',
  3: 'object',
  4: 'char',
  5: 'sparse',
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
} as const;
export type MxClass = (typeof MX_CLASS)[keyof typeof MX_CLASS];
export type NumericClass = Exclude<MxClass, 'cell' | 'struct' | 'object' | 'char' | 'sparse'>;

/** Data element types (miXXX), by code. */
export const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
  UTF8: 16,
  UTF16: 17,
  UTF32: 18,
} as const;

/** Typed arrays numeric data decode into (int64/uint64 become Float64Array: exact up to 2^53). */
export type NumericArray =
  Float64Array | Float32Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;

export interface MatNumeric {
  readonly kind: 'numeric';
  readonly class: NumericClass;
  readonly dims: readonly number[];
  /** Column-major: element (i, j) of an R×C array is `data[i + R·j]`. */
  readonly data: NumericArray;
  readonly imag?: NumericArray;
  readonly logical: boolean;
}

export interface MatChar {
  readonly kind: 'char';
  readonly dims: readonly number[];
  /** One string per row (a 1×L char is one string; an empty char is no rows). */
  readonly rows: readonly string[];
}

export interface MatCell {
  readonly kind: 'cell';
  readonly dims: readonly number[];
  /** Column-major. */
  readonly items: readonly MatValue[];
}

export interface MatStruct {
  readonly kind: 'struct';
  readonly dims: readonly number[];
  readonly fields: readonly string[];
  /** One record per struct element, column-major. */
  readonly items: readonly Readonly<Record<string, MatValue>>[];
}

export interface MatSparse {
  readonly kind: 'sparse';
  readonly dims: readonly number[];
  /** Row index of each stored value (0-based). */
  readonly ir: Int32Array;
  /** Column starts into `ir`/`data`, `cols + 1` values. */
  readonly jc: Int32Array;
  readonly data: Float64Array;
  readonly imag?: Float64Array;
  readonly logical: boolean;
}

export type MatValue = MatNumeric | MatChar | MatCell | MatStruct | MatSparse;

export interface MatHeader {
  readonly text: string;
  readonly version: number;
  readonly littleEndian: boolean;
}

export interface MatFile {
  readonly file: string;
  readonly header: MatHeader;
  /** Variables in file order. */
  readonly variables: ReadonlyMap<string, MatValue>;
  /** Dimensions of every variable met, including those skipped by `ReadMatOptions.variables`. */
  readonly dims: ReadonlyMap<string, readonly number[]>;
}

export interface ReadMatOptions {
  /** Only decode these variables (others are skipped without inflating their data). */
  readonly variables?: readonly string[];
  /** Decode double and single data as Float32Array (halves the memory of big feature matrices). */
  readonly float32?: boolean;
}
