/** The DI registration of this package's dataset plugins. */
import { registerPlugin } from '@niwt/core';
import { ContainerModule } from 'inversify';
import { FolderDataset, FolderOptions } from './folder/plugin.js';
import { ShapesOptions } from './shapes/options.js';
import { ShapesDataset } from './shapes/plugin.js';
import { Awa2Dataset, Awa2Options } from './awa2/plugin.js';
import { CubDataset, CubOptions } from './cub/plugin.js';
import { Xlsa17Dataset, Xlsa17DatasetOptions } from './xlsa17/plugin.js';
import { awa2TestOptions, cubTestOptions, folderTestOptions } from './test-options.js';
import { shapesTestOptions, xlsa17TestOptions } from './test-options.js';
import { awa2Preflight, cubPreflight, folderPreflight, xlsa17Preflight } from './preflight.js';

export const datasetsModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'dataset',
    name: 'folder',
    description: 'your own dataset: classes.txt, attributes.txt, class-attributes.txt, split.yaml, images/<class>/',
    schema: FolderOptions,
    impl: FolderDataset,
    testOptions: folderTestOptions,
    preflight: folderPreflight,
  });
  registerPlugin(bind, {
    group: 'dataset',
    name: 'shapes',
    description: 'synthetic shapes (shape × colour × fill × size); unseen classes recombine seen values',
    schema: ShapesOptions,
    impl: ShapesDataset,
    testOptions: shapesTestOptions,
  });
  registerPlugin(bind, {
    group: 'dataset',
    name: 'xlsa17',
    description: 'xlsa17 proposed split alone: att_splits.mat + res101.mat features (no images; use backbone features)',
    schema: Xlsa17DatasetOptions,
    impl: Xlsa17Dataset,
    preflight: xlsa17Preflight,
    nonResultOptions: ['checkSizes'],
    testOptions: xlsa17TestOptions,
  });
  registerPlugin(bind, {
    group: 'dataset',
    name: 'awa2',
    description: 'Animals with Attributes 2 (raw Animals_with_Attributes2/) with the xlsa17 proposed split',
    schema: Awa2Options,
    impl: Awa2Dataset,
    preflight: awa2Preflight,
    nonResultOptions: ['checkSizes'],
    testOptions: awa2TestOptions,
  });
  registerPlugin(bind, {
    group: 'dataset',
    name: 'cub',
    description: 'CUB-200-2011 (raw CUB_200_2011/) with the xlsa17 proposed split',
    schema: CubOptions,
    impl: CubDataset,
    preflight: cubPreflight,
    nonResultOptions: ['checkSizes'],
    testOptions: cubTestOptions,
  });
});
