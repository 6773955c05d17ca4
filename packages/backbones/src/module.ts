import { ContainerModule } from 'inversify';
import { registerPlugin } from '@niwt/core';
import { SmallCnn, smallCnnOptions } from './small-cnn/small-cnn.js';

/** Registers the backbones of this package. */
export const backbonesModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'backbone',
    name: 'small-cnn',
    description: 'Small 3-block CNN trained from scratch on the seen classes (taps conv1..pool3)',
    schema: smallCnnOptions,
    impl: SmallCnn,
  });
});
