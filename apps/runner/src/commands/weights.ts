/**
 * `niwt weights inspect <file>`: the layers of a Keras `.h5` (either layout) or tfjs `model.json` with
 * their weight shapes, or the taps of an ONNX model (the `onnx` backbone), to see what a file holds
 * before pointing a config at it.
 */
import type { Command } from 'commander';
import { formatShape, inspectOnnx, openWeightFile } from '@niwt/backbones';

export function registerWeightsCommands(program: Command): void {
  const weights = program.command('weights').description('inspect weight files (Keras .h5, tfjs model.json)');
  weights
    .command('inspect')
    .description('list the layers of a weight file with their weight shapes')
    .argument(
      '<file>',
      'a Keras .h5 (Applications or save_weights layout), a Keras 3 .keras archive, a tfjs layers model.json ' +
        'or an .onnx model',
    )
    .option('--json', 'print JSON')
    .option('--input-size <n>', 'image side for an .onnx model with dynamic H, W', (v) => Number(v), 224)
    .action(async (file: string, flags: { json?: boolean; inputSize: number }) => {
      if (file.toLowerCase().endsWith('.onnx')) {
        await printOnnx(file, flags);
        return;
      }
      const wf = await openWeightFile(file);
      try {
        if (flags.json) {
          const json = { file: wf.source, format: wf.format, contents: wf.contents, layers: wf.layers };
          process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
          return;
        }
        let params = 0;
        const lines = wf.layers.map((l) => {
          params += l.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0);
          return `${l.layer.padEnd(28)} ${l.weights.map((w) => formatShape(w.shape)).join(' ')}`;
        });
        process.stdout.write(
          `${wf.source}: ${wf.format}, ${wf.layers.length} layers with weights, ` +
            `${params.toLocaleString('en-US')} ` +
            `parameters\n${wf.contents ? `${wf.contents}\n` : ''}${lines.join('\n')}\n`,
        );
      } finally {
        wf.close();
      }
    });
}

async function printOnnx(file: string, flags: { json?: boolean; inputSize: number }): Promise<void> {
  const r = await inspectOnnx(file, flags.inputSize);
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
    return;
  }
  const head = [
    `${r.file}: ONNX opset ${r.opset}${r.producer ? ` (${r.producer})` : ''}, ${r.nodes} nodes, ` +
      `${r.parameters.toLocaleString('en-US')} parameters`,
    `input ${r.input.name} [${r.input.dims.join(', ')}]`,
    r.features
      ? `features ${r.features.name} (${r.features.dim}-d, the input of the last Gemm/MatMul)`
      : 'features: none detected (no Gemm/MatMul); set backbone.features',
    `taps (${r.taps.length}; value, shape N×C×H×W, node, head support):`,
  ];
  const lines = r.taps.map(
    (t) =>
      `  ${t.name.padEnd(48)} ${t.shape.join('×').padEnd(14)} ${t.op.padEnd(18)} ` +
      (t.unsupported ? `head has ${t.unsupported}` : 'ok'),
  );
  process.stdout.write(`${[...head, ...lines].join('\n')}\n`);
}
