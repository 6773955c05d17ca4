/**
 * Checks of dataset roots run before a run opens (`PluginSpec.preflight`): each folder exists, is not
 * empty, and holds the files its loader reads first, non-empty. Content is checked by the loaders
 * (and `niwt datasets check`); these checks only make a wrong path fail before any work starts.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { PreflightContext, PreflightIssue } from '@niwt/core';
import { FILES } from './folder/layout.js';

interface Expected {
  /** What the folder is, for the message ("the CUB_200_2011 folder"). */
  readonly what: string;
  readonly files?: readonly string[];
  readonly dirs?: readonly string[];
}

/** The first problem of the folder at option `key`, or none. */
function checkFolder(ctx: PreflightContext, key: string, rel: string, e: Expected): PreflightIssue[] {
  const dir = path.resolve(ctx.baseDir, rel);
  const want = [...(e.files ?? []), ...(e.dirs ?? []).map((d) => `${d}/`)].join(', ');
  const issue = (message: string): PreflightIssue[] => [{ path: [key], message }];
  const st = statSync(dir, { throwIfNoEntry: false });
  if (!st) {
    return issue(
      `${dir} does not exist; expected ${e.what} (with ${want}); fix the path (relative to the working directory)`,
    );
  }
  if (!st.isDirectory()) return issue(`${dir} is not a folder; expected ${e.what} (with ${want})`);
  if (readdirSync(dir).length === 0) return issue(`${dir} is empty; expected ${e.what} (with ${want})`);
  for (const f of e.files ?? []) {
    const fs = statSync(path.join(dir, f), { throwIfNoEntry: false });
    if (!fs?.isFile()) return issue(`${path.join(dir, f)} is missing; expected ${e.what} (with ${want})`);
    if (fs.size === 0) return issue(`${path.join(dir, f)} is empty; expected ${e.what} (with ${want})`);
  }
  for (const d of e.dirs ?? []) {
    const ds = statSync(path.join(dir, d), { throwIfNoEntry: false });
    if (!ds?.isDirectory()) return issue(`${path.join(dir, d)}/ is missing; expected ${e.what} (with ${want})`);
  }
  return [];
}

function checkFile(ctx: PreflightContext, key: string, rel: string, what: string): PreflightIssue[] {
  const file = path.resolve(ctx.baseDir, rel);
  const st = statSync(file, { throwIfNoEntry: false });
  if (!st?.isFile()) return [{ path: [key], message: `${file} is missing; expected ${what}` }];
  if (st.size === 0) return [{ path: [key], message: `${file} is empty; expected ${what}` }];
  return [];
}

const XLSA17_FILES = ['att_splits.mat', 'res101.mat'];
const xlsa17 = (name: string): Expected => ({ what: `the xlsa17 ${name} folder`, files: XLSA17_FILES });

export function folderPreflight(o: { root: string }, ctx: PreflightContext): PreflightIssue[] {
  const { classes, attributes, classAttributes, split, images } = FILES;
  const files = [classes, attributes, classAttributes, split];
  return checkFolder(ctx, 'root', o.root, { what: 'a folder-format dataset', files, dirs: [images] });
}

type Awa2Paths = { root: string; xlsa17: string; attributes: string };

export function awa2Preflight(o: Awa2Paths, ctx: PreflightContext): PreflightIssue[] {
  const files = ['classes.txt', 'predicates.txt', `predicate-matrix-${o.attributes}.txt`];
  return [
    ...checkFolder(ctx, 'root', o.root, { what: 'the Animals_with_Attributes2 folder', files, dirs: ['JPEGImages'] }),
    ...checkFolder(ctx, 'xlsa17', o.xlsa17, xlsa17('AWA2')),
  ];
}

export function cubPreflight(o: { root: string; xlsa17: string }, ctx: PreflightContext): PreflightIssue[] {
  return [
    ...checkFolder(ctx, 'root', o.root, {
      what: 'the CUB_200_2011 folder',
      files: ['classes.txt', 'images.txt', 'image_class_labels.txt'],
      dirs: ['images'],
    }),
    ...checkFolder(ctx, 'xlsa17', o.xlsa17, xlsa17('CUB')),
  ];
}

type Xlsa17Paths = { root: string; features?: string; attributeNames?: string };

export function xlsa17Preflight(o: Xlsa17Paths, ctx: PreflightContext): PreflightIssue[] {
  const files = o.features === undefined ? XLSA17_FILES : ['att_splits.mat'];
  const npy = 'a res101-layout .mat or a .npy [images × dims]';
  const features = o.features === undefined ? [] : checkFile(ctx, 'features', o.features, npy);
  const named = 'a file naming the attributes';
  const names = o.attributeNames === undefined ? [] : checkFile(ctx, 'attributeNames', o.attributeNames, named);
  return [...checkFolder(ctx, 'root', o.root, { what: 'an xlsa17 dataset folder', files }), ...features, ...names];
}
