// `/c/SLUG/f/PATH[?v=draft|N][&diff=A..B][&layout=split|unified]`: one unit
// or asset. Its content (highlighted source, or a preview: image with its
// pixel size, SVG as an image at its own size, video with seeking, audio,
// PDF, HTML only inside a sandboxed frame without same-origin, and a capa
// problem drawn as the LMS would, in such a frame too), its metadata, its
// versions, a diff between any two of its states, and the links it makes and
// receives, each a click away.

import { h, replace, when, bytes, plural, query, compareForm, named, confirmDialog } from '../dom.js';
import { api, collectionPath, encPath, enc, rawText, rawUrl, mediaUrl, token } from '../api.js';
import { codeBlock, languageOf } from '../highlight.js';
import { diffTable } from '../diff.js';
import { fileHref, blockPlace, blockNames } from './collection.js';
import { folderHref } from './files.js';
import { parseProblem, problemHtml } from '../problem.js';

/** Larger text files are offered as a download instead of shown. */
const TEXT_LIMIT = 2 * 1024 * 1024;

/** Where capa problems live (in a course or a library export). */
const PROBLEM_PATH = /(^|\/)problem\/[^/]+\.xml$/;

const stateLabel = (v) => (v === 'draft' ? 'draft' : `version ${v}`);

function isText(path, media) {
  return /^text\/|xml|json|javascript|x-sh|yaml|csv|srt|vtt/.test(media) || /\.(xml|html?|txt|md|json|js|css|srt|vtt|csv|ya?ml|py)$/i.test(path);
}

/**
 * Sets `element.src` once `url` (a promise: `mediaUrl`) resolves; a failure
 * puts its message in the element's place.
 */
function later(element, url) {
  url.then((u) => { element.src = u; }, (error) => {
    element.replaceWith(h('p', { class: 'error' }, `No preview: ${error.message || error}`));
  });
  return element;
}

/**
 * The preview of a file, or null. `text` is its source when it was read;
 * `showPixels(text)` is told an image's pixel size once it is known.
 *
 * Without a token every preview loads the raw URL, whose response carries
 * its own `sandbox` CSP for HTML/SVG. With a token, elements cannot send it,
 * so bytes are fetched with it: images, media and PDFs as blob: URLs. An
 * HTML page is a sandboxed `srcdoc` (its `/static/` references rewritten),
 * and SVG an image of its text, which never runs scripts. Stored HTML/SVG
 * never becomes a blob: URL: one opened in a tab of its own would share the
 * UI's origin.
 */
function previewOf(slug, file, version, text, showPixels) {
  const media = file.media_type;
  const label = `Preview of ${file.path}`;
  if (/html/.test(media)) {
    if (typeof text !== 'string') return null;
    // A sandboxed `srcdoc` (no scripts, no same-origin) whose /static/
    // references load the collection's own assets at the same state, as the
    // LMS rewrites them.
    const frame = h('iframe', { class: 'preview', sandbox: '', title: label, referrerpolicy: 'no-referrer' });
    withAssets(slug, file, version, text).then((html) => { frame.srcdoc = html; },
      () => { frame.srcdoc = text; });
    return frame;
  }
  if (media === 'image/svg+xml') return svgPreview(slug, file, version, label, showPixels);
  if (media.startsWith('image/')) {
    const image = h('img', {
      class: 'preview', alt: label,
      onload: () => showPixels?.(`${image.naturalWidth} × ${image.naturalHeight} px`),
    });
    return later(image, mediaUrl(slug, file.path, version));
  }
  if (media.startsWith('video/')) {
    return later(h('video', { class: 'preview', controls: true, preload: 'metadata', 'aria-label': label }), mediaUrl(slug, file.path, version));
  }
  if (media.startsWith('audio/')) {
    return later(h('audio', { class: 'preview', controls: true, preload: 'metadata', 'aria-label': label }), mediaUrl(slug, file.path, version));
  }
  if (media === 'application/pdf') {
    return later(h('iframe', { class: 'preview pdf', title: label }), mediaUrl(slug, file.path, version));
  }
  return null;
}

/**
 * An id (uuid, hash) on one line: cut with an ellipsis when the column is
 * narrow (the whole id is its title), and a button that copies it whole.
 */
function idValue(id, what) {
  const status = h('span', { class: 'muted small', role: 'status' });
  return h('span', { class: 'id-value' },
    h('code', { class: 'id', title: id }, id),
    h('button', {
      class: 'copy small', type: 'button', 'aria-label': `Copy the ${what}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(id);
          status.textContent = 'copied';
        } catch {
          status.textContent = 'select and copy';
        }
        setTimeout(() => { status.textContent = ''; }, 1500);
      },
    }, 'Copy'), status);
}

/** Assets a preview embeds as `data:` URLs (with a token) at most. */
const EMBED_LIMIT = 4 * 1024 * 1024;

/**
 * The collection's assets that `file` references, at `version`: a map from
 * each reference as written that the link rules resolve to one of them
 * (`/static/NAME`, this course's `/c4x/` and `asset-v1:` spellings) to a URL
 * a sandboxed frame can load: the asset's raw URL at the same state, or,
 * with a token (which a frame cannot send), its bytes as a `data:` URL.
 */
async function assetUrls(slug, file, version) {
  const answer = await api(collectionPath(slug, `/links?path=${encodeURIComponent(file.path)}&version=${enc(version)}`));
  const urls = new Map();
  for (const link of answer.links || []) {
    const r = link.resolution || {};
    if (link.kind !== 'static' || r.status !== 'resolved' || urls.has(link.written)) continue;
    let url = rawUrl(slug, r.path, version);
    if (token()) {
      try {
        url = await dataUrl(url);
      } catch {
        continue;
      }
    }
    urls.set(link.written, url);
  }
  return urls;
}

/**
 * `html` with each quoted reference to one of the collection's assets
 * (`assetUrls`) replaced by its loadable URL, as the LMS rewrites them. What
 * does not resolve is left as written.
 */
async function withAssets(slug, file, version, html) {
  let out = html;
  for (const [written, url] of await assetUrls(slug, file, version)) {
    for (const q of ['"', "'"]) out = out.split(q + written + q).join(q + url + q);
  }
  return out;
}

/** An asset's bytes (fetched with the token) as a `data:` URL. */
async function dataUrl(url) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new Error(`${response.status}`);
  const blob = await response.blob();
  if (blob.size > EMBED_LIMIT) throw new Error('too large to embed');
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/**
 * An SVG as an image of its text (a `data:` URL: an image never runs its
 * scripts, and the SVG is never put inline) at its own size: the width and
 * height its root gives, or its viewBox's, scaled down only when wider than
 * the column.
 */
function svgPreview(slug, file, version, label, showPixels) {
  const image = h('img', { class: 'preview svg', alt: label });
  rawText(slug, file.path, version, TEXT_LIMIT).then((text) => {
    if (text === null) throw new Error('too large to preview');
    const size = svgSize(text);
    if (size) {
      image.width = Math.round(size.width);
      image.height = Math.round(size.height);
    }
    image.addEventListener('load', () => showPixels?.(size
      ? `${round(size.width)} × ${round(size.height)} px${size.fromViewBox ? ' (its viewBox)' : ''}`
      : `${image.naturalWidth} × ${image.naturalHeight} px (no size given)`));
    image.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(text)}`;
  }).catch((error) => {
    image.replaceWith(h('p', { class: 'error' }, `No preview: ${error.message || error}`));
  });
  return image;
}

const round = (n) => Number(n.toFixed(2)).toLocaleString();

/** CSS pixels per unit of an SVG length. */
const UNITS = { '': 1, px: 1, pt: 4 / 3, pc: 16, mm: 96 / 25.4, cm: 96 / 2.54, in: 96 };

/**
 * An SVG's own size in CSS pixels, read from its root's `width`, `height`
 * and `viewBox` (as a browser sizes it: a missing side from the viewBox's
 * ratio), or null when it gives none. Parsed as data: nothing in it runs.
 */
function svgSize(text) {
  const root = new DOMParser().parseFromString(text, 'image/svg+xml').documentElement;
  if (root?.localName !== 'svg') return null;
  const length = (value) => {
    const m = /^\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(px|pt|pc|mm|cm|in)?\s*$/i.exec(value || '');
    const n = m ? Number(m[1]) * UNITS[(m[2] || '').toLowerCase()] : NaN;
    return n > 0 ? n : null;
  };
  const width = length(root.getAttribute('width'));
  const height = length(root.getAttribute('height'));
  const box = (root.getAttribute('viewBox') || '').trim().split(/[\s,]+/).map(Number);
  const ratio = box.length === 4 && box[2] > 0 && box[3] > 0 ? box[2] / box[3] : null;
  if (width && height) return { width, height };
  if (width && ratio) return { width, height: width / ratio };
  if (height && ratio) return { width: height * ratio, height };
  if (ratio) return { width: box[2], height: box[3], fromViewBox: true };
  return null;
}

/**
 * A problem's preview (drawn by `problem.js`, shown in a sandboxed `srcdoc`
 * frame, its `/static/` images loaded as in an HTML preview) and its XML,
 * as two tabs, the preview first.
 */
function problemTabs(slug, file, version, doc, source) {
  const frame = h('iframe', { class: 'preview problem', sandbox: '', title: `Preview of ${file.path}`, referrerpolicy: 'no-referrer' });
  assetUrls(slug, file, version).catch(() => new Map()).then((urls) => {
    const page = problemHtml(doc, { assetUrl: (written) => urls.get(written) ?? null, width: frame.clientWidth || undefined });
    // Fits a short problem; a long one scrolls inside (the CSS caps it), and the frame can be dragged taller.
    frame.style.height = `${Math.min(page.height, Math.round(window.innerHeight * 0.75))}px`;
    frame.srcdoc = page.html;
  });
  const panels = {
    preview: h('div', { class: 'preview-box', role: 'tabpanel', id: 'problem-preview', 'aria-labelledby': 'tab-preview' }, frame),
    xml: h('div', { role: 'tabpanel', id: 'problem-xml', 'aria-labelledby': 'tab-xml', hidden: true }, source),
  };
  const keys = ['preview', 'xml'];
  const show = (key) => {
    for (const [i, k] of keys.entries()) {
      tabs[i].setAttribute('aria-selected', String(k === key));
      tabs[i].tabIndex = k === key ? 0 : -1;
      panels[k].hidden = k !== key;
    }
  };
  const tabs = keys.map((key, i) => h('button', {
    type: 'button', role: 'tab', id: `tab-${key}`, 'aria-controls': panels[key].id,
    'aria-selected': String(i === 0), tabindex: i === 0 ? 0 : -1,
    onclick: () => show(key),
    onkeydown: (event) => {
      if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
      const next = (i + 1) % keys.length;
      show(keys[next]);
      tabs[next].focus();
    },
  }, key === 'preview' ? 'Preview' : 'XML'));
  return [
    h('div', { class: 'tab-row' },
      h('div', { class: 'segmented', role: 'tablist', 'aria-label': 'Show the problem as' }, tabs),
      h('span', { class: 'muted small' }, 'As a learner would see it, answers marked; scripts do not run.')),
    panels.preview, panels.xml,
  ];
}

/**
 * The "Raw" link. With a token a tab cannot send it, so the link downloads
 * the bytes instead (fetched with the token); stored HTML/SVG is never opened
 * as a page of the UI's origin.
 */
function rawLink(slug, file, version) {
  const href = rawUrl(slug, file.path, version);
  if (!token()) return h('a', { href, target: '_blank', rel: 'noopener' }, 'Raw');
  const name = file.path.split('/').pop();
  return h('a', {
    href, download: name, title: 'Download (this server needs a token, which a new tab could not send)',
    onclick: async (event) => {
      event.preventDefault();
      try {
        const url = await mediaUrl(slug, file.path, version);
        const a = h('a', { href: url, download: name, hidden: true });
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      } catch (error) {
        event.target.after(h('span', { class: 'error' }, ` ${error.message || error}`));
      }
    },
  }, 'Raw');
}

/**
 * Rename… : a new path for the file in the draft. The dialog says what links
 * here (a rename may break those references); the answer lists the ones it
 * did break, each a link to the file to fix.
 */
function renameButton(ctx, slug, path, file) {
  const button = h('button', { id: 'rename', type: 'button' }, 'Rename…');
  button.addEventListener('click', async () => {
    const sources = [...new Set(file.incoming.map((l) => l.source_path))];
    const values = await confirmDialog({
      id: 'rename-dialog', title: `Rename ${path.split('/').pop()}`, confirm: 'Rename', confirmId: 'rename-confirm',
      body: [
        h('label', { for: 'rename-to' }, 'New path'),
        h('input', { id: 'rename-to', name: 'to', value: path, required: true, autocomplete: 'off', spellcheck: 'false', size: 60 }),
        sources.length
          ? h('p', { class: 'muted' }, `${plural(sources.length, 'file')} link${sources.length === 1 ? 's' : ''} here; references by path break when it moves: `,
            sources.slice(0, 5).join(', '), sources.length > 5 ? ` and ${sources.length - 5} more` : '', '.')
          : h('p', { class: 'muted' }, 'Nothing links here.'),
      ],
    });
    const to = values?.to?.trim();
    if (!to || to === path) return;
    try {
      const report = await api(collectionPath(slug, '/rename'), { method: 'POST', body: { from: path, to } });
      ctx.navigate(fileHref(slug, to));
      if (report.broken.length) {
        await confirmDialog({
          id: 'rename-broke', title: `The rename broke ${plural(report.broken.length, 'reference')}`, confirm: 'OK', confirmId: 'rename-broke-ok', cancel: false,
          body: [
            h('p', {}, `These named ${path} and now name nothing:`),
            h('ul', { id: 'rename-broken', class: 'plain' }, report.broken.map((l) => h('li', { class: 'link', dataset: { status: 'broken' } },
              h('a', { href: fileHref(slug, l.source_path) }, `${l.source_path}:${l.line}`), ' ', h('code', {}, l.written)))),
            h('p', { class: 'muted' }, 'Fix them, or rename the file back.'),
          ],
        });
      }
    } catch (e) {
      await confirmDialog({ id: 'rename-failed', title: 'Not renamed', confirm: 'OK', confirmId: 'rename-failed-ok', cancel: false, body: h('p', { class: 'error' }, e.message) });
    }
  });
  return button;
}

/**
 * One draft revision (`?rev=ID`): what that save held, compared with the
 * draft now or another save of the file, and a button to restore it (a new
 * save, so the draft it replaces stays in the list).
 */
async function revisionSection(ctx, slug, path, revisions, revisionId) {
  const revision = revisions.find((r) => String(r.id) === revisionId);
  if (!revision) throw new Error(`This file has no draft revision ${revisionId} (gc drops old ones).`);
  const against = ctx.search.get('against') || 'draft';
  const others = revisions.filter((r) => r.id !== revision.id);
  const [diff, text] = await Promise.all([
    api(collectionPath(slug, `/revisions/${revision.id}/diff${query({ against })}`)),
    revision.hash && isText(path, '') ? fetchRevisionText(slug, revision.id) : Promise.resolve(null),
  ]);
  const pick = h('select', { id: 'revision-against', 'aria-label': 'Compare with' },
    h('option', { value: 'draft', selected: against === 'draft' }, 'the draft now'),
    others.map((r) => h('option', { value: String(r.id), selected: against === String(r.id) }, `the save of ${new Date(r.created_at).toLocaleString()}`)));
  pick.addEventListener('change', () => ctx.navigate(fileHref(slug, path, { rev: revision.id, against: pick.value === 'draft' ? null : pick.value }), { replaceState: true }));
  const status = h('span', { class: 'action-status', role: 'status' });
  const restore = h('button', { id: 'revision-restore', class: 'primary' }, 'Restore this revision');
  restore.addEventListener('click', async () => {
    const ok = await confirmDialog({
      id: 'restore-dialog', title: 'Restore this revision', confirm: 'Restore', confirmId: 'restore-confirm',
      body: h('p', {}, `The draft of ${path} gets the bytes saved ${new Date(revision.created_at).toLocaleString()}. The draft it replaces stays in the revisions.`),
    });
    if (!ok) return;
    restore.disabled = true;
    try {
      const answer = await api(collectionPath(slug, `/revisions/${revision.id}/restore`), { method: 'POST', body: {} });
      status.textContent = answer.outcome === 'unchanged' ? 'The draft already holds these bytes.' : 'Restored.';
      ctx.navigate(fileHref(slug, path));
    } catch (e) {
      status.textContent = e.message;
      restore.disabled = false;
    }
  });
  return h('section', { class: 'content revision', id: 'revision', 'aria-label': 'Draft revision' },
    h('div', { class: 'section-head' },
      h('h2', {}, `Draft revision · saved `, when(revision.created_at), ` (${revision.source})`),
      h('a', { href: fileHref(slug, path) }, 'Back to the draft')),
    h('div', { class: 'toolbar' }, h('label', {}, 'Changes from this save to ', pick), revision.hash ? restore : null, status),
    diff.diff.trim() ? diffTable(diff.diff, languageOf(path), 'unified', `Changes from revision ${revision.id}`) : h('p', { class: 'muted', id: 'revision-same' }, 'No difference.'),
    text !== null ? [h('h3', {}, 'What this save held'), codeBlock(text, languageOf(path), `Revision ${revision.id} of ${path}`)] : null);
}

async function fetchRevisionText(slug, id) {
  const response = await fetch(`/api/v1${collectionPath(slug, `/revisions/${id}/raw`)}`, { headers: token() ? { Authorization: `Bearer ${token()}` } : {} });
  return response.ok ? response.text() : null;
}

/**
 * An html block is two files, its pointer (`html/x.xml`) and its body
 * (`html/x.html`): either one's page shows both, the body first, as Studio
 * shows the block. Any other file shows its own content.
 */
async function blockContent(slug, file, version, showPixels) {
  const bodyLink = file.links.find((l) => l.kind === 'body' && l.resolution?.status === 'resolved');
  const pointerLink = file.incoming.find((l) => l.kind === 'body');
  const partnerPath = bodyLink?.resolution.path || pointerLink?.source_path;
  if (!partnerPath) return contentSection(slug, file, version, showPixels);
  const partner = await api(collectionPath(slug, `/files/${encPath(partnerPath)}${query({ version })}`)).catch(() => null);
  if (!partner) return contentSection(slug, file, version, showPixels);
  const [body, pointer] = bodyLink ? [partner, file] : [file, partner];
  const [bodySection, pointerSection] = await Promise.all([contentSection(slug, body, version), contentSection(slug, pointer, version)]);
  const retitle = (section, what, f) => {
    section.dataset.part = what;
    const heading = section.querySelector('h2');
    heading.textContent = `${what === 'body' ? 'Body' : 'Pointer'} (${stateLabel(version)}) `;
    heading.append(f.path === file.path
      ? h('code', { class: 'small' }, f.path)
      : h('a', { href: fileHref(slug, f.path, { v: version === 'draft' ? null : version }) }, h('code', { class: 'small' }, f.path)));
  };
  retitle(bodySection, 'body', body);
  retitle(pointerSection, 'pointer', pointer);
  return h('div', { class: 'html-block', id: 'html-block' }, bodySection, pointerSection);
}

async function contentSection(slug, file, version, showPixels) {
  const language = languageOf(file.path, file.media_type);
  const parts = [];
  let text;
  if (isText(file.path, file.media_type)) {
    text = await rawText(slug, file.path, version, TEXT_LIMIT);
    parts.push(text === null
      ? h('p', { class: 'muted' }, `This file is ${bytes(file.size)}: too large to show here. `, rawLink(slug, file, version))
      : codeBlock(text, language, `Source of ${file.path}`));
  }
  // A capa problem: drawn, with its XML a tab away; one that does not parse
  // shows its XML and why.
  const problem = typeof text === 'string' && PROBLEM_PATH.test(file.path) ? parseProblem(text) : null;
  if (problem?.doc) parts.splice(0, parts.length, ...problemTabs(slug, file, version, problem.doc, parts[0]));
  if (problem?.error) parts.unshift(h('p', { class: 'error', id: 'problem-error' }, `No preview: this problem’s XML does not parse. ${problem.error}`));
  const preview = problem ? null : previewOf(slug, file, version, text, showPixels);
  if (preview && /html/.test(file.media_type)) {
    // An HTML page: source first, rendered preview (sandboxed) on request.
    const box = h('div', { class: 'preview-box', hidden: true }, preview);
    const toggle = h('button', { 'aria-expanded': 'false', onclick: () => {
      box.hidden = !box.hidden;
      toggle.setAttribute('aria-expanded', String(!box.hidden));
      toggle.textContent = box.hidden ? 'Show rendered preview' : 'Hide rendered preview';
    } }, 'Show rendered preview');
    parts.push(h('p', {}, toggle, ' ', h('span', { class: 'muted small' }, 'Rendered in a sandbox: scripts do not run.')), box);
  } else if (preview) {
    parts.unshift(h('div', { class: 'preview-box' }, preview));
  }
  if (!parts.length) parts.push(h('p', { class: 'muted' }, `${file.media_type}, ${bytes(file.size)}: no preview. `, rawLink(slug, file, version)));
  return h('section', { class: 'content', 'aria-label': 'Content' },
    h('div', { class: 'section-head' }, h('h2', {}, stateLabel(version) === 'draft' ? 'Content (draft)' : `Content (${stateLabel(version)})`), rawLink(slug, file, version)),
    parts);
}

function linkItem(slug, link, direction, names) {
  const r = link.resolution || {};
  const status = r.status || 'broken';
  const other = direction === 'out' ? r.path : link.source_path;
  const target = direction === 'out'
    ? (status === 'resolved' && other
      ? h('a', { href: fileHref(slug, other) }, named(names.get(other)?.name, other))
      : status === 'collection'
        ? h('a', { href: r.path ? fileHref(r.collection, r.path) : `/c/${encodeURIComponent(r.collection)}` }, r.path ? `${r.collection}: ${r.path}` : r.collection)
        : status === 'external'
          ? h('a', { href: link.written, rel: 'noopener noreferrer', target: '_blank' }, link.written)
        : status === 'ambiguous'
          ? ['one of ', (r.paths || []).map((p, i) => [i ? ', ' : '', h('a', { href: fileHref(slug, p) }, p)])]
          : h('code', {}, link.written))
    : h('a', { href: fileHref(slug, link.source_path) }, named(names.get(link.source_path)?.name, link.source_path));
  return h('li', { class: `link ${status}`, dataset: { status } },
    h('span', { class: `badge link-${link.kind}` }, link.kind), ' ', target,
    direction === 'out' && status !== 'resolved' && status !== 'collection'
      ? [' ', h('span', { class: `flag ${status === 'broken' ? 'bad' : status === 'ambiguous' ? 'warn' : ''}`, title: status === 'platform' ? 'edx-platform’s own static file' : status === 'broken' && r.missing?.length ? `not found: ${r.missing.join(', ')}` : null }, status)]
      : null,
    link.loaded === false ? [' ', h('span', { class: 'flag', title: 'edx-platform never loads this file' }, 'not loaded')] : null,
    direction === 'out' ? h('span', { class: 'muted small' }, ` line ${link.line}`) : h('span', { class: 'muted small' }, ` line ${link.line}: `, h('code', {}, link.written)));
}

export async function render(ctx) {
  const { slug, path } = ctx.params;
  const version = ctx.search.get('v') || 'draft';
  const diffParam = ctx.search.get('diff');
  const layout = ctx.search.get('layout') === 'split' ? 'split' : 'unified';
  const [summary, file, history] = await Promise.all([
    api(collectionPath(slug)),
    api(collectionPath(slug, `/files/${encPath(path)}${query({ version })}`)),
    api(collectionPath(slug, `/history/${encPath(path)}`)).catch(() => null),
  ]);
  const base = `/c/${enc(slug)}`;
  // The course's own name for it, and its place in the outline.
  const [place, names] = await Promise.all([
    blockPlace(slug, summary.units, path).catch(() => null),
    blockNames(slug, summary.units).catch(() => new Map()),
  ]);
  const fileName = path.split('/').pop();
  const name = place?.name || fileName;
  document.title = `${name} · ${summary.title || slug} · Blockstore`;
  ctx.crumbs([{ label: 'Collections', href: '/' }, { label: summary.title || slug, href: base },
    ...path.split('/').map((part, i, all) => ({ label: part, href: i < all.length - 1 ? folderHref(slug, all.slice(0, i + 1).join('/') + '/') : null }))]);

  // The states this path has: its published versions' collection versions, and the draft.
  const versions = history?.versions || [];
  const states = [];
  const hasDraft = versions.some((v) => v.number === null);
  if (hasDraft || !versions.length) states.push('draft');
  for (const v of versions) if (v.published_in) states.push(String(v.published_in));
  if (!states.includes('draft')) states.unshift('draft');

  // Diff: `?diff=A..B`; the selects default to the last two states.
  let diffFrom = states[1] || 'draft';
  let diffTo = states[0] || 'draft';
  let diffSection = null;
  if (diffParam) {
    const m = diffParam.match(/^(draft|latest|\d+)\.\.(draft|latest|\d+)$/);
    if (!m) throw new Error(`diff=${diffParam}: use A..B with version numbers or draft, e.g. 1..draft`);
    [, diffFrom, diffTo] = m;
    const answer = await api(collectionPath(slug, `/diff${query({ from: diffFrom, to: diffTo, path })}`));
    const layoutLink = (l) => h('a', { href: `${fileHref(slug, path, { v: version === 'draft' ? null : version, diff: diffParam, layout: l === 'unified' ? null : l })}`, dataset: { layout: l }, 'aria-current': l === layout ? 'true' : null }, l === 'split' ? 'Side by side' : 'Unified');
    diffSection = h('section', { class: 'diff-section', 'aria-label': 'Diff' },
      h('div', { class: 'section-head' },
        h('h2', {}, `Changes from ${stateLabel(diffFrom)} to ${stateLabel(diffTo)}`),
        h('div', { class: 'segmented' }, layoutLink('unified'), layoutLink('split')),
        h('a', { href: fileHref(slug, path, { v: version === 'draft' ? null : version }) }, 'Close diff')),
      diffTable(answer.diff, languageOf(path, file.media_type), layout, `Changes to ${path}`));
  }
  // Only a path with two states or more has anything to compare. The
  // selects show what the URL asks for, even a state this path has no change
  // in; swap and "vs previous" are one click.
  const order = (a, b) => (a === 'draft' ? -1 : b === 'draft' ? 1 : Number(b) - Number(a));
  const choices = [...new Set([...states, diffFrom, diffTo].filter((s) => s !== 'latest'))].sort(order);
  const diffHref = (from, to) => fileHref(slug, path, { v: version === 'draft' ? null : version, diff: `${from}..${to}`, layout: layout === 'split' ? 'split' : null });
  const diffForm = h('div', { class: 'compare-box' },
    compareForm({
      states: choices, from: diffFrom, to: diffTo, ids: ['diff-from', 'diff-to'], button: 'Show diff', buttonId: 'show-diff',
      go: (from, to) => ctx.navigate(diffHref(from, to)),
    }),
    diffParam ? h('a', { id: 'diff-swap', class: 'small', href: diffHref(diffTo, diffFrom) }, 'Swap') : null,
    // The newer side against the state this file had before it.
    (() => {
      const newer = order(diffFrom, diffTo) <= 0 ? diffFrom : diffTo;
      const before = states[states.indexOf(newer) + 1];
      return before && states.includes(newer) && `${before}..${newer}` !== diffParam
        ? [' ', h('a', { id: 'diff-previous', class: 'small', href: diffHref(before, newer) }, `${stateLabel(newer)} vs previous`)]
        : null;
    })());

  const versionList = h('ol', { class: 'versions', 'aria-label': 'Versions' },
    versions.map((v, i) => {
      const state = v.number === null ? 'draft' : String(v.published_in ?? v.number);
      const previous = versions[i + 1];
      const prevState = previous ? (previous.number === null ? 'draft' : String(previous.published_in ?? previous.number)) : null;
      return h('li', { dataset: { version: state }, 'aria-current': state === version ? 'true' : null },
        h('a', { href: fileHref(slug, path, { v: state === 'draft' ? null : state }) },
          v.number === null ? 'Draft' : `Version ${state}`),
        prevState ? h('span', { class: 'muted small' }, ` changed since ${stateLabel(prevState)}`) : null,
        ' ', v.hash ? h('span', { class: 'muted small' }, bytes(v.size)) : h('span', { class: 'flag bad' }, 'deleted'),
        v.path !== path ? h('span', { class: 'muted small' }, ` as ${v.path}`) : null,
        ' ', when(v.created_at),
        prevState && v.hash ? [' ', h('a', { class: 'small diff-link', href: fileHref(slug, path, { diff: `${prevState}..${state}` }) }, 'diff')] : null,
        v.problems?.length ? h('span', { class: 'flag bad', title: v.problems.map((p) => `${p.line}:${p.column} ${p.message}`).join('\n') }, 'malformed') : null);
    }));
  const revisions = history?.revisions || [];

  // An image's pixel size, next to its size once it has loaded.
  const pixels = h('span', { class: 'pixels', hidden: true });
  const showPixels = (value) => {
    pixels.dataset.pixels = value;
    pixels.textContent = ` · ${value}`;
    pixels.hidden = false;
  };
  const meta = h('dl', { class: 'meta' },
    h('dt', {}, 'uuid'), h('dd', { 'data-uuid': '' }, idValue(file.uuid, 'uuid')),
    h('dt', {}, 'kind'), h('dd', {}, file.kind),
    h('dt', {}, 'hash'), h('dd', { 'data-hash': '' }, idValue(file.hash, 'hash')),
    h('dt', {}, 'size'), h('dd', { 'data-size': '' }, `${bytes(file.size)} (${file.size.toLocaleString()} bytes)`, pixels),
    h('dt', {}, 'type'), h('dd', {}, file.media_type),
    h('dt', {}, 'changed in'), h('dd', {}, file.version === null
      ? 'the draft (unpublished)'
      : `version ${versions.find((v) => v.number === file.version)?.published_in ?? '?'}`),
    h('dt', {}, 'created'), h('dd', {}, when(file.created_at)),
    h('dt', {}, 'versions'), h('dd', {}, String(versions.filter((v) => v.number !== null).length)));

  const revisionId = ctx.search.get('rev');
  const content = revisionId !== null
    ? await revisionSection(ctx, slug, path, revisions, revisionId)
    : diffSection ? null : await blockContent(slug, file, version, showPixels);
  const broken = file.links.filter((l) => l.resolution?.status === 'broken').length;
  replace(ctx.main,
    h('header', { class: 'page-head' },
      h('div', { class: 'title-row' },
        h('h1', { tabindex: -1 }, h('span', { class: `badge ${file.kind}` }, place?.type || file.kind), ' ', name),
        h('div', { class: 'actions' },
          version === 'draft' ? renameButton(ctx, slug, path, file) : null,
          h('a', { id: 'graph-link', class: 'button', href: `${base}/graph/${encPath(path)}` }, 'Links picture'))),
      place?.ancestors.length
        ? h('nav', { id: 'outline-crumbs', class: 'outline-crumbs', 'aria-label': 'Place in the outline' },
          place.ancestors.map((a, i) => [i ? h('span', { class: 'sep', 'aria-hidden': 'true' }, ' › ') : null,
            a.path ? h('a', { href: fileHref(slug, a.path) }, a.display_name || a.url_name || a.block_type) : h('span', {}, a.display_name || a.block_type)]))
        : null,
      h('p', { class: 'facts' }, h('code', {}, path), ' · ', stateLabel(version),
        version !== 'draft' ? [' · ', h('a', { href: fileHref(slug, path) }, 'see the draft')] : null)),
    h('div', { class: `columns-2${diffSection && layout === 'split' ? ' wide' : ''}` },
      h('div', { class: 'primary-col' }, diffSection, content, isText(path, file.media_type) && states.length > 1 ? diffForm : null),
      h('aside', { class: 'side-col', 'aria-label': 'Details' },
        h('section', {}, h('h2', {}, 'Metadata'), meta),
        h('section', {}, h('h2', {}, 'Versions'), versions.length ? versionList : h('p', { class: 'muted' }, 'No history.'),
          revisions.length ? h('details', { id: 'revisions', open: revisionId !== null }, h('summary', {}, plural(revisions.length, 'draft revision')),
            h('ol', { class: 'plain small revisions' }, revisions.map((r, i) => h('li', { dataset: { revision: r.id }, 'aria-current': String(r.id) === revisionId ? 'true' : null },
              h('a', { href: fileHref(slug, path, { rev: r.id }) }, when(r.created_at)),
              ` ${r.source}, ${r.hash ? bytes(r.size) : 'deleted'}`,
              i === 0 ? h('span', { class: 'muted' }, ' (latest save)') : null)))) : null),
        h('section', {}, h('h2', {}, `Links out (${file.links.length})`, broken ? h('span', { class: 'flag bad' }, `${broken} broken`) : null),
          file.links.length ? h('ul', { id: 'links-out', class: 'plain links' }, file.links.map((l) => linkItem(slug, l, 'out', names))) : h('p', { class: 'muted', id: 'links-out' }, 'None.')),
        h('section', {}, h('h2', {}, `Links in (${file.incoming.length})`),
          file.incoming.length ? h('ul', { id: 'links-in', class: 'plain links' }, file.incoming.map((l) => linkItem(slug, l, 'in', names))) : h('p', { class: 'muted', id: 'links-in' }, 'Nothing links here.')))));
  return {
    onEvent: (type, data) => type === 'store.changed'
      || (data?.collection === summary.slug && (type !== 'draft.changed' || (data.paths || []).length === 0 || data.paths.some((p) => p === path || file.links.some((l) => l.resolution?.path === p) || file.incoming.some((l) => l.source_path === p))))
      || (data?.collection === summary.slug && type === 'draft.changed' && (data.paths || []).length > 50),
  };
}
