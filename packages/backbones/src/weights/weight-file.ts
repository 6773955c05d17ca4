/**
 * Readers of the weight files users have: Keras `.h5` (the Keras Applications / Keras 2 `save_weights`
 * layout, the same nested under `model_weights` as `model.save` writes it, and the Keras 3
 * `model.save_weights` layout `layers/<layer>/vars/<i>`) through h5wasm, and tfjs layers `model.json`
 * with its binary shards. Every reader lists layers with their weight shapes first (cheap) and reads one
 * layer's values on demand, so a 500 MB file never sits in memory twice.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import h5wasm from 'h5wasm/node';
import { FormatError, NiwtError } from '@niwt/core';
import { describeKind, detectFileKind, readZipEntry, zipEntries } from './file-kind.js';

export type WeightFormat = 'keras-h5' | 'keras-h5-model' | 'keras3-weights-h5' | 'keras3-archive' | 'tfjs-layers';

export interface WeightInfo {
  readonly name: string;
  readonly shape: readonly number[];
}

export interface LayerWeights {
  readonly layer: string;
  /** In Keras order (kernel, bias / gamma, beta, moving_mean, moving_variance). */
  readonly weights: readonly WeightInfo[];
}

export interface WeightFile {
  readonly source: string;
  readonly format: WeightFormat;
  /** Layers that hold weights, in file order. */
  readonly layers: readonly LayerWeights[];
  /** What else the file says about itself (a `.keras` archive: Keras version, model class and name). */
  readonly contents?: string;
  /** Values of one layer's weights, in `layers` order, as float32. */
  read(layer: string): Promise<Float32Array[]>;
  close(): void;
}

/** Keras' weight order by the last component of a weight's name (`kernel:0`, `moving_mean`, …). */
const ORDER = ['kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance'];
function orderKey(name: string): number {
  const last = (name.split('/').pop() ?? name).replace(/:\d+$/, '');
  const i = ORDER.indexOf(last);
  return i < 0 ? ORDER.length : i;
}

function toFloat32(value: unknown, what: string, source: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array || value instanceof Uint16Array || value instanceof Int32Array)
    return Float32Array.from(value);
  throw new FormatError(`${source}: ${what} is not a float32/float64 dataset`);
}

function strings(value: unknown): string[] {
  if (value === null || value === undefined) return [];
  const arr = Array.isArray(value) ? value : [value];
  return arr.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v)));
}

type H5Group = InstanceType<typeof h5wasm.Group>;
type H5Dataset = InstanceType<typeof h5wasm.Dataset>;

function isGroup(e: unknown): e is H5Group {
  return e instanceof h5wasm.Group;
}
function isDataset(e: unknown): e is H5Dataset {
  return e instanceof h5wasm.Dataset;
}

async function openH5(file: string): Promise<WeightFile> {
  await h5wasm.ready;
  let f: InstanceType<typeof h5wasm.File>;
  try {
    f = new h5wasm.File(file, 'r');
  } catch (e) {
    throw new FormatError(`${file}: not a readable HDF5 file (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
    });
  }
  try {
    return readH5Layout(file, f);
  } catch (e) {
    f.close();
    if (e instanceof NiwtError) throw e;
    throw new FormatError(
      `${file}: damaged HDF5 file (${e instanceof Error ? e.message : String(e)}); copy or download it again`,
      { cause: e },
    );
  }
}

function readH5Layout(file: string, f: InstanceType<typeof h5wasm.File>): WeightFile {
  const datasets = new Map<string, string[]>();
  const layers: LayerWeights[] = [];
  let format: WeightFormat;
  const rootKeys = f.keys();
  const modelWeights = rootKeys.includes('model_weights') ? f.get('model_weights') : null;
  const legacyRoot: H5Group | null =
    'layer_names' in f.attrs ? f : isGroup(modelWeights) && 'layer_names' in modelWeights.attrs ? modelWeights : null;
  if (legacyRoot) {
    format = legacyRoot === f ? 'keras-h5' : 'keras-h5-model';
    for (const layer of strings(legacyRoot.attrs['layer_names'].value)) {
      const g = legacyRoot.get(layer);
      if (!isGroup(g)) continue;
      const names = 'weight_names' in g.attrs ? strings(g.attrs['weight_names'].value).filter((n) => n.length > 0) : [];
      if (!names.length) continue;
      const infos = names.map((n) => {
        const d = g.get(n);
        if (!isDataset(d))
          throw new FormatError(`${file}: layer '${layer}' names weight '${n}' but it is not a dataset`);
        return { name: n, shape: d.shape ?? [] };
      });
      layers.push({ layer, weights: infos });
      datasets.set(
        layer,
        names.map((n) => `${legacyRoot.path === '/' ? '' : legacyRoot.path}/${layer}/${n}`),
      );
    }
  } else if (rootKeys.includes('layers') && isGroup(f.get('layers'))) {
    format = 'keras3-weights-h5';
    const root = f.get('layers') as H5Group;
    // Names are `<class>` / `<class>_<k>` by position in model.layers: list them in that order.
    const rank = (n: string): [string, number] => {
      const m = /^(.*?)(?:_(\d+))?$/.exec(n)!;
      return [m[1], m[2] === undefined ? 0 : Number(m[2])];
    };
    const keys0 = root.keys().sort((a, b) => {
      const [ca, ka] = rank(a);
      const [cb, kb] = rank(b);
      return ca === cb ? ka - kb : ca < cb ? -1 : 1;
    });
    for (const layer of keys0) {
      const vars = root.get(`${layer}/vars`);
      if (!isGroup(vars)) continue;
      const keys = vars.keys().sort((a, b) => Number(a) - Number(b));
      if (!keys.length) continue;
      const infos = keys.map((k) => ({ name: `${layer}/vars/${k}`, shape: (vars.get(k) as H5Dataset).shape ?? [] }));
      layers.push({ layer, weights: infos });
      datasets.set(
        layer,
        keys.map((k) => `/layers/${layer}/vars/${k}`),
      );
    }
  } else {
    throw new FormatError(
      `${file}: not a Keras weights file (expected a root attribute 'layer_names', a 'model_weights' group ` +
        `or a 'layers' group; found ${rootKeys.slice(0, 5).join(', ') || 'nothing'})`,
    );
  }
  return {
    source: file,
    format,
    layers,
    read: async (layer) => {
      const paths = datasets.get(layer);
      if (!paths) throw new FormatError(`${file}: no layer '${layer}'`);
      return paths.map((p) => toFloat32((f.get(p) as H5Dataset).value, `${layer} weight ${p}`, file));
    },
    close: () => f.close(),
  };
}

interface TfjsManifest {
  weightsManifest?: {
    paths: string[];
    weights: { name: string; shape: number[]; dtype?: string; quantization?: unknown }[];
  }[];
}

async function openTfjs(file: string): Promise<WeightFile> {
  let json: TfjsManifest;
  try {
    json = JSON.parse(await fs.readFile(file, 'utf8')) as TfjsManifest;
  } catch (e) {
    throw new FormatError(`${file}: not a readable tfjs model.json (${e instanceof Error ? e.message : String(e)})`, {
      cause: e,
    });
  }
  if (!Array.isArray(json.weightsManifest))
    throw new FormatError(`${file}: no 'weightsManifest' (not a tfjs layers model.json)`);
  const byLayer = new Map<string, { info: WeightInfo; group: number; offset: number }[]>();
  const order: string[] = [];
  json.weightsManifest.forEach((g, gi) => {
    let offset = 0;
    for (const w of g.weights) {
      if ((w.dtype ?? 'float32') !== 'float32' || w.quantization)
        throw new FormatError(
          `${file}: weight '${w.name}' is ${w.quantization ? 'quantized' : w.dtype}; only float32 is supported`,
        );
      const parts = w.name.split('/');
      const layer = parts.length > 1 ? parts[parts.length - 2] : w.name;
      if (!byLayer.has(layer)) {
        byLayer.set(layer, []);
        order.push(layer);
      }
      byLayer.get(layer)!.push({ info: { name: w.name, shape: w.shape }, group: gi, offset });
      offset += w.shape.reduce((a, b) => a * b, 1) * 4;
    }
  });
  for (const ws of byLayer.values()) ws.sort((a, b) => orderKey(a.info.name) - orderKey(b.info.name));
  const shards = new Map<number, Buffer>();
  const groupData = async (gi: number): Promise<Buffer> => {
    let buf = shards.get(gi);
    if (!buf) {
      const parts = await Promise.all(
        json.weightsManifest![gi].paths.map((p) => fs.readFile(path.resolve(path.dirname(file), p))),
      );
      buf = Buffer.concat(parts);
      shards.set(gi, buf);
    }
    return buf;
  };
  return {
    source: file,
    format: 'tfjs-layers',
    layers: order.map((layer) => ({ layer, weights: byLayer.get(layer)!.map((w) => w.info) })),
    read: async (layer) => {
      const ws = byLayer.get(layer);
      if (!ws) throw new FormatError(`${file}: no layer '${layer}'`);
      return Promise.all(
        ws.map(async (w) => {
          const buf = await groupData(w.group);
          const n = w.info.shape.reduce((a, b) => a * b, 1);
          if (w.offset + n * 4 > buf.length)
            throw new FormatError(`${file}: weight '${w.info.name}' lies beyond the end of its shard files`);
          const out = new Float32Array(n);
          out.set(new Float32Array(buf.buffer.slice(buf.byteOffset + w.offset, buf.byteOffset + w.offset + n * 4)));
          return out;
        }),
      );
    },
    close: () => shards.clear(),
  };
}

/** Opens a `.h5` / `.hdf5` (HDF5) or `.json` (tfjs layers) weight file. */
export async function openWeightFile(file: string): Promise<WeightFile> {
  try {
    await fs.access(file);
  } catch {
    throw new FormatError(`weights file not found: ${file}`);
  }
  if (file.endsWith('.json')) return openTfjs(file);
  const kind = await detectFileKind(file);
  if (kind.kind === 'zip') return openKerasArchive(file);
  if (kind.kind !== 'hdf5') {
    throw new FormatError(
      `${file}: not an HDF5 file or a Keras archive — it looks like ${describeKind(kind)}; expected a Keras ` +
        `.h5 / .keras file or a tfjs model.json`,
    );
  }
  const { size } = await fs.stat(file);
  if (kind.eof !== undefined && size < kind.eof) {
    throw new FormatError(
      `${file}: truncated HDF5 file (${size} bytes; its superblock says ${kind.eof}); copy or download it again`,
    );
  }
  return openH5(file);
}

/**
 * A Keras 3 `.keras` archive (a zip of `metadata.json`, `config.json` and `model.weights.h5`): the weights
 * file is extracted to a temporary directory (removed on close) and read in the Keras 3 layout.
 */
async function openKerasArchive(file: string): Promise<WeightFile> {
  const entries = await zipEntries(file);
  const names = entries.map((e) => e.name);
  const weights = entries.find((e) => e.name === 'model.weights.h5');
  if (!weights)
    throw new FormatError(
      `${file}: zip archive without model.weights.h5 (it holds ` +
        `${names.slice(0, 6).join(', ') || 'nothing'}); expected a Keras 3 .keras file`,
    );
  const json = async (name: string): Promise<Record<string, unknown> | undefined> => {
    const e = entries.find((x) => x.name === name);
    if (!e) return undefined;
    try {
      return JSON.parse((await readZipEntry(file, e)).toString('utf8')) as Record<string, unknown>;
    } catch {
      return undefined;
    }
  };
  const meta = await json('metadata.json');
  const config = await json('config.json');
  const inner = config?.config as { name?: unknown; layers?: unknown[] } | undefined;
  const contents = [
    `Keras ${typeof meta?.keras_version === 'string' ? meta.keras_version : '(version not recorded)'} archive`,
    config
      ? `${String(config.class_name ?? 'model')} ` +
        `'${String(inner?.name ?? '?')}'${Array.isArray(inner?.layers) ? ` of ${inner.layers.length} layers` : ''}`
      : 'no config.json',
    `entries: ${names.join(', ')}`,
  ].join('; ');
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'niwt-keras-'));
  try {
    const h5 = path.join(dir, 'model.weights.h5');
    await fs.writeFile(h5, await readZipEntry(file, weights));
    const kind = await detectFileKind(h5);
    if (kind.kind !== 'hdf5')
      throw new FormatError(
        `${file}: model.weights.h5 inside the archive is not HDF5 (it looks like ${describeKind(kind)})`,
      );
    const wf = await openH5(h5);
    return {
      ...wf,
      source: file,
      format: 'keras3-archive',
      contents,
      close: () => {
        wf.close();
        void fs.rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
