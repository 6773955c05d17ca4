/**
 * `testOptions` of this package's backbones: tiny networks that train in seconds in the contract suite
 * (`contractSuite` in `@niwt/runner/testing`). The `onnx` backbone runs the small CNN the specs export.
 */
import { copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import type { PluginTestContext } from '@niwt/core';
import type { onnxBackboneOptions } from './onnx-model/index.js';

type OnnxBackboneInput = z.input<typeof onnxBackboneOptions>;

/** 1/16 of the channels, 32-pixel inputs, one epoch of the seen head. */
export const IMAGENET_TEST_OPTIONS = {
  width: 0.0625,
  inputSize: 32,
  engine: 'tfjs',
  train: { head: { epochs: 1, batchSize: 8 } },
} as const;

/** This package's folder (the one holding package.json), from src/ or dist/. */
function packageDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

/** A copy of the specs' exported custom CNN (`src/__tests__/fixtures/custom-cnn.onnx`) in the check's folder. */
export function onnxTestOptions(context: PluginTestContext): OnnxBackboneInput {
  copyFileSync(path.join(packageDir(), 'src/__tests__/fixtures/custom-cnn.onnx'), path.join(context.dir, 'model.onnx'));
  const model = path.join(context.dir, 'model.onnx');
  return { model, tap: '/pool2/MaxPool_output_0', preprocessing: 'tf', train: { epochs: 1, batchSize: 8 } };
}
