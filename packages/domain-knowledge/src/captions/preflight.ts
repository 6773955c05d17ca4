/** Checks of the captions encoder's paths, run before a run opens (`PluginSpec.preflight`). */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { PreflightContext, PreflightIssue } from '@niwt/core';
import type { CaptionsOptions } from './options.js';

/** `textRoot` is a non-empty folder, `word2vec` a non-empty file. */
export function captionsPreflight(o: CaptionsOptions, ctx: PreflightContext): PreflightIssue[] {
  const root = path.resolve(ctx.baseDir, o.textRoot);
  const rs = statSync(root, { throwIfNoEntry: false });
  const want = "expected Reed et al.'s text_c10 folder (<class folder>/<image>.txt)";
  if (!rs?.isDirectory()) {
    return [{ path: ['textRoot'], message: `${root} ${rs ? 'is not a folder' : 'does not exist'}; ${want}` }];
  }
  if (readdirSync(root).length === 0) return [{ path: ['textRoot'], message: `${root} is empty; ${want}` }];
  const file = path.resolve(ctx.baseDir, o.word2vec);
  const ws = statSync(file, { throwIfNoEntry: false });
  const w2v = 'expected a word2vec file (.bin, .bin.gz or text)';
  if (!ws?.isFile()) {
    return [{ path: ['word2vec'], message: `${file} ${ws ? 'is not a file' : 'does not exist'}; ${w2v}` }];
  }
  if (ws.size === 0) return [{ path: ['word2vec'], message: `${file} is empty; ${w2v}` }];
  return [];
}
