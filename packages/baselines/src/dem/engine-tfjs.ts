/** DEM's tfjs engine: autograd through `demBatchLoss` and the tensor `Adam`. */
import * as tf from '@tensorflow/tfjs';
import type { Matrix } from '@niwt/core';
import { Adam, variableFrom } from '@niwt/compute';
import { readTidy } from '../tensors.js';
import type { DemEngine } from './engine.js';
import { demBatchLoss, demForward, type DemBatch, type DemParams } from './model.js';
import type { DemSettings } from './options.js';

interface DemVars {
  readonly w1: tf.Variable<tf.Rank.R2>;
  readonly b1: tf.Variable<tf.Rank.R1>;
  readonly w2: tf.Variable<tf.Rank.R2>;
  readonly b2: tf.Variable<tf.Rank.R1>;
}

/** tfjs autograd through `demBatchLoss`, the core `Adam` on tf.Variables. */
export class TfjsDemEngine implements DemEngine {
  private readonly vars: DemVars;
  private readonly adam: Adam;
  private readonly K: tf.Tensor2D;

  constructor(
    knowledge: Matrix,
    featureDim: number,
    init: DemParams,
    private readonly settings: Pick<DemSettings, 'lambda' | 'lr'>,
  ) {
    const E = knowledge.cols;
    const H = init.b1.length;
    this.vars = {
      w1: variableFrom<tf.Rank.R2>(init.w1, [E, H]),
      b1: variableFrom<tf.Rank.R1>(init.b1, [H]),
      w2: variableFrom<tf.Rank.R2>(init.w2, [H, featureDim]),
      b2: variableFrom<tf.Rank.R1>(init.b2, [featureDim]),
    };
    this.adam = new Adam([this.vars.w1, this.vars.b1, this.vars.w2, this.vars.b2], { lr: settings.lr });
    this.K = tf.tensor2d(knowledge.data, [knowledge.rows, E]);
  }

  step(batch: DemBatch): number {
    return this.adam.step(() => demBatchLoss(this.vars, this.K, batch, this.settings.lambda));
  }

  params(): DemParams {
    const read = (t: tf.Tensor): Float32Array => t.dataSync().slice() as Float32Array;
    return { w1: read(this.vars.w1), b1: read(this.vars.b1), w2: read(this.vars.w2), b2: read(this.vars.b2) };
  }

  forward(knowledge: Matrix): Float32Array {
    return readTidy(() => demForward(this.vars, tf.tensor2d(knowledge.data, [knowledge.rows, knowledge.cols])));
  }

  dispose(): void {
    this.adam.dispose();
    tf.dispose([this.vars.w1, this.vars.b1, this.vars.w2, this.vars.b2, this.K]);
  }
}
