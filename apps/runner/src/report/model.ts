/**
 * What a report shows, gathered from a run tree into plain data (no HTML here), so the page layout and
 * the reading of artifacts can change independently and the data can be checked in tests.
 */
import { promises as fs } from 'node:fs';
import { z } from 'zod';
import type { LocalRun } from '@niwt/tracking';
import { REPLICATE_KEY, summarizeSweep, type PairedRow } from '../sweep-summary.js';
import { ARTIFACTS, artifactPath, readArtifactJson, readArtifactText, type RunTree } from './load.js';

export type Scalar = string | number | boolean;

export interface ResultRow {
  readonly label: string;
  readonly assignment?: Readonly<Record<string, Scalar>>;
  readonly s: number;
  readonly u: number;
  readonly H: number;
  readonly zslT1: number;
  readonly fitSeconds?: number;
  readonly runId?: string;
  /** Seeds averaged over (sweeps with a `seed` axis); the metrics are then means. */
  readonly n?: number;
  /** Sample standard deviations over the seeds. */
  readonly sd?: { readonly s: number; readonly u: number; readonly H: number; readonly zslT1: number };
}

export interface PerClass {
  readonly title: string;
  readonly runId: string;
  /** GZSL per-class accuracy; `unseen` from the ZSL table (which holds only unseen classes). */
  readonly classes: readonly { readonly name: string; readonly accuracy: number; readonly unseen: boolean }[];
}

export interface GalleryImage {
  readonly caption: string;
  readonly dataUri: string;
  readonly correct?: boolean;
}

export interface Gallery {
  readonly title: string;
  readonly images: readonly GalleryImage[];
}

export interface Textual {
  readonly title: string;
  readonly perClass: readonly {
    readonly class: string;
    readonly images: number;
    readonly top: readonly { name: string; score: number }[];
  }[];
  readonly decisions: readonly {
    readonly trueClass: string;
    readonly predicted: string;
    readonly correct: boolean;
    readonly top: readonly { name: string; score: number }[];
  }[];
}

/** One metric's history of a method run (e.g. NIWT stage D loss by step). */
export interface Curve {
  readonly title: string;
  readonly metric: string;
  readonly steps: readonly number[];
  readonly values: readonly number[];
}

/** A method's seen-unseen accuracy curve over the calibration γ (Chao et al.), with its area. */
export interface SeenUnseenSeries {
  readonly label: string;
  readonly ausuc: number;
  readonly points: readonly { readonly u: number; readonly s: number }[];
  /** Test accuracies at the γ chosen on the seen classes, when calibration ran. */
  readonly chosen?: { readonly u: number; readonly s: number };
}

export interface ReportModel {
  readonly kind: 'run' | 'sweep';
  readonly runId: string;
  readonly runName: string;
  readonly experimentId: string;
  readonly status: string;
  readonly startTime: number;
  readonly configTitle: string;
  readonly configYaml?: string;
  readonly facts: readonly (readonly [string, string])[];
  readonly sweepKeys: readonly string[];
  /** Sorted by H; for a sweep with a `seed` axis, means ± sd over seeds (`sweepKeys` then omits `seed`). */
  readonly rows: readonly ResultRow[];
  /** For a sweep with a `seed` axis: every point, in grid order. */
  readonly perSeed?: readonly ResultRow[];
  /** For a sweep with a `seed` axis: every other setting against the first, differences seed by seed. */
  readonly paired?: readonly PairedRow[];
  readonly perClass: readonly PerClass[];
  readonly curves: readonly Curve[];
  /** Every method's seen-unseen curve (one chart); empty for runs made before calibration was recorded. */
  readonly seenUnseen?: readonly SeenUnseenSeries[];
  readonly galleries: readonly Gallery[];
  readonly textual: readonly Textual[];
  /** Artifacts a full report would show but the run does not have (e.g. explanations disabled). */
  readonly missing: readonly string[];
}

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const metricRow = z.looseObject({ label: z.string(), s: z.number(), u: z.number(), H: z.number(), zslT1: z.number() });
const runResults = z.looseObject({
  configHash: z.string().optional(),
  seed: z.number().optional(),
  backend: z.string().optional(),
  chanceZsl: z.number().optional(),
  seconds: z.number().optional(),
  seenNetwork: z.looseObject({ testSeenAccuracy: z.number() }).optional(),
  dataset: z.looseObject({ classes: z.number(), seen: z.number(), unseen: z.number() }).optional(),
  methods: z.array(
    metricRow.extend({
      fitSeconds: z.number().optional(),
      runId: z.string().optional(),
      permutations: z.number().optional(),
      calibration: z
        .looseObject({
          ausuc: z.number(),
          curve: z.array(z.looseObject({ u: z.number(), s: z.number() })),
          chosen: z.looseObject({ u: z.number(), s: z.number() }).optional(),
        })
        .optional(),
    }),
  ),
});
const sweepResults = z.array(
  z.looseObject({ assignment: z.record(z.string(), scalar), runId: z.string(), methods: z.array(metricRow) }),
);
const perClassFile = z.looseObject({
  gzsl: z.record(z.string(), z.number()),
  zsl: z.record(z.string(), z.number()).optional(),
});
const ranked = z.array(z.looseObject({ name: z.string(), score: z.number() }));
const textualFile = z.looseObject({
  perClass: z.array(z.looseObject({ class: z.string(), images: z.number(), top: ranked })),
  decisions: z.array(
    z.looseObject({ trueClass: z.string(), predicted: z.string(), correct: z.boolean(), top: ranked, png: z.string() }),
  ),
});

/** Parses an artifact with its schema; undefined when absent or of another shape (reported as missing). */
async function parsed<T>(run: LocalRun, rel: string, schema: z.ZodType<T>): Promise<T | undefined> {
  const raw = await readArtifactJson(run, rel);
  if (raw === undefined) return undefined;
  const r = schema.safeParse(raw);
  return r.success ? r.data : undefined;
}

const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;

/** Images above this many per method are left out (a report must stay openable). */
export const MAX_IMAGES_PER_GALLERY = 48;

async function methodParts(
  run: LocalRun,
  title: string,
  missing: string[],
): Promise<{ perClass?: PerClass; gallery?: Gallery; textual?: Textual; curves: Curve[] }> {
  const pc = await parsed(run, ARTIFACTS.perClass, perClassFile);
  if (!pc) missing.push(`${title}: ${ARTIFACTS.perClass}`);
  const unseen = new Set(Object.keys(pc?.zsl ?? {}));
  const perClass = pc
    ? {
        title,
        runId: run.runId,
        classes: Object.entries(pc.gzsl).map(([name, accuracy]) => ({ name, accuracy, unseen: unseen.has(name) })),
      }
    : undefined;
  const tx = await parsed(run, ARTIFACTS.textual, textualFile);
  const pngs = run.artifacts.filter((a) => a.startsWith(ARTIFACTS.gradcamPrefix) && a.toLowerCase().endsWith('.png'));
  if (!tx && pngs.length === 0)
    missing.push(
      `${title}: explanations/ (Grad-CAM and textual explanations; explain.enabled false, or the method has ` +
        `no explainer)`,
    );
  const byPng = new Map((tx?.decisions ?? []).map((d) => [`explanations/${d.png.split('\\').join('/')}`, d]));
  const images: GalleryImage[] = [];
  for (const rel of pngs.slice(0, MAX_IMAGES_PER_GALLERY)) {
    const d = byPng.get(rel);
    const data = await fs.readFile(artifactPath(run, rel));
    const caption = d
      ? `${d.trueClass} → ${d.predicted} (${d.correct ? 'correct' : 'wrong'})`
      : rel.slice(ARTIFACTS.gradcamPrefix.length);
    images.push({ caption, dataUri: `data:image/png;base64,${data.toString('base64')}`, correct: d?.correct });
  }
  const curves = Object.entries(run.metrics)
    .filter(([k, pts]) => pts.length >= 3 && !k.startsWith('perm') && !k.startsWith('permutation/'))
    .sort(([a], [b]) => a.localeCompare(b))
    .slice(0, 6)
    .map(([metric, pts]) => ({
      title: `${title}: ${metric}`,
      metric,
      steps: pts.map((p) => p.step),
      values: pts.map((p) => p.value),
    }));
  return {
    perClass,
    gallery:
      images.length > 0
        ? {
            title:
              `${title}: Grad-CAM (original | overlay), ${pngs.length} ` +
              `image(s)${pngs.length > images.length ? `, first ${images.length} shown` : ''}`,
            images,
          }
        : undefined,
    textual: tx ? { title, perClass: tx.perClass, decisions: tx.decisions } : undefined,
    curves,
  };
}

/** Method runs of a run: its children, or the run itself when it is a method run. */
const methodRuns = (t: RunTree): LocalRun[] =>
  t.children.length > 0 ? t.children.map((c) => c.run) : t.run.artifacts.includes(ARTIFACTS.perClass) ? [t.run] : [];

export async function buildReportModel(tree: RunTree): Promise<ReportModel> {
  const run = tree.run;
  const missing: string[] = [];
  const sweep = await parsed(run, ARTIFACTS.sweepResults, sweepResults);
  const base = {
    runId: run.runId,
    runName: run.runName,
    experimentId: run.experimentId,
    status: run.status,
    startTime: run.startTime,
  };
  const perClass: PerClass[] = [];
  const galleries: Gallery[] = [];
  const textual: Textual[] = [];
  const curves: Curve[] = [];
  const addMethods = async (t: RunTree, prefix: string): Promise<void> => {
    for (const m of methodRuns(t)) {
      const p = await methodParts(m, `${prefix}${m.runName}`, missing);
      if (p.perClass) perClass.push(p.perClass);
      if (p.gallery) galleries.push(p.gallery);
      if (p.textual) textual.push(p.textual);
      curves.push(...p.curves);
    }
  };

  if (sweep) {
    const gridKeys = (run.tags['niwt.sweep.params'] ?? Object.keys(sweep[0]?.assignment ?? {}).join(','))
      .split(',')
      .filter((k) => k !== '');
    const replicated = gridKeys.includes(REPLICATE_KEY);
    const summary = summarizeSweep(gridKeys, sweep, 'H');
    const keys = summary.keys;
    type Row = (typeof summary.rows)[number];
    const pointRow = (r: Row): ResultRow => ({
      label: r.method,
      assignment: r.assignment,
      s: r.s,
      u: r.u,
      H: r.H,
      zslT1: r.zslT1,
      runId: sweep.find((p) => p.assignment === r.assignment)?.runId,
    });
    const meanRow = (r: Row): ResultRow => ({
      label: r.method,
      assignment: r.assignment,
      s: r.s,
      u: r.u,
      H: r.H,
      zslT1: r.zslT1,
      n: r.n,
      sd: r.sd,
    });
    const rows: ResultRow[] = summary.rows.map(replicated ? meanRow : pointRow);
    // the best point's explanations: the best setting's first seed when averaged
    const best = rows[0] && { ...rows[0], runId: replicated ? sweep[summary.bestIndex]?.runId : rows[0].runId };
    const bestTree = tree.children.find((c) => c.run.runId === best?.runId);
    const bestAt = replicated
      ? { ...best?.assignment, [REPLICATE_KEY]: sweep[summary.bestIndex]?.assignment[REPLICATE_KEY] }
      : best?.assignment;
    if (best && bestTree)
      await addMethods(bestTree, `best point (${gridKeys.map((k) => `${k}=${String(bestAt?.[k])}`).join(' ')}) · `);
    else if (best) missing.push(`best point run ${best.runId} (not in this store)`);
    const configYaml = await readArtifactText(run, ARTIFACTS.bestConfig);
    if (configYaml === undefined) missing.push(ARTIFACTS.bestConfig);
    const grid = gridKeys.map((k): [string, string] => [`sweep ${k}`, run.params[`sweep.${k}`] ?? '']);
    return {
      ...base,
      kind: 'sweep',
      configTitle: 'Best configuration (sweep/best.yaml)',
      configYaml,
      facts: [
        ...grid,
        ['points', String(sweep.length)],
        ['best H', best ? `${pct(best.H)}${best.sd ? ` ± ${pct(best.sd.H)} (mean over ${best.n} seeds)` : ''}` : '—'],
        ['sweep hash', run.tags['niwt.sweep'] ?? '—'],
      ],
      sweepKeys: keys,
      rows,
      ...(replicated ? { perSeed: summary.perPoint.map(pointRow), paired: summary.paired } : {}),
      perClass,
      curves: [],
      galleries,
      textual,
      missing,
    };
  }

  const results = await parsed(run, ARTIFACTS.results, runResults);
  if (!results) missing.push(ARTIFACTS.results);
  const configYaml = await readArtifactText(run, ARTIFACTS.config);
  if (configYaml === undefined) missing.push(ARTIFACTS.config);
  await addMethods(tree, '');
  const rows: ResultRow[] = (results?.methods ?? []).map((m) => ({
    label: m.label,
    s: m.s,
    u: m.u,
    H: m.H,
    zslT1: m.zslT1,
    fitSeconds: m.fitSeconds,
    runId: m.runId,
  }));
  const facts: [string, string][] = [];
  if (results?.dataset)
    facts.push([
      'classes',
      `${results.dataset.classes} (${results.dataset.seen} seen, ${results.dataset.unseen} unseen)`,
    ]);
  if (results?.chanceZsl !== undefined) facts.push(['chance ZSL T1', pct(results.chanceZsl)]);
  if (results?.seenNetwork) facts.push(['seen network on test_seen', pct(results.seenNetwork.testSeenAccuracy)]);
  facts.push(
    ['config hash', results?.configHash ?? run.tags['niwt.config_hash'] ?? '—'],
    ['seed', String(results?.seed ?? run.tags['niwt.seed'] ?? '—')],
    ['backend', results?.backend ?? run.tags['niwt.backend'] ?? '—'],
  );
  if (run.tags['mlflow.source.git.commit']) facts.push(['git commit', run.tags['mlflow.source.git.commit']]);
  if (results?.seconds !== undefined) facts.push(['wall time', `${results.seconds.toFixed(1)} s`]);
  const seenUnseen: SeenUnseenSeries[] = (results?.methods ?? []).flatMap((m) =>
    m.calibration
      ? [
          {
            label: m.label,
            ausuc: m.calibration.ausuc,
            points: m.calibration.curve.map((p) => ({ u: p.u, s: p.s })),
            chosen: m.calibration.chosen && { u: m.calibration.chosen.u, s: m.calibration.chosen.s },
          },
        ]
      : [],
  );
  return {
    ...base,
    kind: 'run',
    configTitle: 'Configuration (config/config.yaml)',
    configYaml,
    facts,
    sweepKeys: [],
    rows,
    perClass,
    curves,
    seenUnseen,
    galleries,
    textual,
    missing,
  };
}
