import { ContainerModule } from 'inversify';
import { registerPlugin } from '@niwt/core';
import { Ale, aleOptions } from './ale/index.js';
import { Dem, demOptions } from './dem/index.js';
import { Eszsl, eszslOptions } from './eszsl.js';
import { Sae, saeOptions } from './sae.js';

export * from './common.js';
export * from './ale/index.js';
export * from './dem/index.js';
export * from './eszsl.js';
export * from './sae.js';
export * from './linalg.js';
export * from './closed-form.js';

/** Registers the zero-shot baselines as `method:ale`, `method:dem`, `method:eszsl` and `method:sae`. */
export const baselinesModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'method',
    name: 'ale',
    description:
      'ALE: bilinear attribute label embedding with the weighted approximate ranking loss (Akata et al., TPAMI 2016)',
    schema: aleOptions,
    impl: Ale,
    testOptions: { lrs: [0.1], epochs: 2 },
  });
  registerPlugin(bind, {
    group: 'method',
    name: 'dem',
    description: 'DEM: knowledge → visual space MLP, nearest class prototype (Zhang et al., CVPR 2017)',
    schema: demOptions,
    impl: Dem,
    testOptions: { epochs: 3, hidden: 8, engine: 'tfjs' },
    nonResultOptions: ['engine'],
  });
  registerPlugin(bind, {
    group: 'method',
    name: 'eszsl',
    description: 'ESZSL: closed-form bilinear map with ridge terms on both sides (Romera-Paredes & Torr, ICML 2015)',
    schema: eszslOptions,
    impl: Eszsl,
    testOptions: { gammas: [1], lambdas: [1] },
  });
  registerPlugin(bind, {
    group: 'method',
    name: 'sae',
    description: 'SAE: semantic autoencoder, closed form by a Sylvester equation (Kodirov et al., CVPR 2017)',
    schema: saeOptions,
    impl: Sae,
    testOptions: { lambdas: [1] },
  });
});
