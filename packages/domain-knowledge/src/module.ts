import { ContainerModule } from 'inversify';
import { registerPlugin } from '@niwt/core';
import { AttributesEncoder, attributesOptions } from './attributes.js';
import { CaptionsEncoder, captionsOptions } from './captions/index.js';
import { captionsPreflight } from './captions/preflight.js';
import { captionsTestOptions } from './captions/test-options.js';

/** Registers the knowledge encoders of this package. */
export const domainKnowledgeModule = new ContainerModule(({ bind }) => {
  registerPlugin(bind, {
    group: 'knowledge',
    name: 'attributes',
    description: "The dataset's class-attribute table (missing → 0; normalize none | l2 | max)",
    schema: attributesOptions,
    impl: AttributesEncoder,
    testOptions: { normalize: 'l2' },
  });
  registerPlugin(bind, {
    group: 'knowledge',
    name: 'captions',
    description: 'Reed et al. text_c10 captions through word2vec: mean word vector per caption → image → class',
    schema: captionsOptions,
    impl: CaptionsEncoder,
    preflight: captionsPreflight,
    testOptions: captionsTestOptions,
    testDataset: 'cub',
  });
});
