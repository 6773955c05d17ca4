export * from './compose.js';
export * from './pipeline.js';
export * from './cli.js';
export * from './controls.js';
export * from './activations.js';
export * from './console-logger.js';
