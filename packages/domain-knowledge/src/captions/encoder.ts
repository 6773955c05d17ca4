/** The `captions` plugin: `encodeCaptions` with its options, run context and logger injected. */
import { inject, injectable } from 'inversify';
import { TOKENS, type Dataset, type KnowledgeEncoder, type Logger, type RunContext } from '@niwt/core';
import { encodeCaptions, type CaptionsEmbedding } from './encode.js';
import type { CaptionsOptions } from './options.js';

@injectable()
export class CaptionsEncoder implements KnowledgeEncoder {
  constructor(
    @inject(TOKENS.options) private readonly opts: CaptionsOptions,
    @inject(TOKENS.runContext) private readonly run: RunContext,
    @inject(TOKENS.logger) private readonly log: Logger,
  ) {}

  /** The embedding also carries `stats` (counts, OOV rates, cache hit). */
  async encode(dataset: Dataset): Promise<CaptionsEmbedding> {
    return encodeCaptions(dataset, this.opts, this.run, this.log);
  }
}
