/** The precomputed-features backbone (`backbone: features`). */
export { FeaturesBackbone } from './features-backbone.js';
export { featuresBackboneOptions, FEATURE_TAPS, type FeaturesBackboneOptions } from './options.js';
