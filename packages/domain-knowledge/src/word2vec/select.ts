/**
 * Which words of a word2vec file to keep. A 3M-word file is scanned once and only the vectors of the
 * requested words are copied, so memory is proportional to the request, not to the file.
 *
 * Lookup: the exact word first; then (when `lowercaseFallback`) a case-insensitive match, preferring
 * the file's all-lowercase form and otherwise its first (most frequent) spelling.
 */
export class WordSelector {
  private readonly exact = new Map<string, Float32Array>();
  /** lowercase form → requested words with that form (only those still lacking an exact match matter). */
  private readonly byLower = new Map<string, string[]>();
  /** lowercase form → best fallback so far: rank 1 = file word is all lowercase, 2 = other casing. */
  private readonly fallback = new Map<string, { rank: number; word: string; vector?: Float32Array }>();
  private readonly wanted: ReadonlySet<string>;
  private missingExact: number;

  constructor(
    words: Iterable<string>,
    readonly lowercaseFallback: boolean,
  ) {
    this.wanted = new Set(words);
    this.missingExact = this.wanted.size;
    if (lowercaseFallback) {
      for (const w of this.wanted) {
        const l = w.toLowerCase();
        const list = this.byLower.get(l);
        if (list) list.push(w);
        else this.byLower.set(l, [w]);
      }
    }
  }

  get size(): number {
    return this.wanted.size;
  }

  /** True when the vector of this file word must be copied. Only the first occurrence counts. */
  wants(fileWord: string): boolean {
    if (this.wanted.has(fileWord) && !this.exact.has(fileWord)) return true;
    if (!this.lowercaseFallback) return false;
    const l = fileWord.toLowerCase();
    if (!this.byLower.has(l)) return false;
    const rank = fileWord === l ? 1 : 2;
    const prev = this.fallback.get(l);
    return prev === undefined || rank < prev.rank;
  }

  /** Records the vector of a word for which `wants` returned true. */
  accept(fileWord: string, vector: Float32Array): void {
    if (this.wanted.has(fileWord) && !this.exact.has(fileWord)) {
      this.exact.set(fileWord, vector);
      this.missingExact--;
    }
    if (!this.lowercaseFallback) return;
    const l = fileWord.toLowerCase();
    if (!this.byLower.has(l)) return;
    const rank = fileWord === l ? 1 : 2;
    const prev = this.fallback.get(l);
    if (prev === undefined || rank < prev.rank) this.fallback.set(l, { rank, word: fileWord, vector });
  }

  /** Every requested word has its exact vector: the rest of the file cannot change the result. */
  complete(): boolean {
    return this.missingExact === 0;
  }

  /** The vector per requested word (exact, else fallback) and how each was matched. */
  resolve(): { vectors: Map<string, Float32Array>; exact: number; fallback: number } {
    const vectors = new Map<string, Float32Array>();
    let exact = 0;
    let fallback = 0;
    for (const w of this.wanted) {
      const e = this.exact.get(w);
      if (e) {
        vectors.set(w, e);
        exact++;
        continue;
      }
      const f = this.lowercaseFallback ? this.fallback.get(w.toLowerCase())?.vector : undefined;
      if (f) {
        vectors.set(w, f);
        fallback++;
      }
    }
    return { vectors, exact, fallback };
  }
}
