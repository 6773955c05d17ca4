/**
 * Experiment configs: YAML → `--set` overrides → strict validation. Every error names the place
 * (`file:line path`), the value and what was expected, before any work starts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  LineCounter,
  parseDocument,
  isMap,
  isSeq,
  isPair,
  isScalar,
  parse as parseYaml,
  type Document,
  type Node,
} from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { suggestion } from './did-you-mean.js';

export type ConfigPath = readonly (string | number)[];

/** Renders `methods.0.lambda`. */
export function formatPath(p: ConfigPath): string {
  return p.length === 0 ? '<root>' : p.map(String).join('.');
}

/** Keys of a method entry that belong to the runner, not to the method plugin. */
export const METHOD_ENTRY_KEYS = ['name', 'label', 'control', 'permutations'] as const;

export const CONTROLS = ['permute-unseen-knowledge'] as const;
export type Control = (typeof CONTROLS)[number];

const pluginBlock = z.looseObject({ name: z.string().min(1) });

const methodEntry = z.looseObject({
  name: z.string().min(1),
  label: z
    .string()
    .regex(/^[\w.-]+$/, 'a label is letters, digits, _ . -')
    .optional(),
  control: z.enum(CONTROLS).optional(),
  /**
   * With a control: 'balanced' (every cyclic shift of a random order; the default) or a number of uniform random
   * permutations.
   */
  permutations: z.union([z.literal('balanced'), z.number().int().min(1).max(1000)]).optional(),
});

/** Top-level schema; plugin blocks are validated further by each plugin's own schema. */
export const topConfigSchema = z.strictObject({
  experiment: z.string().min(1).max(500).default('default'),
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .default(0),
  plugins: z.array(z.string().min(1)).default([]),
  backend: z.enum(['auto', 'wasm', 'cpu', 'tensorflow']).default('auto'),
  cacheDir: z.string().default('.niwt/cache'),
  dataset: pluginBlock,
  knowledge: pluginBlock.default({ name: 'attributes' }),
  backbone: pluginBlock,
  methods: z.array(methodEntry).min(1),
  tracking: z.looseObject({ name: z.string().min(1).default('mlflow') }).default({ name: 'mlflow' }),
  /** Grid sweep for `niwt sweep`: dotted config path → list of values (Cartesian product). */
  sweep: z
    .record(
      z.string().regex(/^[\w.-]+$/, 'a dotted config path'),
      z.array(z.union([z.number(), z.string(), z.boolean()])).min(1),
    )
    .optional(),
  /** Explanations of unseen-class decisions (methods that offer them). */
  explain: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Knowledge dimensions listed per explanation. */
      topK: z.number().int().min(1).max(100).default(5),
      /** Images per unseen class averaged for its class explanation. */
      classImages: z.number().int().min(1).default(16),
    })
    .prefault({}),
  /**
   * Calibrated stacking (Chao et al. 2016): γ chosen on a seen-class split by refitting each method once
   * (apps/runner/README.md "Calibrated stacking"); the test curve and AUSUC are reported either way.
   */
  calibration: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Share of the seen classes that play "unseen" while γ is chosen (at least 1, leaving 2). */
      pseudoUnseenFraction: z.number().gt(0).lt(1).default(0.2),
      /** Share of each remaining seen class's trainval images held out to validate γ. */
      validationFraction: z.number().gt(0).lt(1).default(0.2),
    })
    .prefault({}),
});

export type TopConfig = z.infer<typeof topConfigSchema>;
export type PluginBlock = z.infer<typeof pluginBlock>;
export type MethodEntry = z.infer<typeof methodEntry>;

/** A parsed config file with what is needed to point at lines. */
export interface ConfigSource {
  /** The file (as given), or `<inline>`. */
  readonly file: string;
  readonly baseDir: string;
  readonly raw: unknown;
  /** Paths changed by `--set`, with the original override text. */
  readonly overridden: ReadonlyMap<string, string>;
  readonly locate: (p: ConfigPath) => string;
  /** Files included through `defaults:`, lowest precedence first. */
  readonly includes: readonly string[];
}

function locator(
  file: string,
  doc: Document | undefined,
  lc: LineCounter | undefined,
  overridden: Map<string, string>,
) {
  return (p: ConfigPath): string => {
    for (let k = p.length; k >= 1; k--) {
      const o = overridden.get(formatPath(p.slice(0, k)));
      if (o !== undefined) return `--set ${o}:`;
    }
    if (!doc || !lc) return `${file}:`;
    let node: unknown = doc.contents;
    let line: number | undefined = node && (node as Node).range ? lc.linePos((node as Node).range![0]).line : undefined;
    for (const seg of p) {
      if (isMap(node)) {
        const pair = node.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(seg));
        if (!pair) break;
        const key = pair.key as Node;
        if (key.range) line = lc.linePos(key.range[0]).line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
        node = node.items[seg];
        const r = (node as Node | null)?.range;
        if (r) line = lc.linePos(r[0]).line;
      } else {
        break;
      }
    }
    return line === undefined ? `${file}:` : `${file}:${line}`;
  };
}

/** Parses one `a.b.0.c=value` override; the value is read as YAML (so `1e-4` is a number, `[1,2]` a list). */
export function parseOverride(text: string): { path: (string | number)[]; value: unknown } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set ${text}: expected path=value, e.g. --set methods.0.lambda=1e-4`);
  const keyText = text.slice(0, eq).trim();
  const valueText = text.slice(eq + 1);
  const segs = keyText.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
  if (segs.some((s) => s === '')) throw new ConfigError(`--set ${text}: empty segment in path '${keyText}'`);
  let value: unknown;
  try {
    value = valueText === '' ? '' : parseYaml(valueText);
  } catch (e) {
    throw new ConfigError(`--set ${text}: value is not valid YAML (${(e as Error).message.split('\n')[0]})`, {
      cause: e,
    });
  }
  return { path: segs, value };
}

function applyOverride(root: Record<string, unknown>, text: string): void {
  const { path: segs, value } = parseOverride(text);
  let node: unknown = root;
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = segs[i];
    const container = node as Record<string | number, unknown>;
    if (container[seg] === undefined || container[seg] === null) {
      if (Array.isArray(container) && typeof seg === 'number' && seg >= container.length) {
        throw new ConfigError(
          `--set ${text}: ${formatPath(segs.slice(0, i + 1))} is past the end of a list of ${container.length}`,
        );
      }
      container[seg] = typeof segs[i + 1] === 'number' ? [] : {};
    }
    node = container[seg];
    if (typeof node !== 'object' || node === null) {
      throw new ConfigError(
        `--set ${text}: ${formatPath(segs.slice(0, i + 1))} is ${JSON.stringify(node)}, not a map or list`,
      );
    }
  }
  const last = segs[segs.length - 1];
  if (Array.isArray(node) && typeof last !== 'number') {
    throw new ConfigError(`--set ${text}: ${formatPath(segs.slice(0, -1))} is a list; index it with a number`);
  }
  (node as Record<string | number, unknown>)[last] = value;
}

interface ParsedFile {
  readonly file: string;
  readonly doc: Document;
  readonly lc: LineCounter;
  readonly raw: Record<string, unknown>;
}

function parseFile(file: string, inlineText: string | undefined, includedFrom?: string): ParsedFile {
  let text: string;
  if (inlineText !== undefined) {
    text = inlineText;
  } else {
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'no such file' : (code ?? String(e));
      throw new ConfigError(`${includedFrom ? `${includedFrom} defaults: ` : ''}${file}: cannot read config (${why})`, {
        cause: e,
      });
    }
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const line = lc.linePos(err.pos[0]).line;
    throw new ConfigError(`${file}:${line}: YAML syntax error: ${err.message.split('\n')[0]}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      `${file}: expected a mapping of config keys at the top level, found ` +
        `${Array.isArray(raw) ? 'a list' : typeof raw}`,
    );
  }
  return { file, doc, lc, raw: raw as Record<string, unknown> };
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep merge: mappings merge key by key, everything else (lists included) is replaced. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = isMapping(v) && isMapping(out[k]) ? mergeConfig(out[k] as Record<string, unknown>, v) : v;
  return out;
}

/**
 * Loads a file and, first, the files listed under its `defaults:` (relative to it, applied in order, each
 * possibly with its own defaults); the file's own keys win. Returns the files in precedence order (lowest first).
 */
function loadWithDefaults(file: string, inlineText: string | undefined, chain: readonly string[]): ParsedFile[] {
  const self = parseFile(file, inlineText, chain[chain.length - 1]);
  const defaults = self.raw.defaults;
  if (defaults === undefined) return [self];
  const defaultsNode = self.doc.get('defaults', true) as Node | undefined;
  const where = `${file}:${self.lc.linePos(defaultsNode?.range?.[0] ?? 0).line}`;
  if (!Array.isArray(defaults) || defaults.some((d) => typeof d !== 'string')) {
    throw new ConfigError(
      `${where} defaults: expected a list of YAML files to include, e.g. defaults: [base.yaml] (found ` +
        `${JSON.stringify(defaults)})`,
    );
  }
  const dir = path.dirname(path.resolve(file));
  const parts: ParsedFile[] = [];
  for (const d of defaults as string[]) {
    const included = path.resolve(dir, d);
    if (chain.includes(included) || included === path.resolve(file)) {
      throw new ConfigError(
        `${where} defaults: '${d}' includes itself ` +
          `(${[...chain, path.resolve(file), included].map((c) => path.basename(c)).join(' → ')})`,
      );
    }
    parts.push(...loadWithDefaults(included, undefined, [...chain, path.resolve(file)]));
  }
  delete self.raw.defaults;
  return [...parts, self];
}

/** Reads a YAML config file (or inline YAML), its `defaults:` includes, and applies overrides. */
export function readConfigSource(file: string, overrides: readonly string[] = [], inlineText?: string): ConfigSource {
  const files = loadWithDefaults(file, inlineText, []);
  let raw: Record<string, unknown> = {};
  for (const f of files) raw = mergeConfig(raw, f.raw);
  const overridden = new Map<string, string>();
  for (const o of overrides) {
    applyOverride(raw, o);
    overridden.set(formatPath(parseOverride(o).path), o);
  }
  // a path is reported in the highest-precedence file that sets it
  const locators = files.map((f) => ({
    has: (p: ConfigPath) => f.doc.hasIn(p as (string | number)[]) || p.length === 0,
    locate: locator(f.file, f.doc, f.lc, overridden),
  }));
  const locate = (p: ConfigPath): string => {
    for (let k = p.length; k >= 0; k--) {
      const prefix = p.slice(0, k);
      for (let i = locators.length - 1; i >= 0; i--) if (locators[i].has(prefix)) return locators[i].locate(p);
    }
    return locators[locators.length - 1].locate(p);
  };
  return {
    file,
    baseDir: path.dirname(path.resolve(file)),
    raw,
    overridden,
    locate,
    includes: files.slice(0, -1).map((f) => f.file),
  };
}

/** Enum values listed in full in a message; longer enums are shortened. */
const MAX_LISTED = 12;

function describeValue(v: unknown): string {
  if (v === undefined) return 'missing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function valueAt(root: unknown, p: ConfigPath): unknown {
  let node = root;
  for (const seg of p) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return node;
}

/**
 * Validates `value` (found at `prefix` in the source) against `schema`; the first issue becomes a
 * ConfigError naming `file:line path`, the value and the expectation.
 */
export function validateAt<S extends z.ZodType>(
  schema: S,
  value: unknown,
  prefix: ConfigPath,
  source: ConfigSource,
  knownKeys?: readonly string[],
): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const p: (string | number)[] = [...prefix, ...(issue.path as (string | number)[])];
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0];
    const keyPath = [...p, key];
    const objectShape = knownKeys ?? shapeKeys(schema, issue.path as (string | number)[]);
    const known = objectShape.length > 0 ? ` (known: ${objectShape.join(', ')}${suggestion(key, objectShape)})` : '';
    throw new ConfigError(`${source.locate(keyPath)} ${formatPath(keyPath)}: unknown key${known}`);
  }
  const found = valueAt(source.raw, p);
  let msg = issue.message.replace(/^Invalid input: /, '');
  let hint = '';
  if (issue.code === 'invalid_value' && issue.values.every((v) => typeof v === 'string')) {
    const values = issue.values as string[];
    // Long enums (the layers of a ResNet-101) are shortened; the suggestion names the likely one.
    if (values.length > MAX_LISTED) {
      const first = values.slice(0, MAX_LISTED).map((v) => JSON.stringify(v));
      msg = `expected one of ${first.join('|')}|… (${values.length} in all: niwt plugins ls lists them)`;
    }
    if (typeof found === 'string') hint = suggestion(found, values);
  }
  throw new ConfigError(`${source.locate(p)} ${formatPath(p)}: ${msg} (found ${describeValue(found)}${hint})`);
}

/** The keys a (possibly nested) zod object schema accepts at `sub`. */
function shapeKeys(schema: z.ZodType, sub: (string | number)[]): string[] {
  let s: unknown = schema;
  const unwrap = (x: unknown): unknown => {
    let cur = x as { def?: { type?: string; innerType?: unknown; element?: unknown; in?: unknown } };
    for (let i = 0; i < 10 && cur?.def; i++) {
      const t = cur.def.type;
      if (t === 'default' || t === 'optional' || t === 'nullable' || t === 'prefault' || t === 'readonly')
        cur = cur.def.innerType as typeof cur;
      else if (t === 'pipe') cur = cur.def.in as typeof cur;
      else break;
    }
    return cur;
  };
  s = unwrap(s);
  for (const seg of sub) {
    const def = (s as { def?: { type?: string; element?: unknown } }).def;
    if (typeof seg === 'number' && def?.type === 'array') s = unwrap(def.element);
    else if (typeof seg === 'string' && (s as { shape?: Record<string, unknown> }).shape)
      s = unwrap((s as { shape: Record<string, unknown> }).shape[seg]);
    else return [];
  }
  const shape = (s as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/** Validates the top level of a config (plugin blocks are checked by the registry afterwards). */
export function validateTopConfig(source: ConfigSource): TopConfig {
  return validateAt(topConfigSchema, source.raw, [], source);
}
