/**
 * Renders a ReportModel as one self-contained HTML page: inline CSS, inline SVG, images as data: URIs,
 * no script and no external reference, so it opens offline, from a mail attachment or an artifact view.
 */
import { PALETTE, barChartSvg, esc, lineChartSvg, seenUnseenSvg, tradeoffSvg, type ScatterPoint } from './svg.js';
import type { ReportModel, ResultRow, Scalar } from './model.js';
import { signedPoints, type PairedRow } from '../sweep-summary.js';

const CSS =
  `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu ` +
  `Sans",sans-serif;margin:0;color:#1d1d1f;background:#f6f7f9}
header{background:#1f2a44;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}header ` +
  `.sub{opacity:.8;font-size:13px}
main{padding:8px 28px 40px;max-width:1400px}section{background:#fff;border:1px solid ` +
  `#e1e4e8;border-radius:8px;padding:14px 18px;margin:16px 0}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}th,td{padding:4px 10px;border-bottom:1px solid ` +
  `#eee;text-align:right}
th{background:#f3f4f6}td.l,th.l{text-align:left}tr.best td{background:#eef8ee;font-weight:600}
pre{background:#f6f8fa;border:1px solid ` +
  `#e1e4e8;border-radius:6px;padding:10px;overflow:auto;max-height:420px;font-size:12.5px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}.facts dt{color:#666}.facts ` +
  `dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
.charts{display:flex;flex-wrap:wrap;gap:14px}svg.chart{flex:0 1 560px;max-width:100%;height:auto;border:1px solid ` +
  `#eee;border-radius:4px}
svg.chart text{font:12px sans-serif;fill:#222}svg.chart text.t{font-size:14px;font-weight:600}svg.chart ` +
  `text.s{font-size:11px}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(270px,1fr));gap:10px}
figure{margin:0;border:1px solid #e1e4e8;border-radius:6px;padding:6px;background:#fafafa}figure ` +
  `img{width:100%;image-rendering:pixelated;display:block}
figure.ok{border-color:#7bc47f}figure.bad{border-color:#e08080}figcaption{font-size:12px;margin-top:4px}
.tag{display:inline-block;border-radius:3px;padding:0 5px;margin:1px ` +
  `2px;background:#eef1f6;font-size:12px}.muted{color:#777}
`;

const pct = (v: number): string => (100 * v).toFixed(1);
const fmtScalar = (v: Scalar | undefined): string =>
  v === undefined ? '' : typeof v === 'number' && v !== 0 && Math.abs(v) < 1e-2 ? v.toExponential(0) : String(v);

function resultsTable(rows: readonly ResultRow[], keys: readonly string[], id = 'results'): string {
  const fit = rows.some((r) => r.fitSeconds !== undefined);
  const seeds = rows.some((r) => r.n !== undefined);
  const head = [
    ...keys.map((k) => `<th class="l">${esc(k)}</th>`),
    `<th class="l">method</th>${seeds ? '<th>seeds</th>' : ''}<th>s</th><th>u</th><th>H</th><th>ZSL T1</th>`,
    fit ? '<th>fit</th>' : '',
  ].join('');
  const bestH = Math.max(...rows.map((r) => r.H));
  const cell = (r: ResultRow, f: 's' | 'u' | 'H' | 'zslT1'): string =>
    `<td>${pct(r[f])}${r.sd ? ` ± ${pct(r.sd[f])}` : ''}</td>`;
  const body = rows
    .map((r) => {
      const cells = [
        ...keys.map((k) => `<td class="l">${esc(fmtScalar(r.assignment?.[k]))}</td>`),
        `<td class="l">${esc(r.label)}</td>`,
        ...(seeds ? [`<td>${r.n ?? ''}</td>`] : []),
        ...(['s', 'u', 'H', 'zslT1'] as const).map((f) => cell(r, f)),
      ];
      if (fit) cells.push(`<td>${r.fitSeconds === undefined ? '' : `${r.fitSeconds.toFixed(1)}s`}</td>`);
      return `<tr${r.H === bestH ? ' class="best"' : ''}>${cells.join('')}</tr>`;
    })
    .join('');
  const note = seeds ? ' Mean ± sample sd over the seeds; best mean H highlighted.' : ' Best H highlighted.';
  return (
    `<table id="${id}"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table><p class="muted">s, u: ` +
    `per-class mean top-1 accuracy (%) on test_seen / test_unseen over the joint label space; H = 2us/(u+s); ` +
    `ZSL T1: unseen images, unseen classes only.${note}</p>`
  );
}

function pairedTable(rows: readonly PairedRow[], keys: readonly string[]): string {
  const head = [
    ...keys.map((k) => `<th class="l">${esc(k)}</th>`),
    '<th class="l">method</th><th>pairs</th><th>Δs</th><th>Δu</th><th>ΔH</th><th>Δ ZSL T1</th>',
  ].join('');
  const body = rows
    .map((r) => {
      const cells = (['s', 'u', 'H', 'zslT1'] as const).map(
        (f) =>
          `<td>${signedPoints(r.diff[f].mean)} ± ${(100 * r.diff[f].sd).toFixed(1)} <span ` +
          `class="muted">[${signedPoints(r.diff[f].min)}, ${signedPoints(r.diff[f].max)}]</span></td>`,
      );
      return (
        `<tr>${keys.map((k) => `<td class="l">${esc(fmtScalar(r.assignment[k]))}</td>`).join('')}<td ` +
        `class="l">${esc(r.method)}</td><td>${r.pairs}</td>${cells.join('')}</tr>`
      );
    })
    .join('');
  return (
    `<table id="paired-results"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table><p ` +
    `class="muted">Each setting minus the first setting of the grid, on the same seed (same data and network), ` +
    `in points: mean ± sample sd [min, max] over the seeds.</p>`
  );
}

/** For each swept key: s, u, H of the first method against the key's values (best H over the other keys). */
function sweepCurves(rows: readonly ResultRow[], keys: readonly string[]): string[] {
  const label = rows[0]?.label; // the method of the best point
  const ofLabel = rows.filter((r) => r.label === label);
  return keys.map((key) => {
    const values = [...new Map(ofLabel.map((r) => [String(r.assignment?.[key]), r.assignment?.[key]])).values()].sort(
      (a, b) => (typeof a === 'number' && typeof b === 'number' ? a - b : String(a).localeCompare(String(b))),
    );
    const bestAt = values.map((v) => ofLabel.filter((r) => r.assignment?.[key] === v).sort((a, b) => b.H - a.H)[0]);
    const series = (f: 's' | 'u' | 'H', name: string, colour: string) => ({
      name,
      colour,
      ys: bestAt.map((r) => (r ? 100 * r[f] : NaN)),
      errs: bestAt.map((r) => (r?.sd ? 100 * r.sd[f] : 0)),
    });
    return lineChartSvg({
      title:
        `${label ?? ''}: s, u, H vs ` +
        `${key}${
          keys.length > 1 ? ' (best H over the other swept ' + 'values)' : ''
        }${ofLabel.some((r) => r.sd) ? ', mean ± sd over seeds' : ''}`,
      xTitle: key,
      yTitle: 'accuracy (%)',
      xLabels: values.map(fmtScalar),
      yRange: [0, 100],
      series: [
        series('s', 's (seen)', PALETTE[0]),
        series('u', 'u (unseen)', PALETTE[1]),
        series('H', 'H', PALETTE[2]),
      ],
    });
  });
}

function tradeoff(m: ReportModel): string {
  const groups = [...new Set(m.rows.map((r) => r.label))];
  const bestH = Math.max(...m.rows.map((r) => r.H));
  const setting = (r: ResultRow): string =>
    m.sweepKeys.map((k) => `${k.split('.').pop() ?? k}=${fmtScalar(r.assignment?.[k])}`).join(',');
  const points: ScatterPoint[] = m.rows.map((r) => ({
    label:
      m.kind === 'sweep'
        ? `${r.label} @ ${m.sweepKeys.map((k) => `${k}=${fmtScalar(r.assignment?.[k])}`).join(' ')}`
        : r.label,
    s: r.s,
    u: r.u,
    colour: PALETTE[groups.indexOf(r.label) % PALETTE.length],
    ...(m.kind === 'sweep'
      ? { tag: groups.length > 1 ? `${r.label} ${setting(r)}` : setting(r), best: r.H === bestH }
      : {}),
  }));
  return tradeoffSvg(
    m.kind === 'sweep'
      ? `seen vs unseen accuracy, ${points.length} sweep point(s)`
      : 'seen vs unseen accuracy per method',
    points,
  );
}

const section = (id: string, title: string, body: string): string =>
  `<section id="${id}"><h2>${esc(title)}</h2>${body}</section>`;
const ranked = (top: readonly { name: string; score: number }[]): string =>
  top.map((d) => `<span class="tag">${esc(d.name)} ${d.score.toFixed(2)}</span>`).join('');

export function renderReportHtml(m: ReportModel, generatedAt: Date = new Date()): string {
  const parts: string[] = [];
  const facts = [
    ['run', `${m.runName} (${m.runId})`],
    ['status', m.status],
    ['started', new Date(m.startTime).toISOString()],
    ...m.facts,
  ];
  parts.push(
    section(
      'summary',
      'Summary',
      `<dl class="facts">${facts.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('')}</dl>`,
    ),
  );
  parts.push(
    section(
      'config',
      m.configTitle,
      m.configYaml === undefined ? '<p class="muted">not recorded</p>' : `<pre>${esc(m.configYaml)}</pre>`,
    ),
  );
  parts.push(
    section(
      'table',
      m.kind === 'sweep' ? 'Sweep results (sorted by H)' : 'Results',
      m.rows.length > 0 ? resultsTable(m.rows, m.sweepKeys) : '<p class="muted">no results recorded</p>',
    ),
  );
  if (m.paired && m.paired.length > 0)
    parts.push(section('paired', 'Paired by seed, against the first setting', pairedTable(m.paired, m.sweepKeys)));
  if (m.perSeed)
    parts.push(
      section(
        'per-seed',
        'Sweep results per seed',
        resultsTable(m.perSeed, [...m.sweepKeys, 'seed'], 'per-seed-results'),
      ),
    );
  const charts: string[] = [];
  if (m.rows.length > 0) charts.push(tradeoff(m));
  if (m.seenUnseen && m.seenUnseen.length > 0) {
    const series = m.seenUnseen.map((c, k) => ({
      name: c.label,
      colour: PALETTE[k % PALETTE.length],
      ausuc: c.ausuc,
      points: c.points,
      chosen: c.chosen,
    }));
    charts.push(
      seenUnseenSvg('seen-unseen accuracy curves (calibrated stacking over γ; ○ = γ chosen on seen classes)', series),
    );
  }
  if (m.kind === 'sweep') charts.push(...sweepCurves(m.rows, m.sweepKeys));
  for (const c of m.curves)
    charts.push(
      lineChartSvg({
        title: c.title,
        xTitle: 'step',
        yTitle: c.metric,
        xLabels: c.steps.map(String),
        series: [{ name: c.metric.split('/').pop() ?? c.metric, colour: PALETTE[4], ys: c.values }],
      }),
    );
  if (charts.length > 0)
    parts.push(
      section(
        'curves',
        m.kind === 'sweep' ? 'Trade-off and sweep curves' : 'Trade-off and training curves',
        `<div class="charts">${charts.join('')}</div>`,
      ),
    );
  if (m.perClass.length > 0) {
    const legend = [
      { name: 'seen class', colour: PALETTE[0] },
      { name: 'unseen class', colour: PALETTE[1] },
    ];
    const bars = m.perClass.map((p) =>
      barChartSvg(
        `${p.title}: per-class accuracy (GZSL)`,
        [...p.classes]
          .sort((a, b) => Number(b.unseen) - Number(a.unseen) || a.name.localeCompare(b.name))
          .map((c) => ({ name: c.name, value: c.accuracy, colour: c.unseen ? PALETTE[1] : PALETTE[0] })),
        legend,
      ),
    );
    parts.push(section('per-class', 'Per-class accuracy', `<div class="charts">${bars.join('')}</div>`));
  }
  if (m.galleries.length > 0) {
    const g = m.galleries.map(
      (gal) =>
        `<h3>${esc(gal.title)}</h3><div ` +
        `class="gallery">${gal.images
          .map(
            (i) =>
              `<figure class="${i.correct === undefined ? '' : i.correct ? 'ok' : 'bad'}"><img src="${i.dataUri}" ` +
              `alt="${esc(i.caption)}"><figcaption>${esc(i.caption)}</figcaption></figure>`,
          )
          .join('')}</div>`,
    );
    parts.push(section('gradcam', 'Grad-CAM galleries', g.join('')));
  }
  if (m.textual.length > 0) {
    const t = m.textual.map(
      (x) =>
        `<h3>${esc(x.title)}: unseen classes, top knowledge dimensions of their neuron importance</h3><table ` +
        `class="textual"><thead><tr><th class="l">class</th><th>images</th><th class="l">top dimensions ` +
        `(score)</th></tr></thead><tbody>` +
        x.perClass
          .map(
            (c) => `<tr><td class="l">${esc(c.class)}</td><td>${c.images}</td><td class="l">${ranked(c.top)}</td></tr>`,
          )
          .join('') +
        (`</tbody></table><h3>${esc(x.title)}: explained decisions</h3><table class="textual"><thead><tr><th ` +
          `class="l">true class</th><th class="l">predicted</th><th class="l">why (top ` +
          `dimensions)</th></tr></thead><tbody>`) +
        x.decisions
          .map(
            (d) =>
              `<tr><td class="l">${esc(d.trueClass)}</td><td class="l">${esc(d.predicted)} ` +
              `${d.correct ? '✓' : '✗'}</td><td class="l">${ranked(d.top)}</td></tr>`,
          )
          .join('') +
        '</tbody></table>',
    );
    parts.push(section('textual', 'Textual explanations', t.join('')));
  }
  if (m.missing.length > 0)
    parts.push(
      section('missing', 'Not in this run', `<ul>${m.missing.map((x) => `<li>${esc(x)}</li>`).join('')}</ul>`),
    );
  const title = `${m.kind === 'sweep' ? 'Sweep' : 'Run'} report: ${m.runName}`;
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" ` +
    `content="width=device-width, initial-scale=1">` +
    `<link rel="icon" href="data:,"><title>${esc(title)}</title><style>${CSS}</style></head><body>` +
    (`<header><h1>${esc(title)}</h1><div class="sub">NIWT Lab · experiment ${esc(m.experimentId)} · generated ` +
      `${esc(generatedAt.toISOString())} by niwt report</div></header>`) +
    `<main>${parts.join('\n')}</main></body></html>\n`
  );
}
