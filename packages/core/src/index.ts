import 'reflect-metadata';

export * from './errors.js';
export * from './matrix.js';
export * from './contracts.js';
export * from './logger.js';
export * from './plugins.js';
export * from './tensor/index.js';
export * from './npy.js';
export * from './metrics.js';
export * from './random.js';
export * from './hash.js';
export * from './did-you-mean.js';
export * from './config.js';
export * from './registry.js';
export * from './stage-cache.js';
export * from './adam.js';
export * from './variables.js';
export * from './taps.js';
