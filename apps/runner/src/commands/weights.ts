/**
 * `niwt weights inspect <file>`: the layers of a Keras `.h5` (either layout) or tfjs `model.json` with
 * their weight shapes, to see what a file holds before pointing a config at it.
 */
import type { Command } from 'commander';
import { formatShape, openWeightFile } from '@niwt/backbones';

export function registerWeightsCommands(program: Command): void {
  const weights = program.command('weights').description('inspect weight files (Keras .h5, tfjs model.json)');
  weights
    .command('inspect')
    .description('list the layers of a weight file with their weight shapes')
    .argument('<file>', 'a Keras .h5 (Applications or save_weights layout), a Keras 3 .keras archive or a tfjs layers model.json')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { json?: boolean }) => {
      const wf = await openWeightFile(file);
      try {
        if (flags.json) {
          process.stdout.write(`${JSON.stringify({ file: wf.source, format: wf.format, contents: wf.contents, layers: wf.layers }, null, 2)}\n`);
          return;
        }
        let params = 0;
        const lines = wf.layers.map((l) => {
          params += l.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
          return `${l.layer.padEnd(28)} ${l.weights.map((w) => formatShape(w.shape)).join(' ')}`;
        });
        process.stdout.write(`${wf.source}: ${wf.format}, ${wf.layers.length} layers with weights, ${params.toLocaleString('en-US')} parameters\n${wf.contents ? `${wf.contents}\n` : ''}${lines.join('\n')}\n`);
      } finally {
        wf.close();
      }
    });
}
