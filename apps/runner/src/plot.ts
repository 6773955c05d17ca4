/** Line plots as SVG, rendered to PNG with sharp (librsvg): no browser, no plotting library. */
import sharp from 'sharp';

export interface Series {
  readonly name: string;
  readonly colour: string;
  readonly ys: readonly number[];
  /** Half-lengths of error bars at each point (e.g. one standard deviation over seeds). */
  readonly errs?: readonly number[];
}

export interface LinePlot {
  readonly title: string;
  /** A smaller second title line. */
  readonly subtitle?: string;
  readonly xLabels: readonly string[];
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Index of the x value to mark (the best setting): a dashed line labelled `markLabel`. */
  readonly markX?: number;
  readonly markLabel?: string;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Categorical x (e.g. λ = 0, 1e-5 … 1e-2, evenly spaced), y in [0, 100] percent. */
export function linePlotSvg(p: LinePlot, width = 640, height = 400): string {
  const m = { l: 60, r: 130, t: 40, b: 50 };
  const W = width - m.l - m.r;
  const H = height - m.t - m.b;
  const n = p.xLabels.length;
  const x = (i: number): number => m.l + (n === 1 ? W / 2 : (i * W) / (n - 1));
  const y = (v: number): number => m.t + H - (Math.max(0, Math.min(100, v)) / 100) * H;
  const parts: string[] = [
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="${p.subtitle ? 20 : 24}" text-anchor="middle" font-family="sans-serif" ` +
      `font-size="16">${esc(p.title)}</text>`,
  ];
  if (p.subtitle)
    parts.push(
      `<text x="${width / 2}" y="35" text-anchor="middle" font-family="sans-serif" font-size="11" ` +
        `fill="#555">${esc(p.subtitle)}</text>`,
    );
  for (let v = 0; v <= 100; v += 20) {
    parts.push(`<line x1="${m.l}" x2="${m.l + W}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(
      `<text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end" font-family="sans-serif" font-size="12">${v}</text>`,
    );
  }
  p.xLabels.forEach((l, i) =>
    parts.push(
      `<text x="${x(i)}" y="${m.t + H + 20}" text-anchor="middle" font-family="sans-serif" ` +
        `font-size="12">${esc(l)}</text>`,
    ),
  );
  parts.push(
    `<text x="${m.l + W / 2}" y="${height - 10}" text-anchor="middle" font-family="sans-serif" ` +
      `font-size="13">${esc(p.title.split(' vs ')[1] ?? '')}</text>`,
  );
  parts.push(
    `<text x="16" y="${m.t + H / 2}" transform="rotate(-90 16 ${m.t + H / 2})" text-anchor="middle" ` +
      `font-family="sans-serif" font-size="13">${esc(p.yLabel)}</text>`,
  );
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W}" height="${H}" fill="none" stroke="#333"/>`);
  if (p.markX !== undefined) {
    parts.push(
      `<line class="best" x1="${x(p.markX)}" x2="${x(p.markX)}" y1="${m.t}" y2="${m.t + H}" stroke="#555" ` +
        `stroke-dasharray="5 4"/>`,
    );
    parts.push(
      `<text x="${x(p.markX) + 4}" y="${m.t + 14}" font-family="sans-serif" font-size="12" ` +
        `fill="#333">${esc(p.markLabel ?? 'best')}</text>`,
    );
  }
  p.series.forEach((s, k) => {
    const pts = s.ys.map((v, i) => `${x(i)},${y(v)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="${s.colour}" stroke-width="2.5"/>`);
    // error bars dodge sideways per series so overlapping ones stay readable
    const dx = (k - (p.series.length - 1) / 2) * 5;
    s.errs?.forEach((e, i) => {
      if (!(e > 0)) return;
      const [bx, lo, hi] = [x(i) + dx, y(s.ys[i] - e), y(s.ys[i] + e)];
      parts.push(
        `<path d="M${bx},${lo}V${hi}M${bx - 4},${lo}h8M${bx - 4},${hi}h8" stroke="${s.colour}" ` +
          `stroke-width="1.5" fill="none"/>`,
      );
    });
    s.ys.forEach((v, i) => parts.push(`<circle cx="${x(i)}" cy="${y(v)}" r="4" fill="${s.colour}"/>`));
    // each point's value beside it, so the plot reads without the table
    s.ys.forEach((v, i) =>
      parts.push(
        `<text class="value" x="${x(i) + 6}" y="${y(v) - 6 + 12 * (k - 1)}" font-family="sans-serif" ` +
          `font-size="10" fill="${s.colour}">${v.toFixed(1)}</text>`,
      ),
    );
    parts.push(
      `<line x1="${m.l + W + 14}" x2="${m.l + W + 38}" y1="${m.t + 14 + k * 22}" y2="${m.t + 14 + k * 22}" ` +
        `stroke="${s.colour}" stroke-width="3"/>`,
    );
    parts.push(
      `<text x="${m.l + W + 44}" y="${m.t + 18 + k * 22}" font-family="sans-serif" ` +
        `font-size="13">${esc(s.name)}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

export async function writeLinePlotPng(file: string, p: LinePlot): Promise<void> {
  await sharp(Buffer.from(linePlotSvg(p)))
    .png()
    .toFile(file);
}
