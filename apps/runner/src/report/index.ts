/**
 * `niwt report`: one self-contained HTML page for a run or a sweep, written where asked and logged as
 * the run's `report/report.html` artifact (copied into the file store's artifacts folder atomically,
 * so `mlflow ui` never lists a half-written file).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, artifactPath, loadRunTree, resolveRunRef } from './load.js';
import { buildReportModel, type ReportModel } from './model.js';
import { renderReportHtml } from './html.js';

export { buildReportModel, type ReportModel } from './model.js';
export { renderReportHtml } from './html.js';
export { loadRunTree, resolveRunRef, type RunTree } from './load.js';

export interface ReportOptions {
  /** Store to look run ids up in (folder or file: uri); default ./mlruns. */
  readonly mlruns?: string;
  /** Also write the page here. */
  readonly out?: string;
  /** Log the page as the run's `report/report.html` artifact (default true). */
  readonly logArtifact?: boolean;
}

export interface ReportResult {
  readonly runId: string;
  readonly kind: 'run' | 'sweep';
  /** The artifact copy (when logged) or `out`. */
  readonly file: string;
  readonly artifact?: string;
  readonly out?: string;
  readonly bytes: number;
  readonly model: ReportModel;
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.niwt-tmp-${process.pid}-${Date.now()}`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}

export async function writeReport(ref: string, opts: ReportOptions = {}): Promise<ReportResult> {
  const { run, store } = await resolveRunRef(ref, opts.mlruns ?? 'file:./mlruns');
  const model = await buildReportModel(await loadRunTree(run, store));
  const html = renderReportHtml(model);
  const artifact = opts.logArtifact === false ? undefined : artifactPath(run, ARTIFACTS.report);
  if (artifact) await writeAtomic(artifact, html);
  const out = opts.out ? path.resolve(opts.out) : undefined;
  if (out) await writeAtomic(out, html);
  return {
    runId: run.runId,
    kind: model.kind,
    file: artifact ?? out ?? '',
    artifact,
    out,
    bytes: Buffer.byteLength(html),
    model,
  };
}
