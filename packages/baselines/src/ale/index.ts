/** ALE (Akata et al., TPAMI 2016): options, model and loss, trainer, plugin. */
export * from './options.js';
export * from './model.js';
export * from './trainer.js';
export { Ale } from './plugin.js';
