#!/usr/bin/env node
/**
 * Proof that a formatting pass changed layout only (issue 16): compares the syntax tree of every .ts/.mts/.cts/.js/
 * .mjs/.cjs file changed since a git ref with the file at that ref, ignoring layout, comments and parentheses, with
 * string/template concatenations folded (`'a ' + 'b'` is `'a b'`) and `new RegExp(String.raw`…` + …, flags)` read
 * as the regex literal it replaced. Lists the files whose trees differ; exit 1 if any.
 *
 *   node scripts/same-ast.mjs REF     e.g. REF = HEAD after `npm run format && npm run format:long`
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ref = process.argv[2];
if (!ref) {
  console.error('usage: node scripts/same-ast.mjs REF');
  process.exit(2);
}
const git = (...args) =>
  execFileSync('git', args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
const files = git('diff', '--name-only', ref, '--')
  .split('\n')
  .filter((f) => /\.(ts|mts|cts|js|mjs|cjs)$/.test(f) && existsSync(path.join(root, f)));

/** The concatenated pieces of a string-valued literal expression: text, and `{ e }` for each `${…}`. */
function stringParts(n, canon) {
  if (ts.isParenthesizedExpression(n)) return stringParts(n.expression, canon);
  if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) return [n.text];
  if (ts.isTemplateExpression(n)) {
    return [n.head.text, ...n.templateSpans.flatMap((s) => [{ e: canon(s.expression) }, s.literal.text])];
  }
  if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = stringParts(n.left, canon);
    const right = left && stringParts(n.right, canon);
    if (right) return [...left, ...right];
  }
  return null;
}

/** The source of `String.raw`…` + String.raw`…``, or null. */
function rawSource(n) {
  if (ts.isParenthesizedExpression(n)) return rawSource(n.expression);
  if (ts.isTaggedTemplateExpression(n) && ts.isNoSubstitutionTemplateLiteral(n.template)) {
    return n.tag.getText() === 'String.raw' ? n.template.rawText : null;
  }
  if (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = rawSource(n.left);
    const right = left === null ? null : rawSource(n.right);
    if (right !== null) return left + right;
  }
  return null;
}

function canonical(file, text) {
  const kind = /\.(ts|mts|cts)$/.test(file) ? ts.ScriptKind.TS : ts.ScriptKind.JS;
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const merge = (parts) => {
    const out = [];
    for (const p of parts) {
      if (typeof p === 'string' && typeof out.at(-1) === 'string') out[out.length - 1] += p;
      else out.push(p);
    }
    return JSON.stringify(out.filter((p) => p !== ''));
  };
  const canon = (n) => {
    if (ts.isParenthesizedExpression(n)) return canon(n.expression);
    const parts = n.parent && ts.isTaggedTemplateExpression(n.parent) ? null : stringParts(n, canon);
    if (parts) return `S${merge(parts)}`;
    if (ts.isRegularExpressionLiteral(n)) {
      const slash = n.text.lastIndexOf('/');
      return `RE${JSON.stringify([n.text.slice(1, slash), n.text.slice(slash + 1)])}`;
    }
    if (ts.isNewExpression(n) && n.expression.getText() === 'RegExp' && n.arguments?.length) {
      const source = rawSource(n.arguments[0]);
      const flags = n.arguments[1] ? stringParts(n.arguments[1], canon) : [''];
      if (source !== null && flags?.every((f) => typeof f === 'string')) {
        return `RE${JSON.stringify([source, flags.join('')])}`;
      }
    }
    const kids = [];
    ts.forEachChild(n, (c) => {
      kids.push(canon(c));
    });
    const head = ts.SyntaxKind[n.kind] + (kids.length ? '' : `:${n.getText()}`) + (n.operator ?? '');
    return `${head}(${kids.join(',')})`;
  };
  return canon(sf);
}

let differ = 0;
for (const f of files) {
  let before;
  try {
    before = git('show', `${ref}:${f}`);
  } catch {
    continue; // a new file
  }
  if (canonical(f, before) !== canonical(f, readFileSync(path.join(root, f), 'utf8'))) {
    console.log(`${f}: syntax tree differs from ${ref}`);
    differ++;
  }
}
console.log(`${files.length} file(s) compared with ${ref}: ${differ ? `${differ} differ` : 'same syntax trees'}`);
process.exit(differ ? 1 : 0);
