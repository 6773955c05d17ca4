/**
 * Stage 7: explanations of a method's unseen-class decisions, written as run artifacts —
 * textual (top knowledge dimensions per unseen class and per explained decision) and visual (Grad-CAM
 * overlays, original | overlay side by side, for a correct and a wrong decision per unseen class).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { NiwtError, argmaxRows, type Backbone, type Dataset, type Explainer, type Matrix } from '@niwt/core';
import { gradCam } from '@niwt/niwt';

export interface RankedDims {
  readonly name: string;
  readonly score: number;
}

export interface ExplainedDecision {
  readonly sample: number;
  readonly file: string;
  readonly trueClass: string;
  readonly predicted: string;
  readonly correct: boolean;
  readonly top: readonly RankedDims[];
  /** Grad-CAM overlay, relative to the explanations folder ('' when the dataset has no images or the tap no space). */
  readonly png: string;
}

export interface Explanations {
  readonly perClass: readonly {
    readonly class: string;
    readonly images: number;
    readonly top: readonly RankedDims[];
  }[];
  readonly decisions: readonly ExplainedDecision[];
}

export interface ExplainInput {
  readonly explainer: Explainer;
  readonly backbone: Backbone;
  readonly dataset: Dataset;
  /** test_unseen samples and the method's scores for them (joint label space). */
  readonly indices: readonly number[];
  readonly labels: Int32Array;
  readonly scores: Matrix;
  readonly outDir: string;
  readonly topK?: number;
  /** Images per unseen class whose importances are averaged for the class explanation. */
  readonly classImages?: number;
}

const JET: [number, number, number][] = [
  [0, 0, 0.5],
  [0, 0, 1],
  [0, 1, 1],
  [1, 1, 0],
  [1, 0, 0],
  [0.5, 0, 0],
];

function jet(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, v)) * (JET.length - 1);
  const i = Math.min(JET.length - 2, Math.floor(x));
  const t = x - i;
  return [0, 1, 2].map((c) => 255 * (JET[i][c] * (1 - t) + JET[i + 1][c] * t)) as [number, number, number];
}

/** Writes `original | overlay` as a PNG: the heat map bilinearly upsampled and blended at 45 %. */
async function writeOverlay(
  file: string,
  pixels: Float32Array,
  size: number,
  map: Float32Array,
  h: number,
  w: number,
): Promise<void> {
  const up = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(map, [1, h, w, 1]), [size, size]).dataSync());
  const out = Buffer.alloc(size * size * 2 * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const src = (y * size + x) * 3;
      const [r, g, b] = jet(up[y * size + x]);
      const left = (y * 2 * size + x) * 3;
      const right = (y * 2 * size + size + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[left + c] = Math.round(pixels[src + c]);
        out[right + c] = Math.round(0.55 * pixels[src + c] + 0.45 * [r, g, b][c]);
      }
    }
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(out, { raw: { width: 2 * size, height: size, channels: 3 } })
    .png()
    .toFile(file);
}

const safe = (s: string): string => s.replace(/[^\w.-]+/g, '_');

export async function explainUnseen(input: ExplainInput): Promise<Explanations> {
  const { explainer, backbone, dataset, labels, indices, scores, outDir } = input;
  const k = input.topK ?? 5;
  const split = dataset.split;
  const names = dataset.classes.map((c) => c.name);
  const pred = argmaxRows(scores, [...split.seen, ...split.unseen]);

  // per unseen class: images for the class explanation, plus one correct and one wrong decision
  const classImgs = new Map<number, number[]>();
  const picked: { pos: number; correct: boolean }[] = [];
  for (const c of split.unseen) {
    const pos = labels.reduce<number[]>((acc, y, i) => (y === c ? [...acc, i] : acc), []);
    classImgs.set(c, pos.slice(0, input.classImages ?? 16));
    const right = pos.find((i) => pred[i] === c);
    const wrong = pos.find((i) => pred[i] !== c);
    if (right !== undefined) picked.push({ pos: right, correct: true });
    if (wrong !== undefined) picked.push({ pos: wrong, correct: false });
  }
  const needed = [...new Set([...[...classImgs.values()].flat(), ...picked.map((p) => p.pos)])].sort((a, b) => a - b);
  const [h, w, K] = backbone.tap.shape;
  const per = h * w * K;
  const taps = new Map<number, Float32Array>();
  let n = 0;
  for await (const b of backbone.extract(
    dataset,
    needed.map((i) => indices[i]),
    32,
  )) {
    b.indices.forEach((_, j) => taps.set(needed[n + j], b.tap.slice(j * per, (j + 1) * per)));
    n += b.indices.length;
  }

  const head = backbone.head();
  const camFor = (positions: number[], classes: number[]) =>
    tf.tidy(() => {
      // each class's weight vector once (classWeights copies a D-vector; calling it per element is O(D²))
      const cols = classes.map((c) => explainer.classWeights(c));
      const weights = tf.tensor2d(
        Float32Array.from(
          { length: backbone.penultimateDim * classes.length },
          (_, i) => cols[i % classes.length][Math.floor(i / classes.length)],
        ),
        [backbone.penultimateDim, classes.length],
      );
      const tap = tf.tensor4d(Float32Array.from(positions.flatMap((p) => Array.from(taps.get(p)!))), [
        positions.length,
        h,
        w,
        K,
      ]);
      return gradCam(
        head,
        tap,
        weights,
        tf.tensor1d(
          positions.map((_, i) => i % classes.length),
          'int32',
        ),
      );
    });

  const perClass = split.unseen.map((c) => {
    const pos = classImgs.get(c)!;
    if (pos.length === 0) return { class: names[c], images: 0, top: [] };
    const { alpha } = camFor(
      pos,
      pos.map(() => c),
    );
    const mean = new Float32Array(K);
    for (let i = 0; i < pos.length; i++) for (let j = 0; j < K; j++) mean[j] += alpha[i * K + j] / pos.length;
    return { class: names[c], images: pos.length, top: explainer.explainImportance(mean, k) };
  });

  const size = Math.max(128, backbone.input.height);
  const pixels = new Map<number, Float32Array>();
  let m = 0;
  const order = picked.map((p) => p.pos);
  // Grad-CAM needs a spatial tap and the images (a features-only dataset has neither): textual only then
  let visual = h * w > 1;
  if (visual) {
    try {
      for await (const b of dataset.readImages(
        order.map((p) => indices[p]),
        { height: size, width: size, channels: 3 },
        16,
      )) {
        b.indices.forEach((_, j) =>
          pixels.set(order[m + j], b.pixels.slice(j * size * size * 3, (j + 1) * size * size * 3)),
        );
        m += b.indices.length;
      }
    } catch (e) {
      if (!(e instanceof NiwtError)) throw e;
      visual = false;
    }
  }
  const decisions: ExplainedDecision[] = [];
  for (const p of picked) {
    const predicted = pred[p.pos];
    const { maps, alpha } = camFor([p.pos], [predicted]);
    const sample = indices[p.pos];
    const rel = visual
      ? path.join(
          'gradcam',
          safe(names[labels[p.pos]]),
          `${sample}-${p.correct ? 'correct' : 'wrong'}-as-${safe(names[predicted])}.png`,
        )
      : '';
    if (visual) await writeOverlay(path.join(outDir, rel), pixels.get(p.pos)!, size, maps, h, w);
    decisions.push({
      sample,
      file: dataset.samples[sample].path,
      trueClass: names[labels[p.pos]],
      predicted: names[predicted],
      correct: p.correct,
      top: explainer.explainImportance(alpha, k),
      png: rel,
    });
  }
  const result = { perClass, decisions };
  await fs.writeFile(path.join(outDir, 'textual.json'), JSON.stringify(result, null, 2));
  return result;
}
