import { ContainerModule } from 'inversify';
import { registerPlugin } from '@niwt/core';
import { Ale, aleOptions } from './ale.js';
import { Dem, demOptions } from './dem.js';

export * from './common.js';
export * from './ale.js';
export * from './dem.js';

/** Registers the zero-shot baselines ALE and DEM as `method:ale` and `method:dem`. */
export const baselinesModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'method',
    name: 'ale',
    description: 'ALE: bilinear attribute label embedding with the weighted approximate ranking loss (Akata et al., TPAMI 2016)',
    schema: aleOptions,
    impl: Ale,
  });
  registerPlugin(bind, {
    group: 'method',
    name: 'dem',
    description: 'DEM: knowledge → visual space MLP, nearest class prototype (Zhang et al., CVPR 2017)',
    schema: demOptions,
    impl: Dem,
    nonResultOptions: ['engine'],
  });
});
