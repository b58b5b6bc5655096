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

function num(value) {
  return h('td', { class: 'num' }, value ?? '');
}

function unifiedRows(hunk, language) {
  return hunk.rows.map((row) => {
    if (row.type === 'note') return h('tr', { class: 'note' }, h('td', { colspan: 4 }, row.text));
    const sign = row.type === 'add' ? '+' : row.type === 'del' ? '−' : ' ';
    return h('tr', { class: row.type },
      num(row.old), num(row.new),
      h('td', { class: 'sign', 'aria-hidden': 'true' }, sign),
      h('td', { class: 'text' }, h('span', { class: 'sr-only' }, row.type === 'add' ? 'added: ' : row.type === 'del' ? 'removed: ' : ''), inline(row.text, language)));
  });
}

function splitRows(hunk, language) {
  const rows = [];
  const rowsIn = hunk.rows.filter((r) => r.type !== 'note');
  let i = 0;
  const cell = (row, side) => row
    ? [num(side === 'old' ? row.old : row.new), h('td', { class: `text ${row.type}` }, inline(row.text, language))]
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
