/**
 * `niwt report <run id | run folder | sweep run id>`: a self-contained HTML page of a run or sweep,
 * logged as the run's `report/report.html` artifact. Prints the page's path (or JSON with --json).
 */
import type { Command } from 'commander';
import { UsageError } from '@niwt/core';
import { writeReport } from '../report/index.js';

interface ReportFlags {
  mlruns: string;
  out?: string;
  artifact: boolean;
  json?: boolean;
}

export function registerReportCommands(program: Command): void {
  program
    .command('report')
    .description(
      'write a self-contained HTML report of a run or sweep (config, results, charts, Grad-CAM, ' +
        'explanations); logged as artifact report/report.html',
    )
    .argument('<run>', 'run id, run folder (mlruns/<experiment_id>/<run_id>) or sweep run id')
    .option('--mlruns <dir>', 'local MLflow store to find run ids in', 'file:./mlruns')
    .option('-o, --out <file>', 'also write the page to this file')
    .option('--no-artifact', 'do not log the page as an artifact of the run (then --out is required)')
    .option('--json', 'print what was written as JSON')
    .action(async (ref: string, flags: ReportFlags) => {
      if (!flags.artifact && !flags.out)
        throw new UsageError('--no-artifact needs --out <file>: the report has to be written somewhere');
      const r = await writeReport(ref, { mlruns: flags.mlruns, out: flags.out, logArtifact: flags.artifact });
      const m = r.model;
      const summary = {
        runId: r.runId,
        kind: r.kind,
        artifact: r.artifact ?? null,
        out: r.out ?? null,
        bytes: r.bytes,
        rows: m.rows.length,
        perClassCharts: m.perClass.length,
        images: m.galleries.reduce((a, g) => a + g.images.length, 0),
        missing: m.missing,
      };
      if (flags.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      else process.stdout.write(`${r.out ?? r.file}\n`);
      if (!flags.json && process.stderr.isTTY) {
        process.stderr.write(
          `${r.kind} report of ${r.runId}: ${summary.rows} result row(s), ${summary.perClassCharts} ` +
            `per-class chart(s), ${summary.images} Grad-CAM image(s), ${(r.bytes / 1024).toFixed(0)} KiB\n`,
        );
        for (const x of m.missing) process.stderr.write(`  not in this run: ${x}\n`);
      }
    });
}
