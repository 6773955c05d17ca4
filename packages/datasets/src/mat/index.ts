/** The MAT-file reader's public surface. */
export { readMat } from './reader.js';
export { matNumber, matNumbers, matStrings, matMatrixRows, requireVar } from './values.js';
export type {
  MatCell,
  MatChar,
  MatFile,
  MatHeader,
  MatNumeric,
  MatSparse,
  MatStruct,
  MatValue,
  MxClass,
  NumericArray,
  NumericClass,
  ReadMatOptions,
} from './types.js';
