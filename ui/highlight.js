// Syntax highlighting for what a collection holds: XML/HTML (OLX units,
// pages), JSON (policies) and plain text. A small tokenizer rather than a
// vendored highlighter: OLX needs only markup and JSON, and this keeps the
// UI's payload small. Output is text nodes inside spans, never parsed markup,
// one `.line` per source line (numbered by CSS).

import { h } from './dom.js';

/** Above this many characters, lines are shown without token colours. */
const HIGHLIGHT_LIMIT = 400_000;

const MARKUP = /(<!--[\s\S]*?(?:-->|$))|(<!\[CDATA\[[\s\S]*?(?:\]\]>|$))|(<[!?][^>]*>?)|(<\/?)([A-Za-z_][\w:.-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>]+))?)*\s*)(\/?>)?|(&[#\w]+;)/g;
const ATTR = /([^\s=>/]+)(?:(\s*=\s*)("[^"]*"|'[^']*'|[^\s>]+))?/g;
const JSON_TOKENS = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;

function markupTokens(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(MARKUP)) {
    if (m.index > last) out.push(['', text.slice(last, m.index)]);
    if (m[1]) out.push(['comment', m[1]]);
    else if (m[2]) out.push(['cdata', m[2]]);
    else if (m[3]) out.push(['meta', m[3]]);
    else if (m[5]) {
      out.push(['punct', m[4]]);
      out.push(['tag', m[5]]);
      if (m[6]) {
        let a = 0;
        for (const am of m[6].matchAll(ATTR)) {
          if (am.index > a) out.push(['', m[6].slice(a, am.index)]);
          out.push(['attr', am[1]]);
          if (am[2]) out.push(['punct', am[2]]);
          if (am[3]) out.push(['string', am[3]]);
          a = am.index + am[0].length;
        }
        if (a < m[6].length) out.push(['', m[6].slice(a)]);
      }
      if (m[7]) out.push(['punct', m[7]]);
    } else if (m[8]) out.push(['entity', m[8]]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(['', text.slice(last)]);
  return out;
}

function jsonTokens(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(JSON_TOKENS)) {
    if (m.index > last) out.push(['', text.slice(last, m.index)]);
    if (m[1]) {
      out.push([m[2] ? 'attr' : 'string', m[1]]);
      if (m[2]) out.push(['punct', m[2]]);
    } else if (m[3]) out.push(['keyword', m[3]]);
    else out.push(['number', m[4]]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(['', text.slice(last)]);
  return out;
}

/** The language of a path, for `highlight`. */
export function languageOf(path, mediaType = '') {
  const ext = path.split('.').pop().toLowerCase();
  if (['xml', 'html', 'htm', 'svg', 'xhtml', 'xsl', 'opf'].includes(ext) || /xml|html/.test(mediaType)) return 'markup';
  if (ext === 'json' || /json/.test(mediaType)) return 'json';
  return 'text';
}

/** Tokens of `text`, as [class, text] pairs. */
export function tokens(text, language) {
  if (text.length > HIGHLIGHT_LIMIT || language === 'text') return [['', text]];
  return language === 'json' ? jsonTokens(text) : markupTokens(text);
}

/** Appends the spans of `tokens` to one `.line` element per source line. */
export function lines(tokenList) {
  const result = [];
  let line = h('span', { class: 'line' });
  for (const [cls, text] of tokenList) {
    const parts = text.split('\n');
    parts.forEach((part, i) => {
      if (i > 0) {
        result.push(line);
        line = h('span', { class: 'line' });
      }
      if (part) line.appendChild(cls ? h('span', { class: `tok-${cls}` }, part) : document.createTextNode(part));
    });
  }
  if (line.childNodes.length || result.length === 0) result.push(line);
  return result;
}

/** A `<pre class="code">` of `text`, highlighted and line-numbered. */
export function codeBlock(text, language, label) {
  return h('pre', { class: 'code', tabindex: 0, 'aria-label': label, dataset: { language } },
    h('code', {}, lines(tokens(text, language))));
}

/** One line highlighted (for diffs, which come a line at a time). */
export function inline(text, language) {
  return tokens(text, language).map(([cls, t]) => (cls ? h('span', { class: `tok-${cls}` }, t) : t));
}
