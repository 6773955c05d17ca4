/** The `method:ale` plugin: learning rate and epochs chosen on held-out seen classes, then a final fit. */
import { inject, injectable } from 'inversify';
import {
  StateError,
  TOKENS,
  deriveSeed,
  selectRows,
  yieldToEventLoop,
  type FitSummary,
  type Matrix,
  type ZeroShotContext,
  type ZeroShotMethod,
} from '@niwt/core';
import {
  applyPreprocessing,
  candidateAccuracy,
  fitPreprocessing,
  l2NormalizeRows,
  positions,
  samplesOf,
  splitSeenClasses,
  type FeaturePreprocessing,
} from '../common.js';
import { aleScores } from './model.js';
import type { AleOptions } from './options.js';
import { AleTrainer, type AleEpoch } from './trainer.js';
interface AleFitted {
  readonly pre: FeaturePreprocessing;
  readonly w: Float32Array;
  /** All classes' unit-L2 embeddings (rows in global class order). */
  readonly classEmb: Matrix;
}

@injectable()
export class Ale implements ZeroShotMethod {
  private fitted?: AleFitted;

  constructor(@inject(TOKENS.options) private readonly opts: AleOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const o = this.opts;
    const { features, labels } = ctx.trainval;
    const emb = l2NormalizeRows(ctx.knowledge.matrix);
    const train = (
      classes: readonly number[],
      lr: number,
      seed: number,
    ): { trainer: AleTrainer; pre: FeaturePreprocessing } => {
      const rows = samplesOf(labels, classes);
      const pre = fitPreprocessing(o.featureNorm, features, rows);
      const problem = {
        x: applyPreprocessing(pre, features, rows),
        labels: positions(labels, rows, classes),
        classEmb: selectRows(emb, classes),
      };
      return { trainer: new AleTrainer(problem, { lr, margin: o.margin, blockSize: o.blockSize, seed }), pre };
    };

    let lr = o.lrs[0];
    let epochs = o.epochs ?? o.maxEpochs;
    let valAcc = NaN;
    let valClasses = '';
    if (!(o.epochs !== undefined && o.lrs.length === 1)) {
      const t = ctx.log.stage('ale: select lr, epochs');
      const split = splitSeenClasses(ctx.seen, o.valFraction, deriveSeed(ctx.seed, 'ale/val-split'));
      valClasses = split.val.map((c) => ctx.classNames[c]).join(',');
      const valRows = samplesOf(labels, split.val);
      const valLabels = valRows.map((r) => labels[r]);
      const valEmb = selectRows(emb, split.val);
      let best = { acc: -1, lr, epochs: 1 };
      for (const candidate of o.lrs) {
        const { trainer, pre } = train(split.train, candidate, deriveSeed(ctx.seed, 'ale/select'));
        const xVal = applyPreprocessing(pre, features, valRows);
        // Ties go to the later epoch (a saturated validation accuracy says nothing against more training);
        // across learning rates only a strictly better accuracy wins.
        let sinceBest = 0;
        let run = { acc: -1, epochs: 1 };
        const budget = o.epochs ?? o.maxEpochs;
        for (let epoch = 1; epoch <= budget && sinceBest < o.patience; epoch++) {
          trainer.epoch();
          await yieldToEventLoop(); // signals are handled between epochs
          const acc = candidateAccuracy(aleScores(xVal, trainer.weights(), valEmb), valLabels, split.val);
          ctx.metric(`select/lr_${candidate}/val_acc`, acc, epoch);
          if (acc >= run.acc) {
            sinceBest = acc > run.acc ? 0 : sinceBest + 1;
            run = { acc, epochs: epoch };
          } else sinceBest++;
        }
        if (run.acc > best.acc) best = { acc: run.acc, lr: candidate, epochs: run.epochs };
        trainer.dispose();
      }
      ({ lr, epochs } = best);
      valAcc = best.acc;
      t.end(
        `lr ${lr}, ${epochs} epochs, val acc ${(100 * valAcc).toFixed(1)}% on ${split.val.length} held-out ` +
          `seen classes`,
      );
    }

    const t = ctx.log.stage('ale: train on all seen classes');
    const { trainer, pre } = train(ctx.seen, lr, deriveSeed(ctx.seed, 'ale/final'));
    let last: AleEpoch = { updates: 0, updateRate: 0 };
    for (let epoch = 1; epoch <= epochs; epoch++) {
      last = trainer.epoch();
      await yieldToEventLoop();
      ctx.metric('train/update_rate', last.updateRate, epoch);
    }
    this.fitted = { pre, w: trainer.weights(), classEmb: emb };
    trainer.dispose();
    t.end(`${epochs} epochs at lr ${lr}, last epoch updated ${(100 * last.updateRate).toFixed(1)}% of images`);
    return {
      selected_lr: lr,
      selected_epochs: epochs,
      ...(Number.isNaN(valAcc) ? {} : { val_acc: valAcc, val_classes: valClasses }),
      final_update_rate: last.updateRate,
    };
  }

  scores(features: Matrix): Matrix {
    const f = this.fitted;
    if (!f) throw new StateError('ale: scores() called before fit()');
    const data = aleScores(applyPreprocessing(f.pre, features), f.w, f.classEmb);
    return { rows: features.rows, cols: f.classEmb.rows, data };
  }
}
