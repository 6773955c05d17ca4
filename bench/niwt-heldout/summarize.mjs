// Mean ± sd over seeds of ZSL T1, H (and s, u) per method label, from out/<which>-<seed>.json.
//   node bench/niwt-heldout/summarize.mjs small
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
const dir = path.join(path.dirname(new URL(import.meta.url).pathname), 'out');
const which = process.argv[2] ?? 'small';
const files = readdirSync(dir)
  .filter((f) => f.startsWith(`${which}-`) && f.endsWith('.json'))
  .filter((f) => readFileSync(path.join(dir, f), 'utf8').trim().length > 0);
const by = new Map();
for (const f of files) {
  const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
  for (const m of r.methods) {
    const e = by.get(m.label) ?? { zsl: [], H: [], s: [], u: [], rho: [] };
    e.zsl.push(m.zslT1);
    e.H.push(m.H);
    e.s.push(m.s);
    e.u.push(m.u);
    e.rho.push(m.summary.stageC_heldout_spearman);
    by.set(m.label, e);
  }
}
const ms = (v) => {
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, v.length - 1));
  return `${(100 * mean).toFixed(1)} ± ${(100 * sd).toFixed(1)}`;
};
console.log(`${which}: ${files.length} seeds (${files.map((f) => f.slice(which.length + 1, -5)).join(', ')})`);
console.log('| setting | ZSL T1 | H | s | u | held-out ρ |');
console.log('|---|---|---|---|---|---|');
for (const [label, e] of by)
  console.log(
    `| ${label} | ${ms(e.zsl)} | ${ms(e.H)} | ${ms(e.s)} | ${ms(e.u)} | ` +
      `${(e.rho.reduce((a, b) => a + b, 0) / e.rho.length).toFixed(3)} |`,
  );
