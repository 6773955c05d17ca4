/** @niwt/datasets: the `folder` and `shapes` dataset plugins, and their plain functions. */
export { datasetsModule } from './module.js';

export { loadFolderDataset, type LoadFolderOptions } from './folder/load.js';
export { FolderDataset, FolderOptions } from './folder/plugin.js';
export { readImages, decodeImage, type ReadImagesOptions } from './folder/read-images.js';
export { heldOutCount } from './folder/split.js';
export { FILES as FOLDER_FILES, IMAGE_EXTENSIONS, SPLIT_DEFAULTS } from './folder/layout.js';

export {
  generateShapes,
  MANIFEST as SHAPES_MANIFEST,
  type GenerateResult,
  type ShapesManifest,
} from './shapes/generate.js';
export { ShapesDataset, shapesRoot } from './shapes/plugin.js';
export {
  ShapesOptions,
  SHAPES_DEFAULTS,
  GENERATOR_VERSION as SHAPES_GENERATOR_VERSION,
  shapesHash,
  parseShapesOptions,
  type ShapesOptionsInput,
} from './shapes/options.js';
export { chooseClasses, assertUnseenCovered, valueSupport, type ClassChoice } from './shapes/class-choice.js';
export {
  GROUPS as SHAPE_ATTRIBUTE_GROUPS,
  ATTRIBUTE_NAMES as SHAPE_ATTRIBUTE_NAMES,
  type ShapeClass,
} from './shapes/vocabulary.js';

export { readMat, matNumber, matNumbers, matStrings, matMatrixRows, requireVar } from './mat/index.js';
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
} from './mat/index.js';
export { readAttSplits, ATT_SPLITS, LOC_NAMES, type AttSplits, type LocName } from './xlsa17/att-splits.js';
export { readRes101Meta, relativeImagePath, featureSource, RES101, type Res101Meta } from './xlsa17/res101.js';
export { buildXlsa17Split, checkPublishedSizes, type Xlsa17Split } from './xlsa17/split.js';
export { PUBLISHED as XLSA17_PUBLISHED, publishedFor, type PublishedSplit } from './xlsa17/published.js';
export { loadXlsa17, missingOriginalAtt, readXlsa17, type Xlsa17Info, type Xlsa17Options } from './xlsa17/load.js';
export { Xlsa17Dataset, Xlsa17DatasetOptions } from './xlsa17/plugin.js';
export { parseIndexedNames } from './xlsa17/indexed-names.js';
export { loadAwa2, AWA2_FILES, type Awa2LoadOptions } from './awa2/load.js';
export { Awa2Dataset, Awa2Options } from './awa2/plugin.js';
export { loadCub, findCubAttributeNames, CUB_FILES, type CubLoadOptions } from './cub/load.js';
export { CubDataset, CubOptions } from './cub/plugin.js';
export { findBadImages, precheckImages, dropSamples, badImagesError, type BadImage } from './images/check.js';
export { randomCrop, randomHorizontalFlip, flipHorizontal, type BatchShape } from './images/augment.js';
export type { ResizeMode } from './folder/read-images.js';
export * from './fixtures/index.js';
export {
  attributeTable,
  classSplit,
  renderedImages,
  type ClassSplit,
  type ClassSplitOptions,
} from './kit/plugin-kit.js';
