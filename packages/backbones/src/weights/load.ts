/**
 * Puts a weight file's values into a network's layers. Every layer's presence and every weight's shape
 * is checked before any value is read, so a wrong file fails at once with the first mismatching layer
 * named (in the network's order), with the expected and the found shapes.
 *
 * The Keras 3 `save_weights` layout names layers by class and position (`conv2d_12`,
 * `batch_normalization_3`, `dense_1`: the k-th layer of that class in `model.layers` order), not by their
 * Keras names; those are matched by position within each kind.
 */
import { FormatError } from '@niwt/core';
import type { NetSpec, ParamLayer } from '../nets/graph.js';
import { formatShape, type WeightFile } from './weight-file.js';

function describe(shapes: readonly (readonly number[])[]): string {
  return shapes.map(formatShape).join(' + ') || 'no weights';
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const KERAS3_CLASS: Record<ParamLayer['kind'], string> = { conv: 'conv2d', bn: 'batch_normalization', dense: 'dense' };

/** Name in the file of each network layer (the same name, except in the Keras 3 layout). */
function fileNames(spec: NetSpec, file: WeightFile): Map<string, string> {
  const out = new Map<string, string>();
  if (file.format !== 'keras3-weights-h5' && file.format !== 'keras3-archive') {
    for (const l of spec.layers) out.set(l.name, l.name);
    return out;
  }
  const count: Record<string, number> = {};
  for (const l of spec.layers) {
    const cls = KERAS3_CLASS[l.kind];
    const k = count[cls] ?? 0;
    count[cls] = k + 1;
    out.set(l.name, k === 0 ? cls : `${cls}_${k}`);
  }
  return out;
}

/** Throws FormatError naming the first layer of `spec` that the file lacks or holds with other shapes. */
export function checkWeights(spec: NetSpec, file: WeightFile, what: string): Map<string, string> {
  const inFile = new Map(file.layers.map((l) => [l.layer, l]));
  const names = fileNames(spec, file);
  const used = new Set(names.values());
  const first = file.layers
    .slice(0, 4)
    .map((l) => l.layer)
    .join(', ');
  const alias = (l: ParamLayer): string => (names.get(l.name) === l.name ? '' : ` (the file's '${names.get(l.name)}')`);
  for (const layer of spec.layers) {
    const found = inFile.get(names.get(layer.name)!);
    if (!found) {
      if (layer.optional) continue;
      throw new FormatError(
        `${file.source} does not fit ${what}: layer '${layer.name}'${alias(layer)} (expected ` +
          `${describe(layer.shapes)}) is missing from the file ` +
          `(${file.format}, ${file.layers.length} layers with weights, first: ${first || 'none'})`,
      );
    }
    const shapes = found.weights.map((w) => w.shape);
    if (shapes.length !== layer.shapes.length || !shapes.every((s, i) => sameShape(s, layer.shapes[i]))) {
      throw new FormatError(
        `${file.source} does not fit ${what}: layer '${layer.name}'${alias(layer)} expected ` +
          `${describe(layer.shapes)}, found ${describe(shapes)}`,
      );
    }
  }
  const extra = file.layers.find((l) => !used.has(l.layer));
  if (extra) {
    throw new FormatError(
      `${file.source} does not fit ${what}: the file has a layer '${extra.layer}' ` +
        `(${describe(extra.weights.map((w) => w.shape))}) that ${what} does not have (a different architecture?)`,
    );
  }
  return names;
}

/**
 * Reads each layer's values and hands them to `create` (one layer in memory at a time); absent optional layers get
 * undefined.
 */
export async function loadWeights(
  spec: NetSpec,
  file: WeightFile,
  what: string,
  create: (layer: ParamLayer, values: Float32Array[] | undefined) => void,
): Promise<void> {
  const names = checkWeights(spec, file, what);
  const present = new Set(file.layers.map((l) => l.layer));
  for (const layer of spec.layers) {
    const n = names.get(layer.name)!;
    create(layer, present.has(n) ? await file.read(n) : undefined);
  }
}
