/**
 * Lenient reading of one Reed et al. caption file (as AttnGAN-style loaders do): invalid UTF-8 becomes
 * U+FFFD instead of failing, the `\uFFFD\uFFFD` artefacts of the release become a space, empty lines are
 * skipped and the first `max` captions are kept.
 */
import { promises as fs } from 'node:fs';

export interface CaptionFile {
  readonly captions: readonly string[];
  /** Non-empty lines in the file (may exceed `captions.length`). */
  readonly nonEmpty: number;
}

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });

export function parseCaptions(bytes: Uint8Array, max: number): CaptionFile {
  const text = decoder.decode(bytes).replace(/\uFFFD\uFFFD/g, ' ');
  const lines = text
    .split(/\r?\n|\r/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return { captions: lines.slice(0, max), nonEmpty: lines.length };
}

export async function readCaptionFile(file: string, max: number): Promise<CaptionFile> {
  return parseCaptions(await fs.readFile(file), max);
}
