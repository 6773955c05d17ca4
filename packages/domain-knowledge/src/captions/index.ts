export { captionsOptions, type CaptionsOptions } from './options.js';
export { CaptionsEncoder } from './encoder.js';
export {
  encodeCaptions,
  CAPTIONS_CACHE_STAGE,
  CAPTIONS_CACHE_VERSION,
  type CaptionsEmbedding,
  type CaptionsStats,
  type CaptionsClassStats,
} from './encode.js';
export { averageCaptions, type TokenizedImage, type AverageResult, type ClassCounts } from './average.js';
export { tokenize, stopWordSet, ENGLISH_STOP_WORDS, type TokenizeOptions } from './tokenize.js';
export { parseCaptions, readCaptionFile, type CaptionFile } from './read-captions.js';
export { CUB_TO_REED, alternateCubSpelling, canonicalClassKey, splitCubPrefix } from './cub-names.js';
export {
  indexTextRoot,
  resolveTextFolder,
  locateCaptions,
  type TextRootIndex,
  type ClassCaptionRefs,
  type ImageCaptionRef,
} from './locate.js';
