/**
 * `res101.mat`: `features` (2048×N double), `labels` (N×1, 1-based class index) and `image_files`
 * (N×1 cell of absolute paths on the authors' machines). Labels and paths are read eagerly; the
 * 600 MB feature matrix only when asked (skipped without inflating otherwise).
 */
import { FormatError, matrix, readNpy, type FeatureSource, type Matrix } from '@niwt/core';
import { readMat } from '../mat/reader.js';
import { matMatrixRows, matNumbers, matStrings } from '../mat/values.js';

export const RES101 = 'res101.mat';

export interface Res101Meta {
  readonly file: string;
  /** 0-based class index per image. */
  readonly labels: Int32Array;
  /** `image_files` as stored. */
  readonly imageFiles: readonly string[];
  /** Rows of `features` (2048 for ResNet-101), read from its dimensions without decoding it. */
  readonly featureDim: number;
}

export async function readRes101Meta(file: string, classCount: number): Promise<Res101Meta> {
  const mat = await readMat(file, { variables: ['labels', 'image_files'] });
  const raw = matNumbers(mat, 'labels');
  const imageFiles = matStrings(mat, 'image_files');
  if (raw.length !== imageFiles.length) {
    throw new FormatError(
      `${file}: ${raw.length} labels but ${imageFiles.length} image_files; expected one label per image`,
    );
  }
  const labels = new Int32Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i];
    if (!Number.isInteger(v) || v < 1 || v > classCount) {
      throw new FormatError(`${file}: labels(${i + 1}) = ${v}; expected a 1-based class index from 1 to ${classCount}`);
    }
    labels[i] = v - 1;
  }
  const fd = mat.dims.get('features');
  if (!fd || fd.length !== 2 || fd[1] !== labels.length) {
    const found = fd ? `[${fd.join(', ')}]` : 'none';
    throw new FormatError(
      `${file}: 'features' dimensions ${found}; expected [dims, ${labels.length}] (one column per image)`,
    );
  }
  return { file, labels, imageFiles, featureDim: fd[0] };
}

/**
 * The image path relative to the dataset's image folder: everything up to `JPEGImages/` (AWA) or
 * `images/` (CUB, SUN) is dropped, backslashes and doubled slashes normalised. `<class>/<file>`.
 */
export function relativeImagePath(p: string): string {
  const norm = p.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  for (const marker of ['/JPEGImages/', '/images/']) {
    const k = norm.lastIndexOf(marker);
    if (k >= 0) return norm.slice(k + marker.length);
  }
  if (norm.startsWith('JPEGImages/')) return norm.slice('JPEGImages/'.length);
  if (norm.startsWith('images/')) return norm.slice('images/'.length);
  return norm.split('/').slice(-2).join('/');
}

/**
 * Features of `count` images from `res101.mat` (`features`, 2048×N) or a `.npy` (N×D float32/64),
 * loaded on first use and kept (float32: 2048 × 37,322 is 306 MB). `column(i)` maps a sample index
 * to its row in the file, so datasets that drop samples still read the right rows.
 */
export function featureSource(
  file: string,
  count: number,
  dim: number,
  column: (sample: number) => number = (i) => i,
): FeatureSource {
  let loaded: Promise<Matrix> | undefined;
  const load = (): Promise<Matrix> => {
    loaded ??= (async () => {
      let m: Matrix;
      if (file.endsWith('.npy')) {
        const arr = await readNpy(file);
        if (arr.shape.length !== 2)
          throw new FormatError(`${file}: shape [${arr.shape.join(', ')}]; expected [images, dims]`);
        m = matrix(
          arr.shape[0],
          arr.shape[1],
          arr.data instanceof Float32Array ? arr.data : Float32Array.from(arr.data),
        );
      } else {
        m = matMatrixRows(await readMat(file, { variables: ['features'], float32: true }), 'features');
      }
      if (m.cols !== dim) throw new FormatError(`${file}: ${m.cols}-d features; expected ${dim}`);
      if (m.rows !== count)
        throw new FormatError(
          `${file}: features for ${m.rows} images; expected ${count} (one per image of the dataset)`,
        );
      return m;
    })();
    return loaded;
  };
  return {
    source: file,
    dim,
    async read(indices: readonly number[]): Promise<Matrix> {
      const m = await load();
      const out = new Float32Array(indices.length * m.cols);
      indices.forEach((s, k) => {
        const c = column(s);
        out.set(m.data.subarray(c * m.cols, (c + 1) * m.cols), k * m.cols);
      });
      return { rows: indices.length, cols: m.cols, data: out };
    },
  };
}

/** `[rows, cols]` of a 2-D `.npy` from its header alone. */
export async function npyShape(file: string): Promise<[number, number]> {
  const { open } = await import('node:fs/promises');
  const fh = await open(file, 'r').catch((e: unknown) => {
    throw new FormatError(`${file}: cannot read (${String(e)}); expected a .npy feature matrix [images, dims]`, {
      cause: e,
    });
  });
  try {
    const b = Buffer.alloc(512);
    await fh.read(b, 0, 512, 0);
    const m = /'shape':\s*\((\d+),\s*(\d+)\)/.exec(b.toString('latin1'));
    if (!m) throw new FormatError(`${file}: not a 2-D .npy file; expected a feature matrix [images, dims]`);
    return [Number(m[1]), Number(m[2])];
  } finally {
    await fh.close();
  }
}
