export * from './attributes.js';
export * from './module.js';
