/** @niwt/datasets: the `folder` and `shapes` dataset plugins, and their plain functions. */
export { datasetsModule } from './module.js';

export { loadFolderDataset, type LoadFolderOptions } from './folder/load.js';
export { FolderDataset, FolderOptions } from './folder/plugin.js';
export { readImages, decodeImage, type ReadImagesOptions } from './folder/read-images.js';
export { heldOutCount } from './folder/split.js';
export { FILES as FOLDER_FILES, IMAGE_EXTENSIONS, SPLIT_DEFAULTS } from './folder/layout.js';

export { generateShapes, MANIFEST as SHAPES_MANIFEST, type GenerateResult, type ShapesManifest } from './shapes/generate.js';
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
export { GROUPS as SHAPE_ATTRIBUTE_GROUPS, ATTRIBUTE_NAMES as SHAPE_ATTRIBUTE_NAMES, type ShapeClass } from './shapes/vocabulary.js';

