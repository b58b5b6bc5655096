// `/c/SLUG/v/N`: what changed in one collection version; `/c/SLUG/diff?from=A&to=B`:
// what differs between two collection states (versions or the draft). Each
// changed file opens its own diff in place.

import { h, replace, when, plural, query, compareForm, named } from '../dom.js';
import { api, collectionPath, enc } from '../api.js';
import { diffTable } from '../diff.js';
import { languageOf } from '../highlight.js';
import { fileHref } from './collection.js';

const label = (s) => (s === 'draft' ? 'the draft' : s === 'latest' ? 'the latest version' : `version ${s}`);

function changeList(ctx, slug, entries, from, to) {
  const order = { added: 0, modified: 1, renamed: 2, deleted: 3 };
  const sorted = [...entries].sort((a, b) => (order[a.status] ?? 9) - (order[b.status] ?? 9) || a.path.localeCompare(b.path));
  return h('ul', { class: 'changes plain' }, sorted.map((e) => {
    const state = e.status === 'deleted' ? from : to;
    const canDiff = e.status !== 'added' && e.status !== 'deleted' && (e.content_changed || e.status === 'modified') && from !== null;
    const details = canDiff ? h('details', { class: 'inline-diff' }, h('summary', {}, 'diff')) : null;
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
    }
    return h('li', { dataset: { status: e.status, path: e.path } },
      h('span', { class: `status ${e.status}` }, e.status), ' ',
      h('span', { class: `badge ${e.kind}` }, e.kind), ' ',
      h('a', { href: fileHref(slug, e.status === 'deleted' ? e.old_path || e.path : e.path, { v: state === 'draft' ? null : state, diff: canDiff ? `${from}..${to}` : null }) }, named(e.display_name, e.path)),
      e.old_path && e.old_path !== e.path ? h('span', { class: 'muted' }, ` (was ${e.old_path})`) : null,
      details);
  }));
}

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
      ? await api(collectionPath(slug, `/diff${query({ from, to })}`))
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
  const version = await api(collectionPath(slug, `/versions/${n}`));
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
    compare(previous || String(n), 'draft'),
    changeList(ctx, slug, version.entries, previous, String(n)));
  return { onEvent: (type, data) => type === 'store.changed' || (data?.collection === summary.slug && type !== 'draft.changed') };
}
