/**
 * What a run returns and records (`results/results.json`, `results/method.json`). Its own module: the
 * pipeline writes these and `finished.ts` (which the pipeline calls) reads them back.
 */
import type { FitSummary } from '@niwt/core';
import type { Calibration } from './calibration.js';
import type { Explanations } from './explanations.js';

export interface MethodResult {
  readonly label: string;
  readonly method: string;
  readonly control?: string;
  /** Runs averaged (random permutations of a control), 1 otherwise. */
  readonly permutations: number;
  readonly s: number;
  readonly u: number;
  readonly H: number;
  readonly zslT1: number;
  readonly fitSeconds: number;
  readonly summary: FitSummary;
  readonly runId: string;
  /** Textual explanations and Grad-CAM overlays (artifacts/explanations of the child run), when the method has them. */
  readonly explanations?: Explanations;
  /** Per-class accuracy (GZSL), by class name. */
  readonly perClass: Record<string, number>;
  /** Calibrated stacking: AUSUC, the test seen-unseen curve and the γ chosen on the seen classes. */
  readonly calibration?: Calibration;
}

export interface RunResult {
  readonly experiment: string;
  readonly runId: string;
  readonly location: string;
  readonly configHash: string;
  /** The interrupted run this one continued (`--resume`), if any; equal to `runId` when it was reopened. */
  readonly resumedFrom?: string;
  /** Methods whose finished run was reused by `--resume` instead of fitted again. */
  readonly reusedMethods?: readonly string[];
  readonly seed: number;
  readonly backend: string;
  readonly dataset: {
    readonly classes: number;
    readonly seen: number;
    readonly unseen: number;
    readonly trainval: number;
    readonly testSeen: number;
    readonly testUnseen: number;
  };
  /** Chance level of ZSL T1 (1 / unseen classes). */
  readonly chanceZsl: number;
  readonly seenNetwork: {
    readonly testSeenAccuracy: number;
    readonly valAccuracy: number;
    readonly epochs: number;
    readonly cached: boolean;
  };
  readonly activationsCached: boolean;
  readonly methods: readonly MethodResult[];
  readonly seconds: number;
}
