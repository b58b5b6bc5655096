// `/c/SLUG[/outline|files|history|links]`: one collection. The header says
// where it stands (versions, pending draft changes) and holds Publish and
// Revert; the tabs are its OLX outline, its files (a folder at a time as a
// table, `files.js`, so a 100,000-file collection never loads whole), its
// publish log as a timeline, and its link report.

import { h, replace, when, plural, debounce, confirmDialog, query, treeKeys, compareForm, named } from '../dom.js';
import { api, collectionPath, enc } from '../api.js';
import { filesTab, fileHref } from './files.js';

/** Above this many units the outline is not the default tab (it reads every unit). */
const OUTLINE_DEFAULT_LIMIT = 10_000;

export { fileHref };

// The last outline read per collection, for the search box's display names.
const outlines = new Map();

/**
 * path -> {name, type} of a collection's blocks, from its draft outline
 * (read once per view; empty for collections too large for an outline).
 */
export async function blockNames(slug, units) {
  const outline = await outlineFor(slug, units);
  const names = new Map();
  const walk = (node) => {
    if (node.path && node.display_name && !names.has(node.path)) {
      names.set(node.path, { name: node.display_name, type: node.block_type });
      // An html block's body answers to its pointer's name, as in listings.
      const body = node.block_type === 'html' && node.path.replace(/\.xml$/, '.html');
      if (body && body !== node.path && !names.has(body)) names.set(body, { name: node.display_name, type: 'html body' });
    }
    node.children?.forEach(walk);
  };
  outline?.roots.forEach(walk);
  outline?.orphans.forEach(walk);
  return names;
}

/** The draft outline, cached per collection; null when too large to read. */
function outlineFor(slug, units) {
  // Kept a few seconds: a file page after an edit reads the new names.
  const cached = outlines.get(slug);
  if (cached && Date.now() - (outlineTimes.get(slug) || 0) < 5000) return Promise.resolve(cached);
  if (units > OUTLINE_DEFAULT_LIMIT) return Promise.resolve(cached || null);
  // Callers at the same moment (a page's title and its link names) share one read.
  if (!reading.has(slug)) {
    reading.set(slug, api(collectionPath(slug, '/outline?version=draft')).catch(() => null).then((outline) => {
      reading.delete(slug);
      if (outline) {
        outlines.set(slug, outline);
        outlineTimes.set(slug, Date.now());
      }
      return outline || cached || null;
    }));
  }
  return reading.get(slug);
}

/** Outline reads under way, by collection. */
const reading = new Map();

/** When each cached outline was read. */
const outlineTimes = new Map();

/**
 * Where a file sits in the course: its block (display name, type) and the
 * blocks above it, root first, from the draft outline. An html body
 * (`html/x.html`) answers for its block (`html/x.xml`). Null when the file
 * is no block of the outline, or the collection is too large for one.
 */
export async function blockPlace(slug, units, path) {
  const outline = await outlineFor(slug, units);
  if (!outline) return null;
  const wanted = [path, path.replace(/\.html$/, '.xml')];
  const find = (node, above) => {
    if (node.path && wanted.includes(node.path) && !node.missing) {
      return { name: node.display_name, type: node.block_type, path: node.path, ancestors: above };
    }
    for (const kid of node.children || []) {
      const hit = find(kid, [...above, node]);
      if (hit) return hit;
    }
    return null;
  };
  for (const root of [...outline.roots, ...outline.orphans]) {
    const hit = find(root, []);
    if (hit) return hit;
  }
  return null;
}

export async function render(ctx) {
  const { slug } = ctx.params;
  // An explicit outline tab does not wait for the summary to ask for it.
  const early = ctx.params.tab === 'outline' ? outlineOf(slug) : null;
  early?.catch(() => {}); // the summary's error, if any, is the one shown
  const summary = await api(collectionPath(slug));
  const tab = ctx.params.tab || (summary.units <= OUTLINE_DEFAULT_LIMIT ? 'outline' : 'files');
  const base = `/c/${enc(slug)}`;
  document.title = `${summary.title || slug} · Blockstore`;
  ctx.crumbs([{ label: 'Collections', href: '/' }, { label: summary.title || slug, href: base }]);

  const tabs = [['outline', 'Outline'], ['files', 'Files'], ['history', 'History'], ['links', 'Links']];
  const body = h('section', { class: 'tab-body', id: `tab-${tab}`, role: 'tabpanel', 'aria-label': tab });
  replace(ctx.main,
    header(ctx, summary),
    h('nav', { class: 'tabs', 'aria-label': 'Collection views' },
      tabs.map(([id, label]) => h('a', {
        href: `${base}/${id}`, dataset: { tab: id }, 'aria-current': id === tab ? 'page' : null,
      }, label))),
    body);
  const renderers = { outline: outlineTab, files: filesTab, history: historyTab, links: linksTab };
  await renderers[tab](ctx, summary, body, early);
  return {
    onEvent: (type, data) =>
      type === 'store.changed' || type === 'gc.finished' || data?.collection === summary.slug,
  };
}

/** The publish dialog's checks: the draft's changes, new broken links, malformed units. */
async function publishChecks(slug, s) {
  const [diff, draft, latest] = await Promise.all([
    s.latest_version ? api(collectionPath(slug, '/diff?from=latest&to=draft')) : Promise.resolve(null),
    api(collectionPath(slug, '/links?version=draft')),
    s.latest_version ? api(collectionPath(slug, '/links?version=latest&broken=true')) : Promise.resolve({ broken: [] }),
  ]);
  const key = (l) => `${l.source_path}\u0000${l.written}`;
  const before = new Set(latest.broken.filter((l) => l.loaded).map(key));
  const introduced = draft.broken.filter((l) => l.loaded && !before.has(key(l)));
  const changes = diff?.entries || [];
  // A new broken link is in a changed file: named as its change is.
  const changed = new Map(changes.map((c) => [c.path, c.display_name]));
  const SHOWN = 20;
  const changeItem = (c) => h('li', {}, h('span', { class: `badge change-${c.status}` }, c.status), ' ',
    h('a', { href: fileHref(slug, c.path) }, named(c.display_name, c.path)), c.old_path ? h('span', { class: 'muted small' }, ` (was ${c.old_path})`) : null);
  return h('div', { id: 'publish-checks', class: 'checks' },
    h('h3', {}, 'Changes'),
    changes.length
      ? h('ul', { class: 'plain' }, changes.slice(0, SHOWN).map(changeItem), changes.length > SHOWN ? h('li', { class: 'muted' }, `and ${changes.length - SHOWN} more`) : null)
      : h('p', { class: 'muted' }, s.latest_version ? 'No file differs from the latest version.' : 'Every file is new: nothing is published yet.'),
    h('h3', {}, introduced.length ? `New broken links (${introduced.length})` : 'New broken links'),
    introduced.length
      ? h('ul', { id: 'publish-new-broken', class: 'plain' }, introduced.map((l) => h('li', { class: 'link', dataset: { status: 'broken' } },
        h('span', { class: 'flag bad' }, 'broken'), ' ', h('a', { href: fileHref(slug, l.source_path) }, named(changed.get(l.source_path), `${l.source_path}:${l.line}`)), ' → ', h('code', {}, l.written))))
      : h('p', { class: 'muted' }, 'This publish breaks no link in content edx-platform loads.'),
    draft.malformed.length
      ? [h('h3', {}, `Units whose XML does not parse (${draft.malformed.length})`),
        h('p', { class: 'muted' }, 'Strict mode refuses to publish these.'),
        h('ul', { class: 'plain' }, draft.malformed.map((m) => h('li', {}, h('a', { href: fileHref(slug, m.path) }, m.path))))]
      : null);
}

function header(ctx, s) {
  const slug = s.slug;
  const publish = h('button', { id: 'publish', class: 'primary', disabled: s.draft_changes === 0 }, 'Publish…');
  const revert = h('button', { id: 'revert', disabled: s.draft_changes === 0 }, 'Revert draft…');
  const status = h('p', { class: 'action-status', role: 'status' });
  publish.addEventListener('click', async () => {
    // Like a pull request's checks: what changes, the broken links this
    // publish would introduce, and the units strict mode would refuse.
    const checks = await publishChecks(slug, s).catch((e) => h('p', { class: 'error' }, `Checks failed: ${e.message || e}`));
    const values = await confirmDialog({
      id: 'publish-dialog', title: `Publish ${plural(s.draft_changes, 'draft change')}`,
      confirm: 'Publish', confirmId: 'publish-confirm',
      body: [
        h('p', {}, `This makes version ${(s.latest_version || 0) + 1} of ${s.title || slug} from the draft.`),
        checks,
        h('label', { for: 'publish-message' }, 'Message'),
        h('textarea', { id: 'publish-message', name: 'message', rows: 3, placeholder: 'What changed, and why' }),
        h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'strict' }), ' Refuse if a unit’s XML does not parse'),
      ],
    });
    if (!values) return;
    publish.disabled = true;
    status.textContent = 'Publishing…';
    try {
      const report = await api(collectionPath(slug, '/publish'), { method: 'POST', body: { message: values.message || '', strict: values.strict === 'on' } });
      status.textContent = `Published version ${report.number}.`;
      ctx.navigate(`/c/${enc(slug)}/history`);
    } catch (e) {
      status.textContent = e.message;
      publish.disabled = false;
    }
  });
  revert.addEventListener('click', async () => {
    const values = await confirmDialog({
      id: 'revert-dialog', title: 'Revert the draft', danger: true,
      confirm: `Discard ${plural(s.draft_changes, 'change')}`, confirmId: 'revert-confirm',
      body: h('p', {}, `Every draft change of ${s.title || slug} is discarded; the files go back to version ${s.latest_version ?? '— (nothing is published, so they are removed)'}. Draft revisions stay in each file’s history.`),
    });
    if (!values) return;
    status.textContent = 'Reverting…';
    try {
      await api(collectionPath(slug, '/revert'), { method: 'POST', body: {} });
      status.textContent = 'Draft reverted.';
      ctx.refresh();
    } catch (e) {
      status.textContent = e.message;
    }
  });
  return h('header', { class: 'page-head' },
    h('div', { class: 'title-row' },
      h('h1', { tabindex: -1 }, s.title || slug),
      h('div', { class: 'actions' }, search(ctx, slug), publish, revert)),
    h('p', { class: 'facts' },
      h('code', {}, slug), ' · ',
      plural(s.units, 'unit'), ' · ', plural(s.assets, 'asset'), ' · ',
      s.latest_version
        ? [h('a', { href: `/c/${enc(slug)}/v/${s.latest_version}` }, `version ${s.latest_version}`), ' published ', when(s.latest_published_at)]
        : 'never published',
      ' · ',
      h('a', { href: `/c/${enc(slug)}/diff${query({ from: s.latest_version ? 'latest' : null, to: 'draft' })}`, class: s.draft_changes ? 'pending' : '' },
        h('span', { 'data-draft-changes': '' }, s.draft_changes), ' draft ', s.draft_changes === 1 ? 'change' : 'changes')),
    status);
}

function search(ctx, slug) {
  const input = h('input', { id: 'search', type: 'search', placeholder: 'Search paths and names', 'aria-label': 'Search paths and display names', autocomplete: 'off', 'aria-controls': 'search-results' });
  const results = h('ul', { id: 'search-results', class: 'search-results', hidden: true });
  let controller = null;
  const run = debounce(async () => {
    const text = input.value.trim();
    controller?.abort();
    if (!text) { results.hidden = true; return; }
    controller = new AbortController();
    const lower = text.toLowerCase();
    const outlineHits = [];
    const walk = (node) => {
      if (outlineHits.length < 20 && node.display_name && node.display_name.toLowerCase().includes(lower) && node.path) outlineHits.push(node);
      node.children?.forEach(walk);
    };
    const outline = outlines.get(slug);
    outline?.roots.forEach(walk);
    outline?.orphans.forEach(walk);
    let paths = { results: [], count: 0 };
    try {
      paths = await api(collectionPath(slug, `/files${query({ q: text, page_size: 20 })}`), { signal: controller.signal });
    } catch (e) {
      if (e.name === 'AbortError') return;
    }
    replace(results,
      outlineHits.map((n) => h('li', {}, h('a', { href: fileHref(slug, n.path) }, h('span', { class: 'badge' }, n.block_type), ' ', named(n.display_name, n.path)))),
      paths.results.filter((f) => !outlineHits.some((n) => n.path === f.path))
        .map((f) => h('li', {}, h('a', { href: fileHref(slug, f.path) }, h('span', { class: `badge ${f.kind}` }, f.block_type || f.kind), ' ', named(f.display_name, f.path)))),
      !outlineHits.length && !paths.results.length ? h('li', { class: 'muted' }, 'Nothing matches.') : null,
      paths.count > paths.results.length ? h('li', { class: 'muted' }, `${paths.count - paths.results.length} more paths match`) : null);
    results.hidden = false;
  }, 150);
  input.addEventListener('input', run);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { input.value = ''; results.hidden = true; }
    if (e.key === 'ArrowDown') { results.querySelector('a')?.focus(); e.preventDefault(); }
  });
  results.addEventListener('keydown', (e) => {
    const links = [...results.querySelectorAll('a')];
    const i = links.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i < links.length - 1) { links[i + 1].focus(); e.preventDefault(); }
    if (e.key === 'ArrowUp') { (i > 0 ? links[i - 1] : input).focus(); e.preventDefault(); }
    if (e.key === 'Escape') { results.hidden = true; input.focus(); }
  });
  return h('div', { class: 'search', role: 'search' }, input, results);
}

// ---------------------------------------------------------------------------
// Outline

/**
 * Marks each node of an outline with what its subtree holds: `_changed` (its
 * own file changed in the draft), `_changedInside` and `_brokenInside` (a
 * descendant changed, or points to a missing file), so an ancestor shows it.
 */
function annotate(node, changed) {
  node._changed = !!node.path && changed.has(node.path);
  let changedInside = false;
  let brokenInside = false;
  for (const kid of node.children || []) {
    annotate(kid, changed);
    changedInside ||= kid._changed || kid._changedInside;
    brokenInside ||= kid.missing || kid._brokenInside;
  }
  node._changedInside = changedInside;
  node._brokenInside = brokenInside;
}

/** Small outlines open whole; larger ones to the sequentials. */
let openDepth = 3;

function outlineNode(slug, node, depth) {
  const kids = node.children || [];
  const problem = node.missing ? 'missing' : node.cycle ? 'cycle' : node.error ? 'error' : node.external ? 'external' : null;
  const open = depth < openDepth;
  const toggle = kids.length
    ? h('button', { class: 'toggle', 'aria-expanded': String(open), 'aria-label': `${open ? 'Collapse' : 'Expand'} ${node.display_name || node.url_name || node.block_type}` })
    : h('span', { class: 'toggle-space', 'aria-hidden': 'true' });
  const label = node.display_name || node.url_name || '(unnamed)';
  const li = h('li', {
    class: `node${problem ? ' problem' : ''}`, role: 'treeitem',
    'aria-expanded': kids.length ? String(open) : null,
    dataset: { path: node.path || '', blockType: node.block_type },
  },
  h('div', { class: 'node-row' },
    toggle,
    h('span', { class: `badge block-${node.block_type}` }, node.block_type),
    node.path && !node.missing
      ? h('a', { class: 'node-link', href: fileHref(slug, node.path) }, label)
      : h('span', { class: 'node-link' }, label),
    node.inline ? h('span', { class: 'muted small' }, ' inline') : null,
    node.draft ? h('span', { class: 'flag draft', title: 'Unpublished: Studio exported it under drafts/' }, 'draft') : null,
    node._changed ? h('span', { class: 'flag pending', title: 'Changed in the draft, not published yet' }, 'changed') : null,
    !node._changed && node._changedInside ? h('span', { class: 'flag pending subtle', title: 'A block inside changed in the draft' }, 'changes inside') : null,
    node._brokenInside ? h('span', { class: 'flag bad subtle', title: 'A block inside points to a missing file' }, 'broken inside') : null,
    problem ? h('span', { class: 'flag bad', title: node.error || problem }, problem === 'external' ? `in ${node.external}` : problem) : null,
    node.path ? h('a', { class: 'graph-mini', href: `/c/${enc(slug)}/graph/${node.path.split('/').map(enc).join('/')}`, 'aria-label': `Links of ${label}`, title: 'Links picture' }, '⋔') : null));
  // Collapsed subtrees are built on first expand: the demo course's ~400
  // blocks sit under collapsed verticals, and building them all up front was
  // most of the outline's first paint.
  if (kids.length) {
    const group = () => h('ul', { role: 'group' }, kids.map((k) => outlineNode(slug, k, depth + 1)));
    if (open) li.append(group());
    else lazyGroups.set(li, group);
  }
  return li;
}

/** Children not yet built, by their tree item; see outlineNode. */
const lazyGroups = new WeakMap();

function wireTree(tree) {
  treeKeys(tree);
  tree.addEventListener('click', (e) => {
    const button = e.target.closest('button.toggle');
    if (!button) return;
    const li = button.closest('li');
    const open = button.getAttribute('aria-expanded') !== 'true';
    button.setAttribute('aria-expanded', String(open));
    li.setAttribute('aria-expanded', String(open));
    button.setAttribute('aria-label', button.getAttribute('aria-label').replace(/^(Collapse|Expand)/, open ? 'Collapse' : 'Expand'));
    let group = li.querySelector(':scope > ul');
    if (!group && open && lazyGroups.has(li)) {
      group = lazyGroups.get(li)();
      lazyGroups.delete(li);
      li.append(group);
    }
    if (group) group.hidden = !open;
  });
}

const outlineOf = (slug) => api(collectionPath(slug, '/outline?version=draft'));

async function outlineTab(ctx, summary, body, early) {
  const slug = summary.slug;
  const [outline, diff] = await Promise.all([
    early || outlineOf(slug),
    summary.latest_version && summary.draft_changes
      ? api(collectionPath(slug, '/diff?from=latest&to=draft')).catch(() => null)
      : Promise.resolve(null),
  ]);
  outlines.set(slug, outline);
  // Files changed in the draft since the latest version (both names of a move).
  // An html block's body (`html/x.html`) changes the block (`html/x.xml`).
  const changed = new Set((diff?.entries || []).flatMap((c) => [c.path, c.old_path].filter(Boolean))
    .flatMap((p) => (/\.html$/.test(p) ? [p, p.replace(/\.html$/, '.xml')] : [p])));
  for (const root of [...outline.roots, ...outline.orphans]) annotate(root, changed);
  openDepth = outline.blocks <= 150 ? Infinity : 3;
  // Expanding builds lazy subtrees, whose toggles then need expanding too:
  // repeat until a pass finds nothing left to change.
  const setAll = (open) => {
    for (let changed = true; changed;) {
      changed = false;
      body.querySelectorAll('button.toggle').forEach((b) => {
        if ((b.getAttribute('aria-expanded') === 'true') !== open) { b.click(); changed = open; }
      });
    }
  };
  const tree = h('ul', { class: 'outline tree', role: 'tree', 'aria-label': 'OLX outline' },
    outline.roots.map((r) => outlineNode(slug, r, 0)));
  wireTree(tree);
  replace(body,
    h('div', { class: 'toolbar' },
      h('span', { class: 'muted' }, `${outline.kind} · ${plural(outline.blocks, 'block')}${outline.truncated ? ' (truncated)' : ''}`),
      h('button', { id: 'expand-all', onclick: () => setAll(true) }, 'Expand all'),
      h('button', { id: 'collapse-all', onclick: () => setAll(false) }, 'Collapse all')),
    outline.roots.length ? tree : h('p', { class: 'muted' }, 'No course or library root (course.xml / library.xml) in the draft.'),
    h('dl', { id: 'outline-legend', class: 'legend-marks muted small' },
      h('dt', {}, h('span', { class: 'flag pending' }, 'changed')), h('dd', {}, 'changed in the draft, not published yet ("changes inside" on its ancestors)'),
      h('dt', {}, h('span', { class: 'flag bad' }, 'missing')), h('dd', {}, 'a pointer to a file that is not in the draft ("broken inside" on its ancestors)'),
      h('dt', {}, h('span', { class: 'flag draft' }, 'draft')), h('dd', {}, 'an unpublished block Studio exported under drafts/'),
      h('dt', {}, '⋔'), h('dd', {}, 'the block’s links picture')),
    outline.broken.length
      ? h('section', { id: 'broken-pointers' }, h('h2', {}, 'Broken pointers'),
        h('ul', { class: 'plain' }, outline.broken.map((b) => h('li', { class: 'link', dataset: { status: 'broken' } },
          h('span', { class: 'flag bad' }, 'broken'), ' ', h('a', { href: fileHref(slug, b.source_path) }, b.source_path),
          ` points to ${b.block_type} “${b.written}”, which is not in the draft`))))
      : null,
    outline.orphans.length
      ? h('section', { id: 'orphans' }, h('h2', {}, 'Orphans'),
        h('p', { class: 'muted' }, 'Blocks the root does not reach.'),
        (() => { const t = h('ul', { class: 'outline tree', role: 'tree', 'aria-label': 'Orphans' }, outline.orphans.map((r) => outlineNode(slug, r, 2))); wireTree(t); return t; })())
      : null);
}

// ---------------------------------------------------------------------------
// History

/** How a version committed from a named draft says so; a warning when its
 * base was older than the version it overwrote. */
function committedFrom(from) {
  if (!from) return null;
  const stale = from.latest !== null && from.latest !== undefined && from.base !== from.latest;
  return h('p', { class: 'small committed-from', dataset: { stale: String(stale) } },
    `Committed from draft “${from.draft}”`,
    stale
      ? h('span', { class: 'flag warn', title: 'Blockstore v1 semantics: a draft commits its base plus its changes, even over newer versions.' },
        `based on ${from.base ? `version ${from.base}` : 'no version'}, older than version ${from.latest}: its later changes were undone`)
      : null);
}

/** The named drafts the reader opened, by collection: a refresh (another
 * writer's change re-renders the tab) keeps them open. */
const openDrafts = new Map();

/** One named draft: its base and age, and its staged changes when opened. */
function namedDraft(slug, d) {
  if (!openDrafts.has(slug)) openDrafts.set(slug, new Set());
  const opened = openDrafts.get(slug);
  const list = h('ul', { class: 'changes plain' });
  const details = h('details', { class: 'named-draft', dataset: { draft: d.name } },
    h('summary', {}, h('strong', {}, d.name), ' · ',
      d.base ? h('a', { href: `/c/${enc(slug)}/v/${d.base}` }, `based on version ${d.base}`) : 'no base version',
      ' · updated ', when(d.updated_at)),
    list);
  const load = async () => {
    if (!details.open || details.dataset.loaded) return;
    details.dataset.loaded = 'true';
    try {
      const detail = await api(collectionPath(slug, `/drafts/${enc(d.name)}`));
      replace(list, detail.changes.length
        ? detail.changes.map((c) => h('li', { dataset: { status: c.status, path: c.path } },
          h('div', { class: 'change-row' }, h('span', { class: `status ${c.status}` }, c.status), ' ', h('code', {}, c.path),
            c.hash ? h('span', { class: 'muted small' }, ` ${c.size} bytes`) : null)))
        : h('li', { class: 'muted' }, 'No staged file changes.'));
    } catch (err) {
      replace(list, h('li', { class: 'error' }, err.message));
    }
  };
  details.addEventListener('toggle', () => {
    if (details.open) opened.add(d.name); else opened.delete(d.name);
    load();
  });
  if (opened.has(d.name)) {
    details.open = true;
    load();
  }
  return h('li', {}, details);
}

async function historyTab(ctx, summary, body) {
  const slug = summary.slug;
  const [first, drafts] = await Promise.all([
    api(collectionPath(slug, '/versions?page_size=50')),
    api(collectionPath(slug, '/drafts')).catch(() => []),
  ]);
  const item = (v) => h('li', { dataset: { version: v.number } },
    h('div', { class: 'dot', 'aria-hidden': 'true' }),
    h('div', { class: 'entry' },
      h('a', { class: 'version-link', href: `/c/${enc(slug)}/v/${v.number}` }, `Version ${v.number}`),
      ' ', when(v.created_at), ' · ', plural(v.changes, 'change'),
      v.pruned_at ? h('span', { class: 'flag' }, 'pruned by gc') : null,
      committedFrom(v.committed_from),
      h('p', { class: 'message' }, v.message || h('span', { class: 'muted' }, '(no message)')),
      v.number > 1 ? h('a', { class: 'small', href: `/c/${enc(slug)}/diff${query({ from: v.number - 1, to: v.number })}` }, `Compare with version ${v.number - 1}`) : null));
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Publish log' },
    summary.draft_changes
      ? h('li', { class: 'draft', dataset: { version: 'draft' } }, h('div', { class: 'dot', 'aria-hidden': 'true' }),
        h('div', { class: 'entry' }, h('strong', {}, 'Draft'), ' · ',
          h('a', { href: `/c/${enc(slug)}/diff${query({ from: summary.latest_version ? 'latest' : null, to: 'draft' })}` }, plural(summary.draft_changes, 'pending change')),
          h('p', { class: 'muted' }, 'Not published yet.')))
      : null,
    first.results.map(item));
  let next = first.next;
  const more = h('button', { class: 'more', hidden: !next }, 'Older versions');
  more.addEventListener('click', async () => {
    const page = await api(next.replace(/^\/api\/v1/, ''));
    timeline.append(...page.results.map(item));
    next = page.next;
    more.hidden = !next;
  });
  const compare = compareForm({
    states: ['draft', ...first.results.map((v) => String(v.number))],
    from: first.results[0] ? String(first.results[0].number) : 'draft',
    to: 'draft',
    go: (from, to) => ctx.navigate(`/c/${enc(slug)}/diff${query({ from, to })}`),
  });
  const namedSection = drafts.length
    ? h('section', { id: 'named-drafts' }, h('h2', {}, `Named drafts (${drafts.length})`),
      h('p', { class: 'muted' }, 'Staged changes over a base version, as Blockstore v1 clients write them; each commits into a version of its own. The working draft above is separate.'),
      h('ul', { class: 'plain' }, drafts.map((d) => namedDraft(slug, d))))
    : null;
  replace(body,
    first.count ? compare : null,
    first.count || summary.draft_changes ? timeline : h('p', { class: 'muted' }, 'Nothing published yet. Publish the draft to make version 1.'),
    more,
    namedSection);
}

// ---------------------------------------------------------------------------
// Links report

async function linksTab(ctx, summary, body) {
  const slug = summary.slug;
  const [report, names] = await Promise.all([
    api(collectionPath(slug, '/links?version=draft')),
    blockNames(slug, summary.units).catch(() => new Map()),
  ]);
  const paths = (list) => h('ul', { class: 'plain columns' }, list.map((p) => h('li', {}, h('a', { href: fileHref(slug, p) }, p))));
  const explain = (text) => h('p', { class: 'muted' }, text);
  // Every listed link in one table, filterable by status, kind and text.
  const STATUS = {
    broken: ['bad', 'Names nothing, in content edx-platform loads: this breaks the course.'],
    unloaded: ['warn', 'Names nothing, but in a file edx-platform never loads (an old copy, an unused file): it cannot break the course.'],
    ambiguous: ['warn', 'Several files answer to the name; edx-platform takes one of them.'],
    external: ['', 'An absolute URL or another course’s asset: never broken here, listed so you can review it.'],
    platform: ['', 'One of edx-platform’s own static files (Studio’s placeholders): not the course’s.'],
  };
  const rows = [
    ...report.broken.map((l) => [l.loaded ? 'broken' : 'unloaded', l]),
    ...report.ambiguous.map((l) => ['ambiguous', l]),
    ...report.external.map((l) => ['external', l]),
    ...report.platform.map((l) => ['platform', l]),
  ];
  const missing = (l) => (l.resolution?.missing?.length ? `no ${l.resolution.missing.join(', no ')}` : '');
  const tbody = h('tbody', {}, rows.map(([status, l]) => h('tr', { dataset: { status, kind: l.kind }, class: 'link' },
    h('td', {}, h('span', { class: `flag ${STATUS[status][0]}`, title: STATUS[status][1] }, status)),
    h('td', {}, h('span', { class: `badge link-${l.kind}` }, l.kind)),
    h('td', {}, h('a', { href: fileHref(slug, l.source_path) }, named(names.get(l.source_path)?.name, l.source_path)), l.line ? h('span', { class: 'muted' }, `:${l.line}`) : null),
    h('td', {}, h('code', {}, l.written), missing(l) ? h('div', { class: 'muted small' }, missing(l)) : null))));
  const count = (status) => rows.filter(([s]) => s === status).length;
  const statusSelect = h('select', { id: 'links-status', 'aria-label': 'Status' },
    h('option', { value: '' }, `every status (${rows.length})`),
    Object.keys(STATUS).filter(count).map((k) => h('option', { value: k }, `${k} (${count(k)})`)));
  const kinds = [...new Set(rows.map(([, l]) => l.kind))].sort();
  const kindSelect = h('select', { id: 'links-kind', 'aria-label': 'Kind' },
    h('option', { value: '' }, 'every kind'), kinds.map((k) => h('option', { value: k }, k)));
  const text = h('input', { id: 'links-filter', type: 'search', placeholder: 'Filter by file or reference', 'aria-label': 'Filter links' });
  const shown = h('span', { class: 'muted', role: 'status' });
  const apply = () => {
    const [st, kd, q] = [statusSelect.value, kindSelect.value, text.value.trim().toLowerCase()];
    let n = 0;
    for (const tr of tbody.children) {
      const ok = (!st || tr.dataset.status === st) && (!kd || tr.dataset.kind === kd) && (!q || tr.textContent.toLowerCase().includes(q));
      tr.hidden = !ok;
      if (ok) n += 1;
    }
    shown.textContent = `${plural(n, 'link')} shown`;
  };
  for (const control of [statusSelect, kindSelect]) control.addEventListener('change', apply);
  text.addEventListener('input', debounce(apply, 120));
  apply();
  replace(body,
    h('p', { id: 'links-summary' }, `${plural(report.links, 'link')} in the draft, read as edx-platform reads the export: `,
      h('strong', {}, `${report.broken_loaded} broken`), ` in content it loads, ${report.broken_unloaded} in files it never loads, `,
      `${report.ambiguous.length} ambiguous, ${report.external.length} external.`),
    rows.length
      ? h('section', { id: 'links-list' },
        h('div', { class: 'filters' }, statusSelect, ' ', kindSelect, ' ', text, ' ', shown),
        h('table', { id: 'links-table', class: 'table' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Status'), h('th', {}, 'Kind'), h('th', {}, 'In'), h('th', {}, 'Reference'))),
          tbody),
        h('dl', { class: 'legend muted small' }, Object.entries(STATUS).filter(([k]) => count(k)).map(([k, [, why]]) => [h('dt', {}, k), h('dd', {}, why)])))
      : h('p', { class: 'muted' }, 'No broken, ambiguous, external or platform links.'),
    report.malformed.length ? h('section', {}, h('h2', {}, `Malformed (${report.malformed.length})`),
      h('ul', { class: 'plain' }, report.malformed.map((m) => h('li', {}, h('a', { href: fileHref(slug, m.path) }, m.path), ' ', h('span', { class: 'muted' }, m.problems?.map((p) => p.message).join('; ') || ''))))) : null,
    h('section', { id: 'orphans' }, h('h2', {}, `Orphans (${report.orphans.length})`),
      explain('Files the course never uses: edx-platform does not load them, and no loaded file names them as an asset.'),
      report.orphans.length ? paths(report.orphans) : h('p', { class: 'muted' }, 'None.')),
    h('section', { id: 'unlinked' }, h('h2', {}, `Not linked by any file (${report.unlinked.length})`),
      explain('No file links to these at all, loaded or not. An asset here is what gc deletes when its garbage_collect flag is set.'),
      report.unlinked.length ? paths(report.unlinked) : h('p', { class: 'muted' }, 'None.')));
}
