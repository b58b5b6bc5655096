// `/c/SLUG/v/N`: what changed in one collection version; `/c/SLUG/diff?from=A&to=B`:
// what differs between two collection states (versions or the draft). Each
// changed file opens its own diff in place.

import { h, replace, when, plural, query, compareForm, named, debounce } from '../dom.js';
import { api, collectionPath, enc } from '../api.js';
import { diffTable } from '../diff.js';
import { languageOf } from '../highlight.js';
import { fileHref } from './collection.js';

const label = (s) => (s === 'draft' ? 'the draft' : s === 'latest' ? 'the latest version' : `version ${s}`);

/** Up to this many changed files, every diff is shown open. */
const OPEN_LIMIT = 12;
/** Above this many, the files are grouped by folder, the groups closed. */
const GROUP_LIMIT = 40;

const isTextKind = (e) => e.kind === 'unit' || e.lines != null;

/** `+x −y` of a change or of many. */
function lineCounts(lines) {
  if (!lines) return null;
  return h('span', { class: 'line-counts' },
    h('span', { class: 'added' }, `+${lines.added.toLocaleString()}`), ' ',
    h('span', { class: 'removed' }, `−${lines.removed.toLocaleString()}`));
}

function sumLines(entries) {
  const total = { added: 0, removed: 0 };
  let any = false;
  for (const e of entries) {
    if (!e.lines) continue;
    any = true;
    total.added += e.lines.added;
    total.removed += e.lines.removed;
  }
  return any ? total : null;
}

/**
 * One changed file: its status, its name and path, its line counts, and its
 * diff (an added or deleted text file's diff is its whole content), loaded
 * when opened; `open` opens it at once.
 */
function changeItem(slug, e, from, to, open) {
  const state = e.status === 'deleted' ? from : to;
  const canDiff = isTextKind(e) && from !== null && (e.status !== 'renamed' || e.content_changed);
  const details = canDiff ? h('details', { class: 'inline-diff' }, h('summary', {}, e.status === 'added' ? 'content' : e.status === 'deleted' ? 'removed content' : 'diff')) : null;
  if (details) {
    details.addEventListener('toggle', async () => {
      if (!details.open || details.dataset.loaded) return;
      details.dataset.loaded = 'true';
      try {
        const answer = await api(collectionPath(slug, `/diff${query({ from, to, path: e.path })}`));
        details.append(diffTable(answer.diff, languageOf(e.path), 'unified', `Changes to ${e.path}`));
      } catch (err) {
        details.append(h('p', { class: 'error' }, err.message));
      }
    });
    if (open) details.open = true;
  }
  return h('li', { dataset: { status: e.status, path: e.path } },
    h('div', { class: 'change-row' },
      h('span', { class: `status ${e.status}` }, e.status), ' ',
      h('span', { class: `badge ${e.kind}` }, e.kind), ' ',
      h('a', { href: fileHref(slug, e.status === 'deleted' ? e.old_path || e.path : e.path, { v: state === 'draft' ? null : state, diff: canDiff && e.status !== 'added' && e.status !== 'deleted' ? `${from}..${to}` : null }) }, named(e.display_name, e.path)),
      e.old_path && e.old_path !== e.path ? h('span', { class: 'muted' }, ` (was ${e.old_path})`) : null,
      lineCounts(e.lines)),
    details);
}

/**
 * Every change between two states on one page, as a code host shows a pull
 * request: a "N files, +x −y" summary and a filter; a few files are shown
 * with their diffs open, many are grouped by folder (closed, each with its
 * own counts) so 800 changed files paint at once and each diff is read only
 * when opened.
 */
function changeList(ctx, slug, entries, from, to) {
  const order = { added: 0, modified: 1, renamed: 2, deleted: 3 };
  const sorted = [...entries].sort((a, b) => a.path.localeCompare(b.path) || (order[a.status] ?? 9) - (order[b.status] ?? 9));
  const open = sorted.length <= OPEN_LIMIT;
  const folderOf = (p) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/') + 1) : '');
  let list;
  if (sorted.length <= GROUP_LIMIT) {
    list = h('ul', { class: 'changes plain' }, sorted.map((e) => changeItem(slug, e, from, to, open)));
  } else {
    const groups = new Map();
    for (const e of sorted) {
      const folder = folderOf(e.path);
      if (!groups.has(folder)) groups.set(folder, []);
      groups.get(folder).push(e);
    }
    list = h('div', { class: 'changes grouped' }, [...groups].map(([folder, items]) => {
      const group = h('details', { class: 'folder-group', dataset: { folder } },
        h('summary', {}, h('strong', {}, folder || '(top)'), ' ', h('span', { class: 'muted' }, plural(items.length, 'file')), ' ', lineCounts(sumLines(items))));
      // Rows are built when the group first opens.
      group.addEventListener('toggle', () => {
        if (group.open && !group.dataset.built) {
          group.dataset.built = 'true';
          group.append(h('ul', { class: 'changes plain' }, items.map((e) => changeItem(slug, e, from, to, false))));
          applyFilter();
        }
      });
      return group;
    }));
  }
  const filter = h('input', { id: 'changes-filter', type: 'search', placeholder: 'Filter changed files', 'aria-label': 'Filter changed files by path or name', autocomplete: 'off' });
  const shown = h('span', { class: 'muted', role: 'status' });
  function applyFilter() {
    const text = filter.value.trim().toLowerCase();
    let n = 0;
    for (const group of list.querySelectorAll('details.folder-group')) {
      const items = sorted.filter((e) => folderOf(e.path) === group.dataset.folder);
      const hits = items.filter((e) => !text || e.path.toLowerCase().includes(text) || (e.display_name || '').toLowerCase().includes(text)).length;
      group.hidden = hits === 0;
      if (text && hits && !group.open) group.open = true;
    }
    for (const li of list.querySelectorAll('li[data-path]')) {
      const ok = !text || li.textContent.toLowerCase().includes(text);
      li.hidden = !ok;
    }
    n = sorted.filter((e) => !text || e.path.toLowerCase().includes(text) || (e.display_name || '').toLowerCase().includes(text)).length;
    shown.textContent = text ? `${plural(n, 'file')} match` : '';
  }
  filter.addEventListener('input', debounce(applyFilter, 150));
  return h('section', { class: 'change-list', id: 'changes' },
    h('div', { class: 'toolbar' },
      h('p', { id: 'changes-summary', class: 'changes-summary' }, plural(sorted.length, 'file'), ' changed', sumLines(sorted) ? [', ', lineCounts(sumLines(sorted))] : null),
      sorted.length > OPEN_LIMIT ? filter : null, shown),
    list);
}

/** `2 added, 1 modified`: a change set's statuses. */
function summaryLine(entries) {
  const counts = {};
  for (const e of entries) counts[e.status] = (counts[e.status] || 0) + 1;
  return Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ') || 'no changes';
}

export async function render(ctx) {
  const { slug } = ctx.params;
  const summary = await api(collectionPath(slug));
  const base = `/c/${enc(slug)}`;
  const title = summary.title || slug;
  const versions = await api(collectionPath(slug, '/versions?page_size=1000'));
  const states = ['draft', ...versions.results.map((v) => String(v.number))];
  const compare = (from, to) => compareForm({
    states, from, to,
    go: (a, b) => ctx.navigate(`${base}/diff${query({ from: a, to: b })}`),
  });

  if (ctx.params.diff) {
    const latest = versions.results[0]?.number;
    const from = ctx.search.get('from') || (latest ? String(latest) : null);
    const to = ctx.search.get('to') || 'draft';
    document.title = `Changes · ${title} · Blockstore`;
    ctx.crumbs([{ label: 'Collections', href: '/' }, { label: title, href: base }, { label: 'Changes' }]);
    const diff = from
      ? await api(collectionPath(slug, `/diff${query({ from, to, stats: 'true' })}`))
      : { entries: (await api(collectionPath(slug, '/files?page_size=1000'))).results.map((f) => ({ status: 'added', kind: f.kind, path: f.path })) };
    replace(ctx.main,
      h('header', { class: 'page-head' },
        h('h1', { tabindex: -1 }, from ? `Changes from ${label(from)} to ${label(to)}` : 'The draft (nothing published yet)'),
        h('p', { class: 'facts' }, summaryLine(diff.entries))),
      compare(from || 'draft', to),
      diff.entries.length ? changeList(ctx, slug, diff.entries, from, to) : h('p', { class: 'muted' }, 'No differences.'));
    return { onEvent: (type, data) => type === 'store.changed' || data?.collection === summary.slug };
  }

  const n = ctx.params.number;
  const version = await api(collectionPath(slug, `/versions/${n}?stats=true`));
  document.title = `Version ${n} · ${title} · Blockstore`;
  ctx.crumbs([{ label: 'Collections', href: '/' }, { label: title, href: base }, { label: 'History', href: `${base}/history` }, { label: `Version ${n}` }]);
  const previous = n > 1 ? String(n - 1) : null;
  replace(ctx.main,
    h('header', { class: 'page-head' },
      h('div', { class: 'title-row' },
        h('h1', { tabindex: -1 }, `Version ${n}`),
        h('div', { class: 'actions' },
          previous ? h('a', { class: 'button', href: `${base}/v/${n - 1}`, rel: 'prev' }, `← Version ${n - 1}`) : null,
          versions.results.some((v) => v.number === n + 1) ? h('a', { class: 'button', href: `${base}/v/${n + 1}`, rel: 'next' }, `Version ${n + 1} →`) : null)),
      h('p', { class: 'message' }, version.message || h('span', { class: 'muted' }, '(no message)')),
      h('p', { class: 'facts' }, 'Published ', when(version.created_at), ' · ', plural(version.changes, 'change'), ' · ', summaryLine(version.entries),
        version.pruned_at ? [' · ', h('span', { class: 'flag' }, 'pruned by gc')] : null)),
    // Defaults to what this page shows: the previous version → this one.
    compare(previous || String(n), String(n)),
    changeList(ctx, slug, version.entries, previous, String(n)));
  return { onEvent: (type, data) => type === 'store.changed' || (data?.collection === summary.slug && type !== 'draft.changed') };
}
