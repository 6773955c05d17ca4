/** DEM (Zhang, Xiang & Gong, CVPR 2017): options, model and loss, engines, trainer, plugin. */
export * from './options.js';
export * from './model.js';
export type { DemEngineInfo } from './engine.js';
export { DemTrainer, type DemProblem, type DemTrainerSettings } from './trainer.js';
export { Dem } from './plugin.js';
