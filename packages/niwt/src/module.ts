import { ContainerModule } from 'inversify';
import { registerPlugin } from '@niwt/core';
import { Niwt, niwtOptions } from './niwt.js';

/** Registers NIWT as a zero-shot method. */
export const niwtModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'method',
    name: 'niwt',
    description: 'Neuron-Importance-aware Weight Transfer (Selvaraju et al., ECCV 2018)',
    schema: niwtOptions,
    impl: Niwt,
    testOptions: { pairsPerClass: 4, maxSteps: 5, map: { epochs: 20 }, importanceBatch: 16 },
  });
});
