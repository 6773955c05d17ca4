#!/usr/bin/env node
/**
 * Lines of at most 120 characters (issue 16). Prettier (printWidth 120) breaks code but never long string
 * literals, template literals or comments; this script, run after `npm run format`, rewrites what remains:
 * comments are re-wrapped at the same indentation and prefix, string and template literals are split at a space
 * into a `'part one ' + 'part two'` concatenation (same value), then Prettier lays the touched files out again,
 * until nothing changes. Tokens and their contexts come from TypeScript's own parser, never from regexes, and a
 * literal is left alone (and reported) where a concatenation would not mean the same thing: member access or call
 * on the literal, import/export specifiers, types, property names, `case` labels, enum members, under `as const`,
 * directives, tagged templates. A long regular expression literal becomes `new RegExp(String.raw`…` + …, flags)`
 * (the same source and flags). Lines left over are listed (file:line and why) for a hand fix.
 *
 *   node scripts/wrap-long-lines.mjs            rewrite tracked .ts/.mts/.cts/.js/.mjs/.cjs files, report the rest
 *   node scripts/wrap-long-lines.mjs --check    change nothing; list every line over 120, exit 1 if there is one
 *   node scripts/wrap-long-lines.mjs [--check] FILE...   only these files
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const WIDTH = 120;
const EXTENSIONS = /\.(ts|mts|cts|js|mjs|cjs)$/;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const check = args.includes('--check');
const only = args.filter((a) => !a.startsWith('--'));

/** Width as a reader counts it: code points, not UTF-16 units. */
const width = (line) => [...line].length;
const longLines = (text) =>
  text.split('\n').flatMap((line, i) => (width(line) > WIDTH ? [{ line: i + 1, text: line }] : []));

async function sourceFiles() {
  const listed = only.length
    ? only.map((f) => path.relative(root, path.resolve(f)))
    : execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0');
  const prettier = await import('prettier');
  const files = [];
  for (const f of listed.filter((f) => EXTENSIONS.test(f))) {
    const info = await prettier.getFileInfo(path.join(root, f), {
      ignorePath: [path.join(root, '.gitignore'), path.join(root, '.prettierignore')],
    });
    if (!info.ignored) files.push(f);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens: every comment, string literal and template literal of a file, from TypeScript's parser.

function scriptKind(file) {
  if (/\.(ts|mts|cts)$/.test(file)) return ts.ScriptKind.TS;
  return ts.ScriptKind.JS;
}

function collectTokens(file, text) {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, scriptKind(file));
  const comments = new Map();
  const literals = [];
  const addComments = (ranges) => {
    for (const r of ranges ?? []) comments.set(r.pos, { kind: 'comment', pos: r.pos, end: r.end, line: r.kind });
  };
  const visit = (node) => {
    addComments(ts.getLeadingCommentRanges(text, node.pos));
    addComments(ts.getTrailingCommentRanges(text, node.end));
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node)) {
      literals.push({ kind: 'literal', node, pos: node.getStart(sf), end: node.end, why: unsplittable(node) });
      if (ts.isTemplateExpression(node)) node.templateSpans.forEach((s) => visit(s.expression));
      return;
    }
    if (ts.isRegularExpressionLiteral(node)) {
      literals.push({ kind: 'regex', node, pos: node.getStart(sf), end: node.end, why: undefined });
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  addComments(ts.getLeadingCommentRanges(text, sf.endOfFileToken.pos));
  return { sf, comments: [...comments.values()], literals };
}

/** Why `'a ' + 'b'` could not stand where the literal stands, or undefined when it can. */
function unsplittable(node) {
  const p = node.parent;
  if (!p) return 'no parent';
  if (ts.isTaggedTemplateExpression(p)) return 'tagged template';
  if ((ts.isPropertyAccessExpression(p) || ts.isElementAccessExpression(p)) && p.expression === node)
    return 'member access on the literal';
  if ((ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression === node) return 'call on the literal';
  if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isExternalModuleReference(p))
    return 'module specifier';
  if (ts.isImportTypeNode(p) || ts.isLiteralTypeNode(p) || ts.isImportAttribute?.(p)) return 'type or import';
  if (ts.isModuleDeclaration(p)) return 'module name';
  if (ts.isCaseClause(p)) return 'case label';
  if (ts.isEnumMember(p)) return 'enum member';
  if (underAsConst(node)) return 'as const';
  if (('name' in p && p.name === node) || ('propertyName' in p && p.propertyName === node)) return 'property name';
  if (ts.isComputedPropertyName(p)) return 'computed property name';
  if (ts.isExpressionStatement(p)) return 'directive or statement';
  if (ts.isJsxAttribute(p)) return 'JSX attribute';
  if (ts.isCallExpression(p) && p.expression.kind === ts.SyntaxKind.ImportKeyword) return 'dynamic import';
  if (ts.isCallExpression(p) && ts.isIdentifier(p.expression) && p.expression.text === 'require') return 'require()';
  return undefined;
}
const isConst = (type) =>
  ts.isTypeReferenceNode(type) && ts.isIdentifier(type.typeName) && type.typeName.text === 'const';
/** Inside `… as const` (through object and array literals): a concatenation would widen the literal's type. */
function underAsConst(node) {
  for (let n = node.parent; n; n = n.parent) {
    if ((ts.isAsExpression(n) || ts.isSatisfiesExpression(n) || ts.isTypeAssertionExpression(n)) && isConst(n.type))
      return true;
    const passes =
      ts.isParenthesizedExpression(n) ||
      ts.isArrayLiteralExpression(n) ||
      ts.isObjectLiteralExpression(n) ||
      ts.isPropertyAssignment(n) ||
      ts.isConditionalExpression(n);
    if (!passes) return false;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------------------
// Rewrites. Each returns a list of edits { pos, end, text } on the original text, or a reason it cannot.

const lineStartOf = (text, pos) => text.lastIndexOf('\n', pos - 1) + 1;
const lineEndOf = (text, pos) => {
  const i = text.indexOf('\n', pos);
  return i < 0 ? text.length : i;
};
const indentOf = (line) => /^[ \t]*/.exec(line)[0];
const DIRECTIVE = /^\s*(\/\/|\/\*)\s*(eslint|@ts-|prettier-ignore|istanbul|c8|v8|#__|@__|global |jshint|tslint)/;

/** Greedy word wrap of `words` into lines `prefix + words` of at most WIDTH; a word longer than that stays whole. */
function wrapWords(words, firstPrefix, prefix, suffix = '') {
  const out = [];
  let cur = firstPrefix;
  let empty = true;
  for (const [i, w] of words.entries()) {
    const tail = i === words.length - 1 ? suffix : '';
    const candidate = empty ? cur + w + tail : `${cur} ${w}${tail}`;
    if (!empty && width(candidate) > WIDTH) {
      out.push(cur);
      cur = prefix + w + tail;
    } else cur = candidate;
    empty = false;
  }
  out.push(cur);
  return out;
}

/** A comment line that continues the prose of the line above (not a list item, tag, code or the comment's end). */
const continues = (content) => /^\S/.test(content) && !/^([-*•+>|#@`]|\d+[.)]\s|\*\/|```)/.test(content);

/**
 * Re-wraps the over-long lines among `lines` (each `{ prefix, content }`): the words that do not fit are carried
 * to the start of the next line when it continues the same prose with the same prefix, else onto a new line.
 */
function reflow(lines) {
  const out = [];
  let carry = [];
  for (const [i, l] of lines.entries()) {
    const canTake = carry.length && l.prefix === lines[i - 1].prefix && continues(l.content);
    if (carry.length && !canTake) {
      out.push(...wrapWords(carry, lines[i - 1].prefix, lines[i - 1].prefix));
      carry = [];
    }
    const full = l.prefix + l.content;
    if (!carry.length && width(full) <= WIDTH) {
      out.push(full);
      continue;
    }
    const words = [...carry, ...l.content.trim().split(/\s+/).filter(Boolean)];
    const wrapped = wrapWords(words, l.prefix, l.prefix);
    out.push(wrapped[0]);
    carry = wrapped.length > 1 ? wrapped.slice(1).join(' ').slice(l.prefix.length).split(/\s+/).filter(Boolean) : [];
  }
  if (carry.length) out.push(...wrapWords(carry, lines.at(-1).prefix, lines.at(-1).prefix));
  return out;
}

/** A comment with a line over WIDTH: re-wrap its long lines at the same indentation and prefix. */
function rewrapComment(text, c, isCodeBefore) {
  const body = text.slice(c.pos, c.end);
  if (DIRECTIVE.test(body)) return { why: 'directive comment' };
  const start = lineStartOf(text, c.pos);
  const before = text.slice(start, c.pos);
  const unchanged = (out, end) => out.join('\n') === text.slice(start, end);
  if (c.line === ts.SyntaxKind.SingleLineCommentTrivia) {
    const m = /^\/\/+\s?/.exec(body);
    const marker = m[0].trimEnd() + ' ';
    const words = body.slice(m[0].length).trim().split(/\s+/).filter(Boolean);
    if (!words.length) return { why: 'empty comment' };
    if (/\S/.test(before)) {
      // trailing comment after code: move it above the line, at the line's indentation
      if (!isCodeBefore(start)) return { why: 'trailing comment where a line cannot be inserted' };
      const indent = indentOf(before);
      const code = text.slice(start, c.pos).trimEnd();
      const lines = wrapWords(words, indent + marker, indent + marker);
      return { edits: [{ pos: start, end: c.end, text: lines.join('\n') + '\n' + code }] };
    }
    // this line and the `//` lines after it with the same prefix, which may take the words that overflow
    const prefix = before + marker;
    const lines = [{ prefix, content: body.slice(m[0].length).trim() }];
    let end = c.end;
    for (;;) {
      const next = lineEndOf(text, end) + 1;
      const line = text.slice(next, lineEndOf(text, next));
      if (next > text.length || !line.startsWith(prefix) || DIRECTIVE.test(line)) break;
      lines.push({ prefix, content: line.slice(prefix.length).trimEnd() });
      end = next + line.length;
    }
    const out = reflow(lines);
    if (out.some((l) => width(l) > WIDTH && !/\s/.test(l.slice(prefix.length))) || unchanged(out, end))
      return { why: 'a single word longer than the line' };
    return { edits: [{ pos: start, end, text: out.join('\n') }] };
  }
  const end = lineEndOf(text, c.end);
  const lines = text.slice(start, end).split('\n');
  const after = text.slice(c.end, end);
  if (/\S/.test(before) || /\S/.test(after)) return { why: 'block comment next to code' };
  const indent = before;
  if (lines.length === 1) {
    // `/** text */` on one line: the usual three-part block
    const open = /^\/\*+/.exec(body)[0];
    const words = body.slice(open.length, -2).trim().split(/\s+/).filter(Boolean);
    const wrapped = wrapWords(words, indent + ' * ', indent + ' * ');
    return { edits: [{ pos: start, end, text: [indent + open, ...wrapped, indent + ' */'].join('\n') }] };
  }
  // a block over several lines: ` * ` lines (or lines at the indentation) with their own prefix
  const parts = lines.map((line, i) => {
    if (i === 0) {
      const open = /^(\s*\/\*+\s?)(.*)$/.exec(line);
      return { prefix: open[1], content: open[2] };
    }
    const star = /^(\s*\*(?!\/)\s?)(.*)$/.exec(line);
    if (star) return { prefix: star[1], content: star[2] };
    const plain = /^(\s*)(.*)$/.exec(line);
    return { prefix: plain[1], content: plain[2] };
  });
  // the closing `*/` stays on its own line when the last line is too long to keep it
  const last = parts.at(-1);
  if (lines.length > 1 && width(lines.at(-1)) > WIDTH && last.content.endsWith('*/')) {
    last.content = last.content.slice(0, -2).trimEnd();
    parts.push({ prefix: indent + ' ', content: '*/' });
  }
  // the opening line carries into the first ` * ` line
  if (parts[0].content && parts.length > 1 && /\*\s$/.test(parts[1].prefix)) parts[0].prefix = parts[1].prefix;
  const firstOpen = /^(\s*\/\*+\s?)/.exec(lines[0])[1];
  const out = reflow(parts);
  out[0] = firstOpen + out[0].slice(parts[0].prefix.length);
  if (unchanged(out, end)) return { why: 'a single word longer than the line' };
  return { edits: [{ pos: start, end, text: out.join('\n') }] };
}

/** Positions (in the file) where a literal's text may be cut: after a space, outside `${…}`, not after `\`. */
function cutPositions(text, node, sf) {
  const ranges = [];
  if (ts.isTemplateExpression(node)) {
    ranges.push([node.head.getStart(sf) + 1, node.head.end - 2]);
    for (const s of node.templateSpans) {
      const lit = s.literal;
      ranges.push([lit.getStart(sf) + 1, lit.end - (ts.isTemplateTail(lit) ? 1 : 2)]);
    }
  } else ranges.push([node.getStart(sf) + 1, node.end - 1]);
  const cuts = [];
  for (const [from, to] of ranges) {
    // a cut right before `${` is a cut in the literal text too
    for (let i = from + 1; i <= to && i < node.end - 1; i++) {
      if (text[i - 1] !== ' ' || text[i] === ' ') continue;
      let backslashes = 0;
      for (let j = i - 2; j >= from && text[j] === '\\'; j--) backslashes++;
      if (backslashes % 2 === 0) cuts.push(i);
    }
  }
  return cuts;
}

/** A literal on a line over WIDTH: cut it into a parenthesized concatenation Prettier then lays out. */
function splitLiteral(text, lit, sf) {
  if (lit.why) return { why: lit.why };
  const quote = text[lit.pos];
  const cuts = cutPositions(text, lit.node, sf);
  const chosen = [];
  const lastFitting = (from, limit) => cuts.filter((c) => c > from + 1 && c <= limit).at(-1);
  if (!text.slice(lit.pos, lit.end).includes('\n')) {
    // each part will sit on its own line, a little deeper than the literal's line: leave room for that and ` +`
    const indent = indentOf(text.slice(lineStartOf(text, lit.pos), lit.pos)).length;
    const room = Math.max(40, WIDTH - indent - 8);
    for (let from = lit.pos; lit.end - from > room;) {
      const next = lastFitting(from, from + room - 3) ?? cuts.find((c) => c > from + 1);
      if (next === undefined) break;
      chosen.push(next);
      from = next;
    }
  } else {
    // a template over several lines: one cut on each of its long lines
    for (let start = lineStartOf(text, lit.pos); start < lit.end; start = lineEndOf(text, start) + 1) {
      const line = text.slice(start, lineEndOf(text, start));
      if (width(line) <= WIDTH) continue;
      const next = lastFitting(Math.max(start, lit.pos), start + WIDTH - 4) ?? cuts.find((c) => c > start + 1);
      if (next !== undefined && next < lineEndOf(text, start)) chosen.push(next);
    }
  }
  if (!chosen.length) {
    // the literal would fit on a line of its own, but Prettier keeps it where it is (a test's title, say)
    const next = lastFitting(lit.pos, lineStartOf(text, lit.pos) + WIDTH - 4);
    if (next !== undefined && next < lit.end - 1 && !text.slice(lit.pos, lit.end).includes('\n')) chosen.push(next);
  }
  if (!chosen.length) return { why: 'no space to cut the literal at' };
  const edits = [{ pos: lit.pos, end: lit.pos, text: '(' }];
  for (const c of chosen) edits.push({ pos: c, end: c, text: `${quote} +\n${quote}` });
  edits.push({ pos: lit.end, end: lit.end, text: ')' });
  return { edits };
}

/**
 * A regular expression literal on a line over WIDTH becomes `new RegExp(String.raw`part one ` + String.raw`…`,
 * flags)`: the same source and flags, cut at spaces. Not when its source holds a backtick or `${`.
 */
function splitRegex(text, lit) {
  const raw = text.slice(lit.pos, lit.end);
  const slash = raw.lastIndexOf('/');
  const source = raw.slice(1, slash);
  const flags = raw.slice(slash + 1);
  if (/`|\$\{/.test(source)) return { why: 'regular expression with a backtick or ${' };
  const indent = indentOf(text.slice(lineStartOf(text, lit.pos), lit.pos)).length;
  const room = Math.max(40, WIDTH - indent - 24);
  const parts = [];
  let from = 0;
  while (source.length - from > room) {
    let cut = -1;
    for (let i = from + 1; i < source.length; i++) {
      if (source[i - 1] !== ' ' || source[i] === ' ') continue;
      let backslashes = 0;
      for (let j = i - 2; j >= from && source[j] === '\\'; j--) backslashes++;
      if (backslashes % 2) continue;
      if (i - from > room && cut > 0) break;
      cut = i;
    }
    if (cut < 0) break;
    parts.push(source.slice(from, cut));
    from = cut;
  }
  parts.push(source.slice(from));
  if (parts.length < 2) return { why: 'no space to cut the regular expression at' };
  const body = parts.map((p) => `String.raw\`${p}\``).join(' +\n');
  return { edits: [{ pos: lit.pos, end: lit.end, text: `(new RegExp(${body}${flags ? `, '${flags}'` : ''}))` }] };
}

function applyEdits(text, edits) {
  const sorted = [...edits].sort((a, b) => b.pos - a.pos);
  let out = text;
  let lastPos = Infinity;
  for (const e of sorted) {
    if (e.end > lastPos) continue; // overlapping edit: left for the next round
    out = out.slice(0, e.pos) + e.text + out.slice(e.end);
    lastPos = e.pos;
  }
  return out;
}

/** One round over a file: fix at most one token per long line. Returns the new text and what could not be fixed. */
function fixFile(file, text) {
  const { sf, comments, literals } = collectTokens(file, text);
  const lineStarts = sf.getLineStarts();
  const lineOf = (pos) => sf.getLineAndCharacterOfPosition(pos).line;
  const insideToken = (pos) =>
    [...comments, ...literals].some((t) => t.pos < pos && pos < t.end && !(t.kind === 'literal' && !spansLines(t)));
  const spansLines = (t) => lineOf(t.pos) !== lineOf(t.end);
  const isCodeBefore = (lineStart) => !insideToken(lineStart);
  const edits = [];
  const failures = [];
  const done = new Set();
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (width(line) <= WIDTH) continue;
    const from = lineStarts[i];
    const to = from + line.length;
    const on = (t) => t.pos < to && t.end > from;
    // candidates: literals on this line (longest first), then comments
    const cands = [
      ...literals.filter(on).sort((a, b) => b.end - b.pos - (a.end - a.pos)),
      ...comments.filter(on),
    ].filter((t) => t.end - t.pos > 20 || t.kind === 'comment');
    // a line whose code alone fits is fixed by moving or re-wrapping its comment, not by cutting its strings
    const trailing = comments.find((c) => on(c) && c.pos > from && width(text.slice(from, c.pos).trimEnd()) <= WIDTH);
    if (trailing) cands.unshift(trailing);
    const reasons = [];
    let fixed = false;
    for (const t of cands) {
      if (done.has(t)) {
        fixed = true;
        break;
      }
      const fix = { comment: rewrapComment, literal: splitLiteral, regex: splitRegex }[t.kind];
      const r = fix(text, t, t.kind === 'comment' ? isCodeBefore : sf);
      if (r.edits) {
        edits.push(...r.edits);
        done.add(t);
        fixed = true;
        break;
      }
      reasons.push(`${t.kind}: ${r.why}`);
    }
    if (!fixed) failures.push({ file, line: i + 1, why: reasons.join('; ') || 'code Prettier could not break' });
  }
  return { text: edits.length ? applyEdits(text, edits) : text, failures };
}

// ---------------------------------------------------------------------------------------------------------------

async function prettierWrite(files) {
  if (!files.length) return;
  const prettier = await import('prettier');
  for (const f of files) {
    const abs = path.join(root, f);
    const options = (await prettier.resolveConfig(abs)) ?? {};
    const src = readFileSync(abs, 'utf8');
    const out = await prettier.format(src, { ...options, filepath: abs });
    if (out !== src) writeFileSync(abs, out);
  }
}

const files = await sourceFiles();
if (check) {
  let n = 0;
  for (const f of files) {
    for (const l of longLines(readFileSync(path.join(root, f), 'utf8'))) {
      console.log(`${f}:${l.line}: ${width(l.text)} characters (over ${WIDTH})`);
      n++;
    }
  }
  const fix = 'npm run format && npm run format:long, then fix by hand what it lists';
  console.log(n ? `${n} line(s) over ${WIDTH} characters: ${fix}` : `no line over ${WIDTH} characters`);
  process.exit(n ? 1 : 0);
}

let failures = [];
let pending = files.filter((f) => longLines(readFileSync(path.join(root, f), 'utf8')).length);
const touched = new Set();
for (let round = 1; pending.length && round <= 8; round++) {
  const changed = [];
  failures = [];
  for (const f of pending) {
    const abs = path.join(root, f);
    const src = readFileSync(abs, 'utf8');
    const r = fixFile(f, src);
    failures.push(...r.failures);
    if (r.text === src) continue;
    // never write a file that no longer parses
    const { sf } = collectTokens(f, r.text);
    if (sf.parseDiagnostics?.length) {
      failures.push({ file: f, line: 0, why: 'internal: rewrite did not parse, file left unchanged' });
      continue;
    }
    writeFileSync(abs, r.text);
    changed.push(f);
    touched.add(f);
  }
  await prettierWrite(changed);
  console.log(`round ${round}: rewrote ${changed.length} file(s)`);
  pending = changed.filter((f) => longLines(readFileSync(path.join(root, f), 'utf8')).length);
  if (!changed.length) break;
}
// the final word on what remains: every line still over WIDTH, with the reason it was left when there is one
failures = [];
for (const f of files) {
  const src = readFileSync(path.join(root, f), 'utf8');
  const long = longLines(src);
  if (!long.length) continue;
  const why = new Map(fixFile(f, src).failures.map((x) => [x.line, x.why]));
  for (const l of long)
    failures.push({ file: f, line: l.line, why: why.get(l.line) ?? 'still long after the last round' });
}
console.log(`${touched.size} file(s) rewritten`);
for (const x of failures) console.log(`${x.file}:${x.line}: not fixed (${x.why})`);
console.log(failures.length ? `${failures.length} line(s) over ${WIDTH} left to fix by hand` : `no line over ${WIDTH}`);
process.exit(failures.length ? 1 : 0);
