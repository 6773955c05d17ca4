/** The `method:dem` plugin: epochs chosen on held-out seen classes, then nearest-prototype scores. */
import { inject, injectable } from 'inversify';
import {
  StateError,
  TOKENS,
  deriveSeed,
  selectRows,
  type FitSummary,
  type Matrix,
  type ZeroShotContext,
  type ZeroShotMethod,
} from '@niwt/core';
import { candidateAccuracy, l2NormalizeRows, positions, samplesOf, splitSeenClasses } from '../common.js';
import { prototypeScores } from './model.js';
import type { DemOptions } from './options.js';
import { DemTrainer } from './trainer.js';

interface DemFitted {
  /** Prototype of every class (numClasses × D, global class order). */
  readonly prototypes: Float32Array;
  readonly numClasses: number;
}

@injectable()
export class Dem implements ZeroShotMethod {
  private fitted?: DemFitted;

  constructor(@inject(TOKENS.options) private readonly opts: DemOptions) {}

  async fit(ctx: ZeroShotContext): Promise<FitSummary> {
    const o = this.opts;
    const { features, labels } = ctx.trainval;
    const knowledge = o.knowledgeNorm === 'l2' ? l2NormalizeRows(ctx.knowledge.matrix) : ctx.knowledge.matrix;
    const trainer = (classes: readonly number[], seed: number): DemTrainer => {
      const rows = samplesOf(labels, classes);
      return new DemTrainer(
        {
          x: selectRows(features, rows),
          labels: positions(labels, rows, classes),
          knowledge: selectRows(knowledge, classes),
        },
        o,
        seed,
      );
    };

    let t = ctx.log.stage('dem: epochs by validation');
    const split = splitSeenClasses(ctx.seen, o.valFraction, deriveSeed(ctx.seed, 'dem/val-split'));
    const valRows = samplesOf(labels, split.val);
    const xVal = selectRows(features, valRows);
    const valLabels = valRows.map((r) => labels[r]);
    const valKnowledge = selectRows(knowledge, split.val);
    const first = trainer(split.train, deriveSeed(ctx.seed, 'dem/select'));
    const engine = await first.ready();
    let best: { acc: number; epoch: number; prototypes: Float32Array } = {
      acc: -1,
      epoch: 0,
      prototypes: new Float32Array(0),
    };
    let sinceBest = 0;
    let lastLoss = NaN;
    for (let epoch = 1; epoch <= o.epochs && sinceBest < o.patience; epoch++) {
      lastLoss = await first.epoch();
      ctx.metric('select/train_loss', lastLoss, epoch);
      if (epoch % o.evalEvery !== 0 && epoch !== o.epochs) continue;
      const acc = candidateAccuracy(
        prototypeScores(xVal, first.prototypes(valKnowledge), split.val.length, o.distance),
        valLabels,
        split.val,
      );
      ctx.metric('select/val_acc', acc, epoch);
      // Ties go to the later epoch: a saturated validation accuracy says nothing against more training.
      if (acc >= best.acc) {
        sinceBest = acc > best.acc ? 0 : sinceBest + 1;
        best = { acc, epoch, prototypes: o.retrain ? best.prototypes : first.prototypes(knowledge) };
      } else sinceBest++;
    }
    await first.dispose();
    t.end(
      `best epoch ${best.epoch}, val acc ${(100 * best.acc).toFixed(1)}% on ${split.val.length} held-out ` +
        `seen classes; engine ${engine.note}`,
    );

    let prototypes = best.prototypes;
    if (o.retrain) {
      t = ctx.log.stage('dem: train on all seen classes');
      const final = trainer(ctx.seen, deriveSeed(ctx.seed, 'dem/final'));
      for (let epoch = 1; epoch <= best.epoch; epoch++) {
        lastLoss = await final.epoch();
        ctx.metric('train/loss', lastLoss, epoch);
      }
      prototypes = final.prototypes(knowledge);
      await final.dispose();
      t.end(`${best.epoch} epochs, loss ${lastLoss.toPrecision(4)}`);
    }
    this.fitted = { prototypes, numClasses: knowledge.rows };
    return {
      selected_epochs: best.epoch,
      val_acc: best.acc,
      val_classes: split.val.map((c) => ctx.classNames[c]).join(','),
      final_loss: lastLoss,
      hidden: o.hidden,
      distance: o.distance,
      engine: engine.name,
    };
  }

  scores(features: Matrix): Matrix {
    const f = this.fitted;
    if (!f) throw new StateError('dem: scores() called before fit()');
    return {
      rows: features.rows,
      cols: f.numClasses,
      data: prototypeScores(features, f.prototypes, f.numClasses, this.opts.distance),
    };
  }
}
