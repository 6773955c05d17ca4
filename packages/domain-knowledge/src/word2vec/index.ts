export {
  readWord2Vec,
  detectFormat,
  type ReadWord2VecOptions,
  type Word2VecVectors,
  type Word2VecFormat,
} from './read.js';
export { writeWord2Vec, binaryRecord, type WriteWord2VecOptions, type Word2VecEntry } from './write.js';
export { WordSelector } from './select.js';
export { parseHeaderLine, type Word2VecHeader } from './binary.js';
