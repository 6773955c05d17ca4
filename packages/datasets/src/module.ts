/** The DI registration of this package's dataset plugins. */
import { registerPlugin } from '@niwt/core';
import { ContainerModule } from 'inversify';
import { FolderDataset, FolderOptions } from './folder/plugin.js';
import { ShapesOptions } from './shapes/options.js';
import { ShapesDataset } from './shapes/plugin.js';

export const datasetsModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'dataset',
    name: 'folder',
    description: 'your own dataset: classes.txt, attributes.txt, class-attributes.txt, split.yaml, images/<class>/',
    schema: FolderOptions,
    impl: FolderDataset,
  });
  registerPlugin(bind, {
    group: 'dataset',
    name: 'shapes',
    description: 'synthetic shapes (shape × colour × fill × size); unseen classes recombine seen values',
    schema: ShapesOptions,
    impl: ShapesDataset,
  });
});
