export * from './attributes.js';
export * from './captions/index.js';
export * from './word2vec/index.js';
export * from './module.js';
