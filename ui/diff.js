// Unified diffs (as the REST API's `diff?path=` returns them) drawn as a
// table, unified or side by side, the way code-hosting sites show them.

import { h } from './dom.js';
import { inline } from './highlight.js';

/** Parses unified diff text into hunks of {type, old, new, text} rows. */
export function parse(text) {
  const hunks = [];
  let hunk = null;
  let o = 0;
  let n = 0;
  for (const raw of text.split('\n')) {
    if (raw.startsWith('--- ') || raw.startsWith('+++ ')) {
      if (!hunk) continue;
    }
    const header = raw.match(/^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$/);
    if (header) {
      o = Number(header[1]);
      n = Number(header[2]);
      hunk = { header: raw, rows: [] };
      hunks.push(hunk);
      continue;
    }
    if (!hunk) continue;
    if (raw.startsWith('+')) hunk.rows.push({ type: 'add', new: n++, text: raw.slice(1) });
    else if (raw.startsWith('-')) hunk.rows.push({ type: 'del', old: o++, text: raw.slice(1) });
    else if (raw.startsWith(' ')) hunk.rows.push({ type: 'ctx', old: o++, new: n++, text: raw.slice(1) });
    else if (raw.startsWith('\\')) hunk.rows.push({ type: 'note', text: raw });
  }
  return hunks;
}

/** Words, spaces and single punctuation marks: what a changed line is compared in. */
function tokens(text) {
  return text.match(/\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu) || [];
}

/**
 * Word-level changes between a removed and an added line: the common
 * leading and trailing tokens are trimmed, and what is left on each side is
 * the changed part (a one-word edit in a 2,000-character attribute is one
 * word). Returns [before, changed, after] for each side, or null when the
 * lines share nothing.
 */
export function wordChange(oldText, newText) {
  const a = tokens(oldText);
  const b = tokens(newText);
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start += 1;
  let end = 0;
  while (end < a.length - start && end < b.length - start && a[a.length - 1 - end] === b[b.length - 1 - end]) end += 1;
  if (start === 0 && end === 0) return null;
  const cut = (t) => [t.slice(0, start).join(''), t.slice(start, t.length - end).join(''), t.slice(t.length - end).join('')];
  return { old: cut(a), new: cut(b) };
}

/** A line's cell content: highlighted, with its changed words marked. */
function lineContent(text, language, parts, type) {
  if (!parts) return inline(text, language);
  const [before, changed, after] = parts;
  return [inline(before, language),
    changed ? h('mark', { class: `word ${type}` }, inline(changed, language)) : null,
    inline(after, language)];
}

/** Pairs each run of removed lines with the added lines after it, k-th with k-th. */
function pairWords(rows) {
  const words = new Map();
  for (let i = 0; i < rows.length;) {
    if (rows[i].type !== 'del') { i += 1; continue; }
    const dels = [];
    const adds = [];
    while (i < rows.length && rows[i].type === 'del') dels.push(rows[i++]);
    while (i < rows.length && rows[i].type === 'add') adds.push(rows[i++]);
    for (let k = 0; k < Math.min(dels.length, adds.length); k += 1) {
      const change = wordChange(dels[k].text, adds[k].text);
      if (change) {
        words.set(dels[k], change.old);
        words.set(adds[k], change.new);
      }
    }
  }
  return words;
}

function num(value) {
  return h('td', { class: 'num' }, value ?? '');
}

function unifiedRows(hunk, language) {
  const words = pairWords(hunk.rows);
  return hunk.rows.map((row) => {
    if (row.type === 'note') return h('tr', { class: 'note' }, h('td', { colspan: 4 }, row.text));
    const sign = row.type === 'add' ? '+' : row.type === 'del' ? '−' : ' ';
    return h('tr', { class: row.type },
      num(row.old), num(row.new),
      h('td', { class: 'sign', 'aria-hidden': 'true' }, sign),
      h('td', { class: 'text' }, h('span', { class: 'sr-only' }, row.type === 'add' ? 'added: ' : row.type === 'del' ? 'removed: ' : ''), lineContent(row.text, language, words.get(row), row.type)));
  });
}

function splitRows(hunk, language) {
  const rows = [];
  const rowsIn = hunk.rows.filter((r) => r.type !== 'note');
  const words = pairWords(rowsIn);
  let i = 0;
  const cell = (row, side) => row
    ? [num(side === 'old' ? row.old : row.new), h('td', { class: `text ${row.type}` }, lineContent(row.text, language, words.get(row), row.type))]
    : [h('td', { class: 'num empty' }), h('td', { class: 'text empty' })];
  while (i < rowsIn.length) {
    const row = rowsIn[i];
    if (row.type === 'ctx') {
      rows.push(h('tr', { class: 'ctx' }, cell(row, 'old'), cell(row, 'new')));
      i++;
      continue;
    }
    const dels = [];
    const adds = [];
    while (i < rowsIn.length && rowsIn[i].type === 'del') dels.push(rowsIn[i++]);
    while (i < rowsIn.length && rowsIn[i].type === 'add') adds.push(rowsIn[i++]);
    for (let k = 0; k < Math.max(dels.length, adds.length); k++) {
      const cls = dels[k] && adds[k] ? 'change del add' : dels[k] ? 'del' : 'add';
      rows.push(h('tr', { class: cls }, cell(dels[k], 'old'), cell(adds[k], 'new')));
    }
  }
  return rows;
}

/** The table of a unified diff; `layout` is `unified` or `split`. */
export function diffTable(text, language, layout = 'unified', label = 'Diff') {
  const hunks = parse(text);
  if (!hunks.length) return h('p', { class: 'muted diff-empty' }, 'No differences.');
  const cols = layout === 'split'
    ? [h('col', { class: 'num' }), h('col', {}), h('col', { class: 'num' }), h('col', {})]
    : [h('col', { class: 'num' }), h('col', { class: 'num' }), h('col', { class: 'sign' }), h('col', {})];
  return h('table', { class: `diff ${layout}`, 'aria-label': label },
    h('colgroup', {}, cols),
    hunks.map((hunk) => h('tbody', {},
      h('tr', { class: 'hunk' }, h('td', { colspan: 4 }, hunk.header)),
      layout === 'split' ? splitRows(hunk, language) : unifiedRows(hunk, language))));
}
