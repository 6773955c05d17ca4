/**
 * A network built from a NetSpec with its variables: forward to a tap, from a tap to the penultimate
 * features, weight import, and save/load of every variable as `.npy` (one file per Keras weight).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { FormatError, Rng, readNpy, writeNpy, type HeadLayer } from '@niwt/core';
import {
  createVariables,
  initialValues,
  isTrainable,
  nodeIndex,
  runChain,
  type ApplyOptions,
  type FoldBn,
  type NetSpec,
  type ParamLayer,
} from '../nets/graph.js';
import { loadWeights } from '../weights/load.js';
import { openWeightFile } from '../weights/weight-file.js';
import { preprocess, type WeightsDescriptor } from '../preprocess/preprocess.js';

let instances = 0;

export class Network {
  /** tfjs variable names are global: each network gets its own scope. */
  readonly scope: string;
  private ready = false;

  constructor(
    readonly spec: NetSpec,
    readonly descriptor: WeightsDescriptor,
  ) {
    this.scope = `${spec.family}${++instances}/`;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Random He-normal weights (no weights file: tests, training from scratch). */
  initRandom(seed: number): void {
    const rng = new Rng(seed);
    for (const l of this.spec.layers) createVariables(l, initialValues(l, rng), this.scope);
    this.ready = true;
  }

  /** Imports a Keras `.h5` or tfjs `model.json`; a missing optional layer (ImageNet `predictions`) stays absent. */
  async importWeights(file: string, what: string): Promise<void> {
    const wf = await openWeightFile(file);
    try {
      await loadWeights(this.spec, wf, what, (layer, values) => {
        if (values) createVariables(layer, values, this.scope);
      });
    } finally {
      wf.close();
    }
    this.ready = true;
  }

  layer(name: string): ParamLayer | undefined {
    return this.spec.layers.find((l) => l.name === name && l.vars.length > 0);
  }

  tapIndex(tap: string): number {
    return nodeIndex(this.spec, tap) + 1;
  }

  /** RGB [0, 255] pixels → activations at `tap` (node output). */
  toTap(pixels: tf.Tensor4D, tap: string, opts: ApplyOptions = {}): tf.Tensor {
    return runChain(this.spec.nodes, preprocess(pixels, this.descriptor), 0, this.tapIndex(tap), opts);
  }

  /** Activations at `tap` → penultimate features. */
  fromTap(a: tf.Tensor, tap: string, opts: ApplyOptions = {}): tf.Tensor2D {
    return runChain(
      this.spec.nodes,
      a,
      this.tapIndex(tap),
      nodeIndex(this.spec, this.spec.penultimate) + 1,
      opts,
    ) as tf.Tensor2D;
  }

  /**
   * The head from `tap` to the penultimate features as `HeadLayer`s (NIWT's fast stage D), or undefined when a
   * node cannot describe itself. Folded BN tensors are created with `fold` (the caller owns them).
   */
  headLayers(tap: string, fold: FoldBn): HeadLayer[] | undefined {
    const nodes = this.spec.nodes.slice(this.tapIndex(tap), nodeIndex(this.spec, this.spec.penultimate) + 1);
    if (nodes.some((n) => !n.describe)) return undefined;
    return nodes.flatMap((n) => n.describe!(fold));
  }

  /** RGB [0, 255] → penultimate features. */
  features(pixels: tf.Tensor4D, opts: ApplyOptions = {}): tf.Tensor2D {
    return runChain(
      this.spec.nodes,
      preprocess(pixels, this.descriptor),
      0,
      nodeIndex(this.spec, this.spec.penultimate) + 1,
      opts,
    ) as tf.Tensor2D;
  }

  /** The ImageNet classifier's logits on penultimate features, when the weights had one. */
  imagenetLogits(features: tf.Tensor2D): tf.Tensor2D | undefined {
    const p = this.layer('predictions');
    if (!p) return undefined;
    return tf.add(tf.matMul(features, p.vars[0] as tf.Tensor2D), p.vars[1]) as tf.Tensor2D;
  }

  /** Variables gradient descent changes (BN moving statistics and the ImageNet classifier excluded). */
  trainableVariables(): tf.Variable[] {
    return this.spec.layers
      .filter((l) => l.name !== 'predictions')
      .flatMap((l) => l.vars.filter((_, i) => isTrainable(l, i)));
  }

  /** Kernels (weight decay applies to them). */
  kernels(): tf.Variable[] {
    return this.spec.layers
      .filter((l) => l.kind !== 'bn' && l.name !== 'predictions' && l.vars.length)
      .map((l) => l.vars[0]);
  }

  variables(): tf.Variable[] {
    return this.spec.layers.flatMap((l) => l.vars);
  }

  private file(dir: string, l: ParamLayer, i: number): string {
    return path.join(dir, `${l.name}__${i}.npy`);
  }

  async save(dir: string): Promise<void> {
    await fs.mkdir(dir, { recursive: true });
    for (const l of this.spec.layers) {
      for (let i = 0; i < l.vars.length; i++)
        await writeNpy(this.file(dir, l, i), (await l.vars[i].data()) as Float32Array, l.vars[i].shape);
    }
  }

  /** Restores variables saved by `save` (creating them if the network has none yet). */
  async loadSaved(dir: string): Promise<void> {
    for (const l of this.spec.layers) {
      const values: Float32Array[] = [];
      for (let i = 0; i < l.shapes.length; i++) {
        try {
          values.push((await readNpy(this.file(dir, l, i))).data as Float32Array);
        } catch (e) {
          if (l.optional) break;
          throw new FormatError(`${dir}: saved network lacks ${path.basename(this.file(dir, l, i))}`, { cause: e });
        }
      }
      if (values.length === l.shapes.length) {
        if (l.vars.length) tf.tidy(() => l.vars.forEach((v, i) => v.assign(tf.tensor(values[i], v.shape))));
        else createVariables(l, values, this.scope);
      }
    }
    this.ready = true;
  }

  dispose(): void {
    for (const l of this.spec.layers) {
      l.vars.forEach((v) => v.dispose());
      l.vars = [];
    }
    this.ready = false;
  }
}
