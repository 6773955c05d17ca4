/**
 * Inline SVG charts for the HTML report: horizontal bars, lines and a scatter. Hand-written so the page
 * needs no script and no network, and renders the same in any browser (and in librsvg).
 */
export const esc = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toFixed(2));
const text = (x: number, y: number, s: string, extra = ''): string =>
  `<text x="${num(x)}" y="${num(y)}" ${extra}>${esc(s)}</text>`;

function svg(width: number, height: number, title: string, body: string[]): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="${esc(title)}" viewBox="0 ` +
    `0 ${width} ${height}" width="${width}" height="${height}">` +
    `<title>${esc(title)}</title><rect width="${width}" height="${height}" fill="#fff"/>` +
    `${text(width / 2, 20, title, 'text-anchor="middle" class="t"')}${body.join('')}</svg>`
  );
}

/** Ticks for [lo, hi]: about five round steps. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export interface Bar {
  readonly name: string;
  readonly value: number;
  readonly colour: string;
}

/** Horizontal bars, values in [0, 1] shown as percent; one row per bar so long class names stay readable. */
export function barChartSvg(
  title: string,
  bars: readonly Bar[],
  legend: readonly { name: string; colour: string }[] = [],
): string {
  const rowH = 18;
  const m = { l: 170, r: 60, t: 34 + (legend.length > 0 ? 18 : 0), b: 28 };
  const width = 640;
  const W = width - m.l - m.r;
  const height = m.t + m.b + rowH * Math.max(1, bars.length);
  const body: string[] = [];
  legend.forEach((l, i) =>
    body.push(
      `<rect x="${m.l + i * 130}" y="28" width="12" height="12" fill="${l.colour}"/>`,
      text(m.l + i * 130 + 16, 38, l.name, 'class="s"'),
    ),
  );
  for (const v of [0, 25, 50, 75, 100]) {
    const x = m.l + (v / 100) * W;
    body.push(
      `<line x1="${x}" x2="${x}" y1="${m.t - 4}" y2="${height - m.b}" stroke="#e5e5e5"/>`,
      text(x, height - m.b + 16, `${v}%`, 'text-anchor="middle" class="s"'),
    );
  }
  bars.forEach((b, i) => {
    const y = m.t + i * rowH;
    const w = Math.max(0, Math.min(1, b.value)) * W;
    body.push(
      text(m.l - 6, y + rowH - 5, b.name, 'text-anchor="end" class="s"'),
      `<rect class="bar" x="${m.l}" y="${y + 2}" width="${num(w)}" height="${rowH - 4}" ` +
        `fill="${b.colour}"><title>${esc(`${b.name}: ${(100 * b.value).toFixed(1)}%`)}</title></rect>`,
      text(m.l + w + 4, y + rowH - 5, `${(100 * b.value).toFixed(1)}`, 'class="s"'),
    );
  });
  return svg(width, height, title, body);
}

export interface LineSeries {
  readonly name: string;
  readonly colour: string;
  /** One y per x label; NaN leaves a gap. */
  readonly ys: readonly number[];
  /** Error-bar half-lengths per point (e.g. one sd over seeds); 0 or NaN draws none. */
  readonly errs?: readonly number[];
}

export interface LineChart {
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  /** Categorical x (λ = 0, 1e-5 … are evenly spaced, as in the paper's ablation). */
  readonly xLabels: readonly string[];
  readonly series: readonly LineSeries[];
  /** Fixed y range; by default the data's range. */
  readonly yRange?: readonly [number, number];
}

export function lineChartSvg(c: LineChart): string {
  const width = 640;
  const height = 360;
  const m = { l: 64, r: 150, t: 36, b: 52 };
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const finite = c.series.flatMap((s) => s.ys.filter(Number.isFinite));
  let [lo, hi] = c.yRange ?? [Math.min(...finite, Infinity), Math.max(...finite, -Infinity)];
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const n = c.xLabels.length;
  const x = (i: number): number => m.l + (n <= 1 ? W / 2 : (i * W) / (n - 1));
  const y = (v: number): number => m.t + H - ((v - lo) / (hi - lo)) * H;
  const body: string[] = [];
  for (const v of niceTicks(lo, hi))
    body.push(
      `<line x1="${m.l}" x2="${m.l + W}" y1="${num(y(v))}" y2="${num(y(v))}" stroke="#e5e5e5"/>`,
      text(m.l - 6, y(v) + 4, String(v), 'text-anchor="end" class="s"'),
    );
  const every = Math.max(1, Math.ceil(n / 12));
  c.xLabels.forEach((l, i) => {
    if (i % every === 0) body.push(text(x(i), m.t + H + 16, l, 'text-anchor="middle" class="s"'));
  });
  body.push(
    `<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#444"/>`,
    text(m.l + W / 2, height - 12, c.xTitle, 'text-anchor="middle"'),
    text(16, m.t + H / 2, c.yTitle, `text-anchor="middle" transform="rotate(-90 16 ${num(m.t + H / 2)})"`),
  );
  c.series.forEach((s, k) => {
    const segs: string[][] = [[]];
    s.ys.forEach((v, i) =>
      Number.isFinite(v) ? segs[segs.length - 1].push(`${num(x(i))},${num(y(v))}`) : segs.push([]),
    );
    for (const seg of segs)
      if (seg.length > 0)
        body.push(
          `<polyline class="line" points="${seg.join(' ')}" fill="none" stroke="${s.colour}" stroke-width="2.2"/>`,
        );
    const dx = (k - (c.series.length - 1) / 2) * 5; // bars of overlapping series side by side
    s.errs?.forEach((e, i) => {
      if (!(e > 0) || !Number.isFinite(s.ys[i])) return;
      const [bx, y0, y1] = [x(i) + dx, y(s.ys[i] - e), y(s.ys[i] + e)];
      body.push(
        `<path class="err" ` +
          `d="M${num(bx)},${num(y0)}V${num(y1)}M${num(bx - 4)},${num(y0)}h8M${num(bx - 4)},${num(y1)}h8" ` +
          `stroke="${s.colour}" stroke-width="1.4" fill="none"/>`,
      );
    });
    if (n <= 40)
      s.ys.forEach(
        (v, i) =>
          Number.isFinite(v) &&
          body.push(
            `<circle cx="${num(x(i))}" cy="${num(y(v))}" r="3.5" ` +
              `fill="${s.colour}"><title>${esc(`${s.name} @ ${c.xLabels[i]}: ${v.toPrecision(4)}`)}</title></circle>`,
          ),
      );
    const ly = m.t + 12 + k * 20;
    body.push(
      `<line x1="${m.l + W + 12}" x2="${m.l + W + 34}" y1="${ly}" y2="${ly}" stroke="${s.colour}" stroke-width="3"/>`,
      text(m.l + W + 40, ly + 4, s.name, 'class="s"'),
    );
  });
  return svg(width, height, c.title, body);
}

export interface ScatterPoint {
  readonly label: string;
  /** Seen accuracy s in [0, 1]. */
  readonly s: number;
  /** Unseen accuracy u in [0, 1]. */
  readonly u: number;
  readonly colour: string;
  /** Text written next to the point (a sweep point's setting); none when absent. */
  readonly tag?: string;
  /** The best point: ringed, its tag marked "(best)". */
  readonly best?: boolean;
}

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

const overlaps = (a: Box, b: Box): boolean => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

/**
 * Places each tag beside its point where it overlaps no other tag or point (right, left, above, below, then
 * further out); points at the same spot share one tag. Returns [x, y, text, anchor] per placed tag.
 */
export function placeTags(
  points: readonly { x: number; y: number; tag: string }[],
  charWidth = 6.2,
  lineHeight = 12,
): { x: number; y: number; text: string; box: Box }[] {
  const merged = new Map<string, { x: number; y: number; tags: string[] }>();
  for (const p of points) {
    const key = `${Math.round(p.x)},${Math.round(p.y)}`;
    const m = merged.get(key) ?? { x: p.x, y: p.y, tags: [] };
    if (!m.tags.includes(p.tag)) m.tags.push(p.tag);
    merged.set(key, m);
  }
  const taken: Box[] = points.map((p) => ({ x: p.x - 5, y: p.y - 5, w: 10, h: 10 }));
  const out: { x: number; y: number; text: string; box: Box }[] = [];
  for (const m of merged.values()) {
    const text = m.tags.join('; ');
    const w = text.length * charWidth;
    const h = lineHeight;
    const candidates: Box[] = [];
    for (const d of [8, 20, 34]) {
      candidates.push(
        { x: m.x + d, y: m.y - h / 2, w, h },
        { x: m.x - d - w, y: m.y - h / 2, w, h },
        { x: m.x - w / 2, y: m.y - d - h, w, h },
        { x: m.x - w / 2, y: m.y + d, w, h },
      );
    }
    const box = candidates.find((c) => !taken.some((t) => overlaps(c, t))) ?? candidates[0];
    taken.push(box);
    out.push({ x: box.x, y: box.y + h - 2, text, box });
  }
  return out;
}

/** Seen (x) vs unseen (y) accuracy, with iso-H curves: the GZSL trade-off at a glance. */
export function tradeoffSvg(title: string, points: readonly ScatterPoint[]): string {
  const size = 380;
  const m = { l: 60, r: 200, t: 36, b: 50 };
  const width = size + m.l + m.r;
  const height = size + m.t + m.b;
  const max = Math.min(1, Math.max(0.1, ...points.flatMap((p) => [p.s, p.u])) * 1.1);
  const x = (v: number): number => m.l + (v / max) * size;
  const y = (v: number): number => m.t + size - (v / max) * size;
  const body: string[] = [];
  for (const v of niceTicks(0, 100 * max)) {
    body.push(
      `<line x1="${num(x(v / 100))}" x2="${num(x(v / 100))}" y1="${m.t}" y2="${m.t + size}" stroke="#eee"/>`,
      text(x(v / 100), m.t + size + 16, String(v), 'text-anchor="middle" class="s"'),
    );
    body.push(
      `<line x1="${m.l}" x2="${m.l + size}" y1="${num(y(v / 100))}" y2="${num(y(v / 100))}" stroke="#eee"/>`,
      text(m.l - 6, y(v / 100) + 4, String(v), 'text-anchor="end" class="s"'),
    );
  }
  // iso-H curves: u = H s / (2 s − H), for s > H/2
  for (const h of [0.1, 0.2, 0.3, 0.5, 0.7].filter((h) => h < max)) {
    const pts: string[] = [];
    for (let i = 0; i <= 60; i++) {
      const s = h / 2 + 1e-3 + (i / 60) * (max - h / 2);
      const u = (h * s) / (2 * s - h);
      if (u <= max) pts.push(`${num(x(s))},${num(y(u))}`);
    }
    body.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#bbb" stroke-dasharray="4 3"/>`);
    body.push(
      text(
        x(Math.min(max, 0.98 * max)) - 4,
        y((h * max) / (2 * max - h)) - 4,
        `H=${100 * h}`,
        'text-anchor="end" class="s" fill="#888"',
      ),
    );
  }
  body.push(
    `<rect x="${m.l}" y="${m.t}" width="${size}" height="${size}" fill="none" stroke="#444"/>`,
    text(m.l + size / 2, height - 12, 's: seen accuracy (%)', 'text-anchor="middle"'),
    text(
      16,
      m.t + size / 2,
      'u: unseen accuracy (%)',
      `text-anchor="middle" transform="rotate(-90 16 ${m.t + size / 2})"`,
    ),
  );
  const legend = new Map<string, string>();
  for (const p of points) {
    body.push(
      `<circle class="point" cx="${num(x(p.s))}" cy="${num(y(p.u))}" r="5" fill="${p.colour}" ` +
        `fill-opacity="0.8" stroke="#222" ` +
        `stroke-width="0.6"><title>${esc(
          `${p.label}: s ${(100 * p.s).toFixed(1)}, u ` + `${(100 * p.u).toFixed(1)}`,
        )}</title></circle>`,
    );
    if (p.best)
      body.push(
        `<circle class="best" cx="${num(x(p.s))}" cy="${num(y(p.u))}" r="9" fill="none" stroke="#000" ` +
          `stroke-width="1.8"/>`,
      );
    const group = p.label.split(' @ ')[0];
    if (!legend.has(group)) legend.set(group, p.colour);
  }
  const tagged = points
    .filter((p) => p.tag)
    .map((p) => ({ x: x(p.s), y: y(p.u), tag: `${p.tag}${p.best ? ' (best)' : ''}` }));
  for (const t of placeTags(tagged)) body.push(text(t.x, t.y, t.text, 'class="s point-label"'));
  [...legend]
    .slice(0, 16)
    .forEach(([name, colour], i) =>
      body.push(
        `<circle cx="${m.l + size + 20}" cy="${m.t + 10 + i * 20}" r="5" fill="${colour}"/>`,
        text(m.l + size + 32, m.t + 14 + i * 20, name, 'class="s"'),
      ),
    );
  return svg(width, height, title, body);
}

export interface SeenUnseenCurveSeries {
  readonly name: string;
  readonly colour: string;
  readonly ausuc: number;
  /** u (x) and s (y) in [0, 1], by increasing γ. */
  readonly points: readonly { readonly u: number; readonly s: number }[];
  /** The point at the γ chosen without test data. */
  readonly chosen?: { readonly u: number; readonly s: number };
}

/**
 * Seen-unseen accuracy curves of calibrated stacking (Chao et al. 2016), one polyline per method, AUSUC in the legend.
 */
export function seenUnseenSvg(title: string, series: readonly SeenUnseenCurveSeries[]): string {
  const size = 380;
  const m = { l: 60, r: 220, t: 36, b: 50 };
  const width = size + m.l + m.r;
  const height = size + m.t + m.b;
  const x = (v: number): number => m.l + v * size;
  const y = (v: number): number => m.t + size - v * size;
  const body: string[] = [];
  for (const v of niceTicks(0, 100)) {
    body.push(
      `<line x1="${num(x(v / 100))}" x2="${num(x(v / 100))}" y1="${m.t}" y2="${m.t + size}" stroke="#eee"/>`,
      text(x(v / 100), m.t + size + 16, String(v), 'text-anchor="middle" class="s"'),
    );
    body.push(
      `<line x1="${m.l}" x2="${m.l + size}" y1="${num(y(v / 100))}" y2="${num(y(v / 100))}" stroke="#eee"/>`,
      text(m.l - 6, y(v / 100) + 4, String(v), 'text-anchor="end" class="s"'),
    );
  }
  body.push(
    `<rect x="${m.l}" y="${m.t}" width="${size}" height="${size}" fill="none" stroke="#444"/>`,
    text(m.l + size / 2, height - 12, 'u: unseen accuracy (%)', 'text-anchor="middle"'),
    text(
      16,
      m.t + size / 2,
      's: seen accuracy (%)',
      `text-anchor="middle" transform="rotate(-90 16 ${m.t + size / 2})"`,
    ),
  );
  series.forEach((c, k) => {
    const pts = c.points.map((p) => `${num(x(p.u))},${num(y(p.s))}`).join(' ');
    body.push(
      `<polyline class="line su" points="${pts}" fill="none" stroke="${c.colour}" ` +
        `stroke-width="2"><title>${esc(`${c.name}: AUSUC ${(100 * c.ausuc).toFixed(1)}`)}</title></polyline>`,
    );
    if (c.chosen)
      body.push(
        `<circle class="chosen" cx="${num(x(c.chosen.u))}" cy="${num(y(c.chosen.s))}" r="4.5" fill="#fff" ` +
          `stroke="${c.colour}" ` +
          `stroke-width="2"><title>${esc(
            `${c.name} at the chosen γ: s ${(100 * c.chosen.s).toFixed(1)}, u ` + `${(100 * c.chosen.u).toFixed(1)}`,
          )}</title></circle>`,
      );
    const ly = m.t + 12 + k * 20;
    body.push(
      `<line x1="${m.l + size + 14}" x2="${m.l + size + 36}" y1="${ly}" y2="${ly}" stroke="${c.colour}" ` +
        `stroke-width="3"/>`,
      text(m.l + size + 42, ly + 4, `${c.name} (AUSUC ${(100 * c.ausuc).toFixed(1)})`, 'class="s"'),
    );
  });
  return svg(width, height, title, body);
}
