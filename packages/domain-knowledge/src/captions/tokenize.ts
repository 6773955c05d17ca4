/**
 * Caption tokenizer: words are runs of letters and digits, with `'` kept inside a word (`bird's`);
 * everything else separates words. Lowercasing is on by default because captions are sentence-cased
 * while word2vec vocabularies are case-sensitive (the reader also falls back to a case-insensitive match).
 */
const WORD = /[\p{L}\p{N}]+(?:'[\p{L}\p{N}]+)*/gu;

export interface TokenizeOptions {
  readonly lowercase: boolean;
  /** Words dropped after lowercasing (compared in lowercase); undefined keeps every word. */
  readonly stopWords?: ReadonlySet<string>;
}

export function tokenize(text: string, opts: TokenizeOptions): string[] {
  const src = (opts.lowercase ? text.toLowerCase() : text).replace(/[\u2018\u2019\u02bc]/g, "'");
  const out: string[] = [];
  for (const m of src.matchAll(WORD)) {
    const t = m[0];
    if (opts.stopWords?.has(t.toLowerCase())) continue;
    out.push(t);
  }
  return out;
}

/** A short English stop-word list (function words; NLTK-like), used when `stopWords: true`. */
export const ENGLISH_STOP_WORDS: readonly string[] = (
  'a about above after again against all am an and any are as at be because been before being below between ' +
  'both but by ' +
  ('can could did do does doing down during each few for from further had has have having he her here hers ' +
    'herself him ') +
  ('himself his how i if in into is it its itself just me more most my myself no nor not of off on once only ' +
    'or other our ') +
  ('ours ourselves out over own same she should so some such than that the their theirs them themselves then ' +
    'there these ') +
  'they this those through to too under until up very was we were what when where which while who whom why will with ' +
  'would you your yours yourself yourselves'
).split(' ');

/** The stop-word set of the `stopWords` option: false → none, true → English list, list → those words. */
export function stopWordSet(option: boolean | readonly string[]): ReadonlySet<string> | undefined {
  if (option === false) return undefined;
  return new Set((option === true ? ENGLISH_STOP_WORDS : option).map((w) => w.toLowerCase()));
}
