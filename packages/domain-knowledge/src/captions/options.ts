import { z } from 'zod';

/** Options of the `captions` knowledge encoder; paths are relative to the working directory. */
export const captionsOptions = z.strictObject({
  /** Reed et al.'s `text_c10` folder: `<textRoot>/<class folder>/<image basename>.txt`. */
  textRoot: z.string().min(1),
  /** word2vec file: `.bin`, `.bin.gz`, or text (with or without header, optionally `.gz`). */
  word2vec: z.string().min(1),
  /** `auto` picks binary for names ending in `.bin` / `.bin.gz`, text otherwise. */
  format: z.enum(['auto', 'binary', 'text']).default('auto'),
  /** Captions kept per image (the first non-empty lines); Reed's release has 10. */
  maxCaptions: z.number().int().min(1).default(10),
  /** Lowercase captions before lookup. */
  lowercase: z.boolean().default(true),
  /** When a word is not in the file as spelled, try a case-insensitive match. */
  lowercaseFallback: z.boolean().default(true),
  /** false: keep every word; true: drop a built-in English list; a list: drop those words. */
  stopWords: z.union([z.boolean(), z.array(z.string().min(1))]).default(false),
});
export type CaptionsOptions = z.infer<typeof captionsOptions>;
