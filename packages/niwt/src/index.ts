export * from './importance.js';
export * from './stats.js';
export * from './early-stop.js';
export * from './knowledge-map.js';
export * from './transfer.js';
export * from './niwt.js';
export * from './module.js';
