/** What the DEM trainer needs of a training engine (`engine-tfjs.ts`, `engine-onnx.ts`). */
import type { Matrix } from '@niwt/core';
import type { DemBatch, DemParams } from './model.js';

/** The engine that ran, and why when `auto` fell back to tfjs. */
export interface DemEngineInfo {
  readonly name: 'onnx' | 'tfjs';
  readonly note: string;
}

/** One engine's parameters, optimizer state and step. */
export interface DemEngine {
  /** One Adam step; returns the batch loss before the update. */
  step(batch: DemBatch): number | Promise<number>;
  /** The current parameters (copies). */
  params(): DemParams;
  /** f(a) for the rows of `knowledge`. */
  forward(knowledge: Matrix): Float32Array;
  dispose(): void | Promise<void>;
}
