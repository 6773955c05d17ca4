/**
 * The summary of a finished sweep, shared by the local and the queued sweep: rows sorted by a metric, the
 * Markdown table, and the artifacts (best config, table, per-point results, plot).
 *
 * A grid key named `seed` is a replicate axis, not a setting: rows are grouped over it and report the mean
 * and the sample standard deviation over seeds (the best setting is the best mean), the way one reports an
 * ablation. The per-seed rows stay in the table (second section) and in results.json.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { writeLinePlotPng } from './plot.js';

export type SweepValue = string | number | boolean;
export type SweepMetric = 'H' | 's' | 'u' | 'zslT1';
const METRICS = ['s', 'u', 'H', 'zslT1'] as const;

/** The grid key whose values are replicates (seeds), averaged over in the summary. */
export const REPLICATE_KEY = 'seed';

/** One method at one grid point, or — with a `seed` axis — averaged over the seeds of one setting. */
export interface SweepRow {
  /** The setting; without the `seed` key when rows are averaged over seeds. */
  readonly assignment: Readonly<Record<string, SweepValue>>;
  readonly method: string;
  /** Accuracies (means over seeds when `n` > 1), in [0, 1]. */
  readonly s: number;
  readonly u: number;
  readonly H: number;
  readonly zslT1: number;
  /** Seeds behind the row (1 without a `seed` axis). */
  readonly n: number;
  /** Sample standard deviations over the seeds (n − 1 denominator); absent for a single seed. */
  readonly sd?: Readonly<Record<(typeof METRICS)[number], number>>;
}

export interface PointResult {
  readonly assignment: Readonly<Record<string, SweepValue>>;
  readonly methods: readonly {
    readonly label: string;
    readonly s: number;
    readonly u: number;
    readonly H: number;
    readonly zslT1: number;
  }[];
}

export interface SweepSummary {
  /** Grid keys the rows are indexed by (the `seed` key removed when it is a replicate axis). */
  readonly keys: readonly string[];
  /** Rows sorted by the metric, best first (averaged over seeds when the grid has `seed`). */
  readonly rows: readonly SweepRow[];
  /** One row per grid point and method: in grid order with a `seed` axis, else equal to `rows`. */
  readonly perPoint: readonly SweepRow[];
  readonly best: SweepRow;
  /** Index into the points of the best setting's first seed (its config becomes best.yaml). */
  readonly bestIndex: number;
  /** Seeds averaged over (empty without a `seed` axis). */
  readonly seeds: readonly SweepValue[];
  readonly table: string;
  /** With a `seed` axis: each other setting against the first one, differences taken seed by seed. */
  readonly paired: readonly PairedRow[];
}

/** Differences of one setting against the baseline setting, per seed (same seed, same method). */
export interface PairedRow {
  readonly assignment: Readonly<Record<string, SweepValue>>;
  readonly method: string;
  /** Seeds present in both settings. */
  readonly pairs: number;
  /** Per metric: mean, sample sd, min and max of (setting − baseline). */
  readonly diff: Readonly<
    Record<
      (typeof METRICS)[number],
      { readonly mean: number; readonly sd: number; readonly min: number; readonly max: number }
    >
  >;
}

export const fmtSweepValue = (v: SweepValue | undefined): string =>
  typeof v === 'number' && v !== 0 && Math.abs(v) < 1e-2 ? v.toExponential(0) : String(v);
const pct = (v: number): string => (100 * v).toFixed(1);
const same = (
  a: Readonly<Record<string, SweepValue>>,
  b: Readonly<Record<string, SweepValue>>,
  keys: readonly string[],
): boolean => keys.every((k) => a[k] === b[k]);

export function sweepTable(rows: readonly SweepRow[], keys: readonly string[]): string {
  const replicated = rows.some((r) => r.n > 1);
  const cell = (r: SweepRow, m: (typeof METRICS)[number]): string =>
    r.sd ? `${pct(r[m])} ± ${pct(r.sd[m])}` : pct(r[m]);
  const head = [...keys, 'method', ...(replicated ? ['seeds'] : []), 's', 'u', 'H', 'ZSL T1'];
  const body = rows.map((r) => [
    ...keys.map((k) => fmtSweepValue(r.assignment[k])),
    r.method,
    ...(replicated ? [String(r.n)] : []),
    ...METRICS.map((m) => cell(r, m)),
  ]);
  return markdownTable(head, body);
}

/** A right-aligned Markdown table. */
function markdownTable(head: readonly string[], body: readonly (readonly string[])[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padStart(widths[i])).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => `${'-'.repeat(w + 1)}:`).join('|')}|`, ...body.map(line)].join('\n');
}

/** "methods.0.lambda=0.001 (niwt)", with "mean over 5 seeds" when the row is averaged. */
export function bestLine(best: SweepRow): string {
  const what = Object.entries(best.assignment)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return `${what} (${best.method}${best.n > 1 ? `, mean over ${best.n} seeds` : ''})`;
}

function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

/** Rows, best row and table of a finished grid; `gridKeys` in grid order, `points[i]` produced `results[i]`. */
export function summarizeSweep(
  gridKeys: readonly string[],
  results: readonly PointResult[],
  metric: SweepMetric,
): SweepSummary {
  const byMetric = (a: SweepRow, b: SweepRow): number => b[metric] - a[metric];
  const replicated = gridKeys.includes(REPLICATE_KEY);
  const inGridOrder: SweepRow[] = results.flatMap((p) =>
    p.methods.map((m) => ({ assignment: p.assignment, method: m.label, s: m.s, u: m.u, H: m.H, zslT1: m.zslT1, n: 1 })),
  );
  // per-seed rows read best in grid order (setting by setting); plain rows are the ranking itself
  const perPoint = replicated ? inGridOrder : [...inGridOrder].sort(byMetric);
  const keys = replicated ? gridKeys.filter((k) => k !== REPLICATE_KEY) : [...gridKeys];
  let rows: SweepRow[] = perPoint;
  const seeds = replicated ? [...new Set(results.map((p) => p.assignment[REPLICATE_KEY]))] : [];
  if (replicated) {
    // groups in grid order (first appearance), one per setting and method
    const groups: { assignment: Record<string, SweepValue>; method: string; members: SweepRow[] }[] = [];
    for (const r of inGridOrder) {
      const assignment = Object.fromEntries(keys.map((k) => [k, r.assignment[k]]));
      let g = groups.find((x) => x.method === r.method && same(x.assignment, assignment, keys));
      if (!g) groups.push((g = { assignment, method: r.method, members: [] }));
      g.members.push(r);
    }
    rows = groups
      .map((g) => {
        const stats = Object.fromEntries(METRICS.map((m) => [m, meanSd(g.members.map((r) => r[m]))])) as Record<
          (typeof METRICS)[number],
          { mean: number; sd: number }
        >;
        const n = g.members.length;
        return {
          assignment: g.assignment,
          method: g.method,
          s: stats.s.mean,
          u: stats.u.mean,
          H: stats.H.mean,
          zslT1: stats.zslT1.mean,
          n,
          ...(n > 1 ? { sd: { s: stats.s.sd, u: stats.u.sd, H: stats.H.sd, zslT1: stats.zslT1.sd } } : {}),
        };
      })
      .sort(byMetric);
  }
  const best = rows[0];
  const bestIndex = results.findIndex((p) => same(p.assignment, best.assignment, keys));
  let table = sweepTable(rows, keys);
  const paired = replicated ? pairedAgainstFirst(inGridOrder, keys) : [];
  if (paired.length > 0) {
    const base = baselineOf(inGridOrder, keys);
    const against = keys.map((k) => `${k}=${fmtSweepValue(base[k])}`).join(' ');
    table +=
      `\n\nPaired by seed, against ${against} (difference in points: mean ± sd [min, ` +
      `max]):\n\n${pairedTable(paired, keys)}`;
  }
  if (replicated) table += `\n\nPer seed:\n\n${sweepTable(perPoint, gridKeys)}`;
  return { keys, rows, perPoint, best, bestIndex, seeds, table, paired };
}

const baselineOf = (points: readonly SweepRow[], keys: readonly string[]): Record<string, SweepValue> =>
  Object.fromEntries(keys.map((k) => [k, points[0]?.assignment[k]]));

/**
 * Every setting other than the first (in grid order, e.g. λ = 0) against it, seed by seed: an ablation's
 * paired differences, free of the between-seed spread that the mean ± sd rows carry.
 */
function pairedAgainstFirst(points: readonly SweepRow[], keys: readonly string[]): PairedRow[] {
  const base = baselineOf(points, keys);
  const isBase = (r: SweepRow): boolean => same(r.assignment, base, keys);
  const out: PairedRow[] = [];
  for (const r of points) {
    if (isBase(r)) continue;
    const setting = Object.fromEntries(keys.map((k) => [k, r.assignment[k]]));
    if (out.some((o) => o.method === r.method && same(o.assignment, setting, keys))) continue;
    const diffs: Record<string, number[]> = { s: [], u: [], H: [], zslT1: [] };
    for (const x of points.filter((p) => p.method === r.method && same(p.assignment, setting, keys))) {
      const b = points.find(
        (p) => isBase(p) && p.method === r.method && p.assignment[REPLICATE_KEY] === x.assignment[REPLICATE_KEY],
      );
      if (b) for (const m of METRICS) diffs[m].push(x[m] - b[m]);
    }
    if (diffs.s.length === 0) continue;
    const stat = (xs: number[]) => ({ ...meanSd(xs), min: Math.min(...xs), max: Math.max(...xs) });
    out.push({
      assignment: setting,
      method: r.method,
      pairs: diffs.s.length,
      diff: { s: stat(diffs.s), u: stat(diffs.u), H: stat(diffs.H), zslT1: stat(diffs.zslT1) },
    });
  }
  return out;
}

/** A difference of accuracies in points with its sign: +1.2, −0.4, 0.0. */
export function signedPoints(v: number): string {
  const t = Math.abs(100 * v).toFixed(1);
  return Number(t) === 0 ? '0.0' : `${v > 0 ? '+' : '−'}${t}`;
}

function pairedTable(rows: readonly PairedRow[], keys: readonly string[]): string {
  const cell = (d: PairedRow['diff']['s']): string =>
    `${signedPoints(d.mean)} ± ${(100 * d.sd).toFixed(1)} [${signedPoints(d.min)}, ${signedPoints(d.max)}]`;
  const head = [...keys, 'method', 'pairs', 'Δs', 'Δu', 'ΔH', 'Δ ZSL T1'];
  const body = rows.map((r) => [
    ...keys.map((k) => fmtSweepValue(r.assignment[k])),
    r.method,
    String(r.pairs),
    ...METRICS.map((m) => cell(r.diff[m])),
  ]);
  return markdownTable(head, body);
}

export interface SweepArtifactInput {
  readonly summary: SweepSummary;
  readonly metric: SweepMetric;
  /** The resolved config of each point (best.yaml is the best setting's first seed). */
  readonly resolved: readonly unknown[];
  /** Per-point records for results.json. */
  readonly results: readonly unknown[];
  /** The grid points in grid order (the plot's x axis follows it). */
  readonly points: readonly Readonly<Record<string, SweepValue>>[];
}

/**
 * Writes best.yaml, table.md, results.json and — when one setting is swept (besides `seed`) — sweep.png,
 * s, u and H of the first method against it (error bars: ± one standard deviation over seeds).
 * Returns the plot's path when one was drawn.
 */
export async function writeSweepArtifacts(outDir: string, a: SweepArtifactInput): Promise<string | undefined> {
  const { summary, metric } = a;
  const seedNote =
    summary.seeds.length > 0
      ? `# best by the mean ${metric} over seeds ${summary.seeds.join(', ')}; this config is the run with seed ` +
        `${String(a.points[summary.bestIndex][REPLICATE_KEY])}\n`
      : '';
  await fs.writeFile(path.join(outDir, 'best.yaml'), seedNote + toYaml(a.resolved[summary.bestIndex]));
  await fs.writeFile(path.join(outDir, 'table.md'), `${summary.table}\n`);
  await fs.writeFile(path.join(outDir, 'results.json'), JSON.stringify(a.results, null, 2));
  if (summary.keys.length !== 1) return undefined;
  const key = summary.keys[0];
  const label = summary.rows[0].method;
  const xs: SweepValue[] = [];
  for (const p of a.points) if (!xs.includes(p[key])) xs.push(p[key]);
  const rowAt = (x: SweepValue): SweepRow | undefined =>
    summary.rows.find((r) => r.method === label && r.assignment[key] === x);
  const series = (f: 's' | 'u' | 'H') => ({
    ys: xs.map((x) => 100 * (rowAt(x)?.[f] ?? 0)),
    ...(summary.seeds.length > 1 ? { errs: xs.map((x) => 100 * (rowAt(x)?.sd?.[f] ?? 0)) } : {}),
  });
  const plot = path.join(outDir, 'sweep.png');
  const over = summary.seeds.length > 1 ? ` (mean ± sd over ${summary.seeds.length} seeds)` : '';
  await writeLinePlotPng(plot, {
    title: `${label}: s, u, H vs ${key}`,
    subtitle: over || undefined,
    xLabels: xs.map(fmtSweepValue),
    markX: xs.indexOf(summary.best.assignment[key]),
    markLabel: `best ${metric}`,
    yLabel: 'accuracy (%)',
    series: [
      { name: 's (seen)', colour: '#1f77b4', ...series('s') },
      { name: 'u (unseen)', colour: '#d62728', ...series('u') },
      { name: 'H', colour: '#2ca02c', ...series('H') },
    ],
  });
  return plot;
}
