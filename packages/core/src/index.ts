import 'reflect-metadata';

export * from './errors.js';
export * from './matrix.js';
export * from './contracts.js';
export * from './logger.js';
export * from './plugins.js';
export * from './tensor/index.js';
