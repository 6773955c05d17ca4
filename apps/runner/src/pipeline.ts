/**
 * One experiment run: dataset → knowledge → seen network → activations → methods → GZSL evaluation →
 * tracking. Stages 3–4 are cached by input hash; everything after runs on cached activations.
 */
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import {
  StageCache,
  argmaxRows,
  backboneViolation,
  checkContract,
  datasetViolation,
  headViolation,
  knowledgeViolation,
  pluginLabel,
  scoresViolation,
  hashOf,
  evaluateGzsl,
  type GzslResult,
  perClassAccuracy,
  silentLogger,
  type DatasetAdapter,
  type FitSummary,
  type KnowledgeEncoder,
  type Logger,
  type Backbone,
  type Tracker,
  type TrackedRun,
  type ZeroShotMethod,
} from '@niwt/core';
import { initBackend } from '@niwt/compute';
import type { Experiment } from './compose.js';
import { preflightExperiment } from './preflight.js';
import { extractOrLoad, stageInputs, trainOrLoadSeenNetwork } from './activations.js';
import { permuteUnseenKnowledge, unseenPermutations } from './controls.js';
import { explainUnseen, type Explanations } from './explanations.js';
import { folderPool } from './pool-folder.js';
import { methodCheckpointDir, removeCheckpointDir } from './checkpoints.js';
import { lifecycle, ownerTags, LIFECYCLE_TAGS } from './lifecycle.js';
import { METHOD_RESULT, type UnfinishedRun } from './finished.js';
import { skipLoggedSteps } from './resume.js';
import { atGamma, chooseGamma, testCurve, thinCurve, type Calibration } from './calibration.js';
import type { MethodResult, RunResult } from './results.js';

export type { MethodResult, RunResult } from './results.js';

function gitCommit(cwd: string): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined;
  }
}

/** Dotted params of a nested config (lists indexed), as MLflow params. */
export function flattenParams(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>))
      flattenParams(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out[prefix] = String(value);
  }
  return out;
}

/** Options of one run inside a larger job (a sweep). */
export interface RunOptions {
  /** Nest this run's parent run under another (e.g. the sweep's). */
  readonly parentRunId?: string;
  /** The interrupted run this one continues: reopened under the same id (recorded as `niwt.resumed_from`). */
  readonly resume?: UnfinishedRun;
  /** Runs of this config left RUNNING by a process that is gone (SIGKILL): marked KILLED before starting. */
  readonly abandoned?: readonly UnfinishedRun[];
  /** The run's name (default `<experiment>-<hash8>`); a sweep names its points by their grid values. */
  readonly runName?: string;
  /** Extra tags on the run (e.g. the sweep it belongs to). */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Marks runs whose owner process is gone KILLED (with their RUNNING method runs), saying so in a tag. */
async function markAbandoned(tracker: Tracker, runs: readonly UnfinishedRun[], log: Logger): Promise<void> {
  if (!tracker.resumeRun) return;
  for (const p of runs) {
    for (const r of [...p.children.filter((c) => c.status === 'RUNNING'), p]) {
      const run = await tracker.resumeRun(r.runId);
      await run.setTags({
        [LIFECYCLE_TAGS.error]:
          `owner process ${r.tags[LIFECYCLE_TAGS.pid] ?? '?'} ended without closing the run ` + `(killed)`,
      });
      await run.end('KILLED');
    }
    log.info(
      `run ${p.runId} of this config was left RUNNING by process ` +
        `${p.tags[LIFECYCLE_TAGS.pid] ?? '(unknown)'}, which is gone: marked KILLED (niwt run --resume would ` +
        `have continued it)`,
    );
  }
}

export async function runExperiment(exp: Experiment, outerLog: Logger, opts: RunOptions = {}): Promise<RunResult> {
  await preflightExperiment(exp); // before a run opens: a wrong path must not leave a FAILED run
  const t0 = performance.now();
  const log = lifecycle.trackStages(outerLog);
  let t = log.stage('backend');
  const backend = await initBackend(exp.top.backend);
  t.end(
    `${backend.name} (${backend.threads} ` +
      `thread${backend.threads === 1 ? '' : 's'})${backend.note ? ` — ${backend.note}` : ''}`,
  );

  // Dataset and knowledge pass the contract gate before a run opens: a plugin that breaks its contract is a
  // one-line error (exit 2), not a FAILED run nor a finished one with u = 0.
  t = log.stage('dataset');
  const datasetAdapter = exp.registry.create(exp.dataset.spec, exp.dataset.options) as DatasetAdapter;
  const dataset = await datasetAdapter.load();
  checkContract(pluginLabel('dataset', exp.dataset.spec.name), datasetViolation(dataset));
  const { split } = dataset;
  t.end(
    `${dataset.name}: ${dataset.classes.length} classes (${split.seen.length} seen, ${split.unseen.length} unseen), ` +
      `${split.trainval.length}/${split.testSeen.length}/${split.testUnseen.length} ` +
      'trainval/test_seen/test_unseen images' +
      (dataset.skippedImages ? `, ${dataset.skippedImages} bad images skipped` : ''),
  );
  for (const w of dataset.warnings ?? []) log.warn(w);

  t = log.stage('knowledge');
  const encoder = exp.registry.create(exp.knowledge.spec, exp.knowledge.options) as KnowledgeEncoder;
  const knowledge = await encoder.encode(dataset);
  checkContract(pluginLabel('knowledge', exp.knowledge.spec.name), knowledgeViolation(knowledge, dataset));
  t.end(`${knowledge.matrix.cols} dims: ${knowledge.description}`);

  const tracker = exp.registry.create(exp.tracker.spec, exp.tracker.options) as Tracker;
  const commit = gitCommit(exp.run.baseDir);
  const tags: Record<string, string> = {
    'niwt.config_hash': exp.hash,
    'niwt.seed': String(exp.top.seed),
    'niwt.backend': backend.name,
    'mlflow.source.name': 'niwt run',
    ...(commit ? { 'mlflow.source.git.commit': commit } : {}),
    ...ownerTags(),
    ...opts.tags,
  };
  if (opts.abandoned?.length) await markAbandoned(tracker, opts.abandoned, log);
  const prior = opts.resume;
  const reopen = prior !== undefined && tracker.resumeRun !== undefined;
  if (prior && !reopen) tags['niwt.resumed_from'] = prior.runId;
  const parent = lifecycle.opened(
    reopen
      ? skipLoggedSteps(await tracker.resumeRun!(prior.runId), prior.lastSteps)
      : await tracker.startRun({
          experiment: exp.top.experiment,
          runName: opts.runName ?? `${exp.top.experiment}-${exp.hash.slice(0, 8)}`,
          parentRunId: opts.parentRunId,
          tags,
        }),
  );
  const open: TrackedRun[] = [parent];
  const reused: string[] = [];
  try {
    if (reopen)
      await parent.setTags({
        ...tags,
        'niwt.resumed_from': prior.runId,
        'niwt.resumes': String(Number(prior.tags['niwt.resumes'] ?? 0) + 1),
      });
    await parent.logParams(flattenParams(exp.resolved));
    await parent.logText('config/config.yaml', toYaml(exp.resolved));
    await parent.logText('config/overrides.yaml', toYaml(exp.overrides));
    await parent.logText(
      'config/source.txt',
      `${exp.source.file}\nincludes ${exp.source.includes.join(', ') || 'none'}\nhash ${exp.hash}\nseed ` +
        `${exp.top.seed}\ncommit ${commit ?? 'unknown'}\n`,
    );

    if (dataset.skippedImages !== undefined)
      await parent.logMetrics({ 'dataset/skipped_images': dataset.skippedImages });

    const onWait = (stage: string, key: string, o: { pid: number; host: string }): void =>
      log.info(`${stage} ${key}: waiting for pid ${o.pid} on ${o.host}, which is computing it`);
    const cache = new StageCache(exp.run.cacheDir, { onWait });
    const backboneLabel = pluginLabel('backbone', exp.backbone.spec.name);
    const backbone = exp.registry.create(exp.backbone.spec, exp.backbone.options) as Backbone;
    const inputs = await stageInputs(exp, dataset, knowledge, backbone, log);
    await parent.logParams(inputs.params);
    t = log.stage(`seen network (${backbone.name})`);
    const net = await trainOrLoadSeenNetwork(cache, inputs.network, backbone, dataset, exp.top.seed);
    t.end(
      net.cacheHit
        ? 'from cache'
        : `${net.report.epochs} epochs (best ${net.report.bestEpoch}), val acc ` +
            `${(100 * net.report.valAccuracy).toFixed(1)}%`,
    );
    // a backbone may learn its shapes when its network is built (onnx): its gate runs once it is trained or
    // loaded, inside the run, which a violation ends FAILED with the message recorded
    checkContract(backboneLabel, backboneViolation(backbone) ?? headViolation(backbone));

    t = log.stage(`activations at ${backbone.tap.name}`);
    const acts = await extractOrLoad(cache, net.key, exp.backbone.options, backbone, dataset, log, backboneLabel);
    t.end(acts.cacheHit ? 'from cache' : `${backbone.tap.shape.join('×')} tap, ${backbone.penultimateDim}-d features`);

    const sc = backbone.seenClassifier();
    const seenScores = (() => {
      const f = acts.testSeen.features;
      const out = new Float32Array(f.rows * sc.classes.length);
      for (let n = 0; n < f.rows; n++)
        for (let j = 0; j < sc.classes.length; j++) {
          let s = sc.bias[j];
          for (let d = 0; d < f.cols; d++) s += f.data[n * f.cols + d] * sc.weights.data[d * sc.weights.cols + j];
          out[n * sc.classes.length + j] = s;
        }
      return { rows: f.rows, cols: sc.classes.length, data: out };
    })();
    const seenPred = Int32Array.from(argmaxRows(seenScores), (j) => sc.classes[j]);
    const seenOnly = perClassAccuracy(seenPred, acts.testSeen.labels, split.seen).mean;
    await parent.logMetrics({ 'seen_network/test_seen_acc': seenOnly, 'seen_network/val_acc': net.report.valAccuracy });

    const classNames = dataset.classes.map((c) => c.name);
    const results: MethodResult[] = [];
    for (const m of exp.methods) {
      const before = prior?.children.find((c) => c.runName === m.label);
      if (before?.result) {
        // finished before the interruption: its result is read back, not fitted again
        log.info(
          `✓ ${`${m.label}: reused`.padEnd(34)}          finished in run ${before.runId} before the interruption`,
        );
        await parent.logMetrics(
          Object.fromEntries(
            Object.entries({
              s: before.result.s,
              u: before.result.u,
              H: before.result.H,
              zsl_t1: before.result.zslT1,
              fit_seconds: before.result.fitSeconds,
            }).map(([key, v]) => [`${m.label}/${key}`, v]),
          ),
        );
        results.push(before.result);
        reused.push(m.label);
        continue;
      }
      const child = lifecycle.opened(
        before && reopen
          ? skipLoggedSteps(await tracker.resumeRun!(before.runId), before.lastSteps)
          : await tracker.startRun({
              experiment: exp.top.experiment,
              runName: m.label,
              parentRunId: parent.runId,
              tags: { ...tags, 'niwt.method': m.spec.name },
            }),
      );
      if (before && reopen) await child.setTags({ ...ownerTags() });
      open.push(child);
      await child.logParams(
        flattenParams({ method: m.spec.name, label: m.label, control: m.control ?? 'none', ...m.options }),
      );
      const runs: { r: GzslResult; summary: FitSummary; fitSeconds: number; ausuc: number }[] = [];
      let calibration: Calibration | undefined;
      let explanations: Explanations | undefined;
      const fixedPoints: number[] = [];
      const designs =
        m.control === 'permute-unseen-knowledge'
          ? unseenPermutations(split.unseen, exp.top.seed, m.permutations ?? 'balanced')
          : [undefined];
      for (const [p, sources] of designs.entries()) {
        const method = exp.registry.create(m.spec, m.options) as ZeroShotMethod;
        const permuted = sources ? permuteUnseenKnowledge(knowledge, split.unseen, sources) : undefined;
        if (permuted) fixedPoints.push(permuted.fixedPoints);
        const prefix = designs.length > 1 ? `perm${p}/` : '';
        const pending: Promise<void>[] = [];
        const tm = log.stage(`${m.label}: fit${designs.length > 1 ? ` (permutation ${p + 1}/${designs.length})` : ''}`);
        const checkpointDir = methodCheckpointDir(cache.root, {
          activations: acts.key,
          label: m.label,
          options: m.options,
          seed: exp.top.seed,
          design: sources,
        });
        const imagesAtTap = (folder: string, limit?: number): ReturnType<typeof folderPool> =>
          folderPool(path.resolve(exp.run.baseDir, folder), limit, exp.top.seed, backbone, acts.key, cache, log);
        const summary = await method.fit({
          classNames,
          seen: split.seen,
          unseen: split.unseen,
          knowledge: permuted?.knowledge ?? knowledge,
          trainval: acts.trainval,
          head: backbone.head(),
          seenClassifier: sc,
          seed: exp.top.seed,
          // a method's own caches follow the activations and the method's code
          cache: { store: cache, inputsKey: hashOf({ activations: acts.key, code: exp.registry.codeVersion(m.spec) }) },
          checkpointDir,
          imagesAtTap,
          log: sources ? lifecycle.trackStages(quietStages(log)) : log,
          metric: (key, value, step) => void pending.push(child.logMetrics({ [`${prefix}${key}`]: value }, step)),
        });
        await Promise.all(pending);
        await removeCheckpointDir(checkpointDir); // the fit is done: a rerun fits afresh (same seed, same result)
        const fitSeconds = tm.end();
        const unseenScores = method.scores(acts.testUnseen.features);
        const seenTestScores = method.scores(acts.testSeen.features);
        // a NaN or misshapen score would evaluate to a finished run with u = 0: the run ends FAILED with it instead
        const methodLabel = pluginLabel('method', m.spec.name);
        const C = classNames.length;
        checkContract(methodLabel, scoresViolation(unseenScores, acts.testUnseen.features.rows, C, split.unseen));
        checkContract(methodLabel, scoresViolation(seenTestScores, acts.testSeen.features.rows, C, split.unseen));
        const r = evaluateGzsl(
          seenTestScores,
          acts.testSeen.labels,
          unseenScores,
          acts.testUnseen.labels,
          split.seen,
          split.unseen,
        );
        const curve = testCurve(
          seenTestScores,
          acts.testSeen.labels,
          unseenScores,
          acts.testUnseen.labels,
          split.seen,
          split.unseen,
        );
        if (p === 0) {
          calibration = { ausuc: curve.ausuc, curve: thinCurve(curve.points, 400) };
          await child.logText(
            'results/seen_unseen_curve.json',
            JSON.stringify({ ausuc: curve.ausuc, points: curve.points }),
          );
          if (!sources && exp.top.calibration.enabled) {
            const tc = log.stage(`${m.label}: calibrated stacking`);
            const ctx = {
              classNames,
              seen: split.seen,
              unseen: split.unseen,
              knowledge,
              trainval: acts.trainval,
              head: backbone.head(),
              seenClassifier: sc,
              seed: exp.top.seed,
              imagesAtTap,
              log,
              metric: () => undefined,
            };
            const g = await chooseGamma(
              () => exp.registry.create(m.spec, m.options) as ZeroShotMethod,
              ctx,
              exp.top.calibration,
            );
            const at = atGamma(
              seenTestScores,
              acts.testSeen.labels,
              unseenScores,
              acts.testUnseen.labels,
              split.seen,
              split.unseen,
              g.gamma,
            );
            calibration = {
              ...calibration,
              chosen: {
                gamma: g.gamma,
                ...at,
                validationH: g.validationH,
                pseudoUnseen: g.pseudoUnseen.map((c) => classNames[c]),
              },
            };
            tc.end(
              `γ ${g.gamma.toPrecision(3)} (validation H ${pct(g.validationH)}): s ${pct(at.s)}, u ` +
                `${pct(at.u)}, H ${pct(at.H)}; AUSUC ${pct(curve.ausuc)}`,
            );
          }
        }
        const explainer = !sources && exp.top.explain.enabled ? method.explainer?.() : undefined;
        if (explainer) {
          const te = log.stage(`${m.label}: explanations`);
          const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-explain-'));
          explanations = await explainUnseen({
            explainer,
            backbone,
            dataset,
            indices: acts.testUnseen.indices,
            labels: acts.testUnseen.labels,
            scores: unseenScores,
            outDir: dir,
            topK: exp.top.explain.topK,
            classImages: exp.top.explain.classImages,
          });
          await child.logArtifact(dir, 'explanations');
          await fs.rm(dir, { recursive: true, force: true });
          te.end(
            `${explanations.perClass.length} unseen classes, ${explanations.decisions.length} Grad-CAM ` +
              `overlays → artifacts/explanations/`,
          );
          for (const c of explanations.perClass)
            log.info(
              `    ${c.class}: ${c.top
                .slice(0, 3)
                .map((d) => `${d.name} ${d.score.toFixed(2)}`)
                .join(', ')}`,
            );
        }
        if (designs.length > 1)
          await child.logMetrics(
            { 'permutation/s': r.s, 'permutation/u': r.u, 'permutation/H': r.H, 'permutation/zsl_t1': r.zslT1 },
            p,
          );
        runs.push({ r, summary, fitSeconds, ausuc: curve.ausuc });
      }
      const mean = (f: (x: (typeof runs)[number]) => number): number =>
        runs.reduce((a, x) => a + f(x), 0) / runs.length;
      const agg = {
        s: mean((x) => x.r.s),
        u: mean((x) => x.r.u),
        H: mean((x) => x.r.H),
        zslT1: mean((x) => x.r.zslT1),
        fitSeconds: mean((x) => x.fitSeconds),
      };
      const { r, summary } = runs[0];
      if (fixedPoints.length > 0) await child.logParams({ 'control.fixed_points': fixedPoints.join(',') });
      const chosen = calibration?.chosen;
      if (calibration) calibration = { ...calibration, ausuc: mean((x) => x.ausuc) };
      const calMetrics: Record<string, number> = chosen
        ? {
            cal_gamma: chosen.gamma,
            cal_s: chosen.s,
            cal_u: chosen.u,
            cal_H: chosen.H,
            cal_validation_H: chosen.validationH,
          }
        : {};
      const metrics = {
        s: agg.s,
        u: agg.u,
        H: agg.H,
        zsl_t1: agg.zslT1,
        fit_seconds: agg.fitSeconds,
        ausuc: mean((x) => x.ausuc),
        ...calMetrics,
      };
      const numeric = Object.fromEntries(Object.entries(summary).filter(([, v]) => typeof v === 'number')) as Record<
        string,
        number
      >;
      await child.logMetrics({ ...metrics, ...numeric });
      await parent.logMetrics(Object.fromEntries(Object.entries(metrics).map(([key, v]) => [`${m.label}/${key}`, v])));
      const perClass = Object.fromEntries([...r.perClass].map(([c, a]) => [classNames[c], a]));
      await child.logText(
        'results/per_class_accuracy.json',
        JSON.stringify(
          { gzsl: perClass, zsl: Object.fromEntries([...r.perClassZsl].map(([c, a]) => [classNames[c], a])) },
          null,
          2,
        ),
      );
      await child.logText('results/confusion.json', JSON.stringify({ classes: classNames, counts: r.confusion }));
      const methodResult: MethodResult = {
        label: m.label,
        method: m.spec.name,
        control: m.control,
        explanations,
        permutations: designs.length,
        s: agg.s,
        u: agg.u,
        H: agg.H,
        zslT1: agg.zslT1,
        fitSeconds: agg.fitSeconds,
        summary,
        runId: child.runId,
        perClass,
        calibration,
      };
      await child.logText(METHOD_RESULT, JSON.stringify(methodResult, null, 2));
      await child.end('FINISHED');
      open.pop();
      results.push(methodResult);
    }
    backbone.dispose();
    acts.trainval.tap?.close?.();

    const result: RunResult = {
      experiment: exp.top.experiment,
      runId: parent.runId,
      location: parent.location,
      configHash: exp.hash,
      resumedFrom: prior?.runId,
      ...(prior ? { reusedMethods: reused } : {}),
      seed: exp.top.seed,
      backend: backend.name,
      dataset: {
        classes: dataset.classes.length,
        seen: split.seen.length,
        unseen: split.unseen.length,
        trainval: split.trainval.length,
        testSeen: split.testSeen.length,
        testUnseen: split.testUnseen.length,
      },
      chanceZsl: 1 / split.unseen.length,
      seenNetwork: {
        testSeenAccuracy: seenOnly,
        valAccuracy: net.report.valAccuracy,
        epochs: net.report.epochs,
        cached: net.cacheHit,
      },
      activationsCached: acts.cacheHit,
      methods: results,
      seconds: (performance.now() - t0) / 1000,
    };
    if (prior) {
      const cached =
        [net.cacheHit && 'seen network', acts.cacheHit && 'activations'].filter(Boolean).join(', ') || 'nothing';
      const refit = exp.methods.map((m) => m.label).filter((l) => !reused.includes(l));
      log.info(
        `resumed run ${prior.runId}${reopen ? '' : ` as run ${parent.runId}`}: from the cache: ${cached}; ` +
          `methods reused: ${reused.join(', ') || 'none'}; fitted again: ${refit.join(', ') || 'none'}`,
      );
    }
    await parent.logText('results/results.json', JSON.stringify(result, null, 2));
    await parent.logText('results/table.md', resultsTable(result));
    await parent.end('FINISHED');
    return result;
  } catch (e) {
    // interrupted: the signal handler closes the runs and exits; wait for it
    if (lifecycle.stopping) await new Promise<never>(() => undefined);
    const err = e instanceof Error ? e : new Error(String(e));
    const ids = await lifecycle.endAll('FAILED', `${err.message}\n\n${err.stack ?? ''}`, undefined, open);
    if (ids.length > 0) lifecycle.failedRunId ??= ids[0];
    throw e;
  }
}

/** A logger that keeps warnings but drops per-stage lines (used inside repeated control fits). */
function quietStages(log: Logger): Logger {
  return { ...silentLogger, warn: (m) => log.warn(m) };
}

const pct = (v: number): string => (100 * v).toFixed(1);

/** The final table: method, s, u, H, ZSL T1, fit time. */
export function resultsTable(r: RunResult): string {
  const head = ['method', 's', 'u', 'H', 'cal. s', 'cal. u', 'cal. H', 'AUSUC', 'ZSL T1', 'fit'];
  const rows = r.methods.map((m) => {
    const c = m.calibration?.chosen;
    const cal = c ? [pct(c.s), pct(c.u), pct(c.H)] : ['–', '–', '–'];
    const ausuc = m.calibration ? pct(m.calibration.ausuc) : '–';
    return [
      m.permutations > 1 ? `${m.label} (mean of ${m.permutations})` : m.label,
      pct(m.s),
      pct(m.u),
      pct(m.H),
      ...cal,
      ausuc,
      pct(m.zslT1),
      `${m.fitSeconds.toFixed(1)}s`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [
    line(head),
    `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
    ...rows.map(line),
    '',
    `chance ZSL T1 = ${pct(r.chanceZsl)}%; seen network alone on test_seen: ${pct(r.seenNetwork.testSeenAccuracy)}%`,
    'cal.: calibrated stacking at the γ chosen on a seen-class split (no test data); AUSUC: area under the ' +
      'test seen-unseen curve',
  ].join('\n');
}
