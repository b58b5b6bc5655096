// `/`: every collection as a card; an empty store offers the sample course.
// Import takes an OLX export (.tar.gz, .tar) or a Learning Core backup
// (.zip), named as `blockstore import FILE` names it.

import { h, replace, when, plural } from '../dom.js';
import { api, collectionPath, enc, upload } from '../api.js';

/** What a file's name says it is, for the upload's Content-Type. */
function archiveType(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) return 'application/gzip';
  if (lower.endsWith('.tar')) return 'application/x-tar';
  if (lower.endsWith('.zip')) return 'application/zip';
  return 'application/octet-stream';
}

/**
 * The Import button: pick an archive, import it, open its collection. While
 * it runs, `busy.now` is set: the page does not repaint for the events the
 * import itself sends (which would drop the button and its status).
 */
function importControl(ctx, busy) {
  const input = h('input', { type: 'file', id: 'import-file', accept: '.tar.gz,.tgz,.tar,.zip', hidden: true });
  const button = h('button', {
    id: 'import', type: 'button',
    title: 'An OLX export of a course or library (.tar.gz, .tar), or a Learning Core backup (.zip) as lp_dump writes it',
  }, 'Import…');
  const status = h('p', { id: 'import-status', role: 'status' });
  button.addEventListener('click', () => input.click());
  input.addEventListener('change', async () => {
    const file = input.files[0];
    if (!file) return;
    button.disabled = true;
    busy.now = true;
    status.className = '';
    status.textContent = `Importing ${file.name}…`;
    try {
      const report = await upload(`/import?name=${enc(file.name)}`, file, archiveType(file.name));
      ctx.navigate(`/c/${encodeURIComponent(report.collection)}`);
    } catch (e) {
      status.className = 'error';
      status.textContent = `Could not import ${file.name}: ${e.message}`;
    } finally {
      busy.now = false;
      button.disabled = false;
      input.value = '';
    }
  });
  return h('div', { class: 'import actions' }, button, input, status);
}

function count(label, value, attr, extra = {}) {
  return h('div', { class: 'count', ...extra },
    h('dt', {}, label),
    h('dd', { [`data-${attr}`]: '', ...(value === null ? { 'aria-busy': 'true' } : {}) }, value === null ? '…' : value.toLocaleString()));
}

function card(c) {
  const broken = count('broken links', null, 'broken');
  const el = h('li', { class: 'card', dataset: { slug: c.slug } },
    h('h2', {}, h('a', { class: 'card-link', href: `/c/${encodeURIComponent(c.slug)}` }, c.title || c.slug)),
    h('p', { class: 'slug' }, h('code', {}, c.slug)),
    c.description ? h('p', { class: 'description' }, c.description) : null,
    h('dl', { class: 'counts' },
      count('units', c.units, 'units'),
      count('assets', c.assets, 'assets'),
      count('draft changes', c.draft_changes, 'draft-changes', c.draft_changes ? { class: 'count pending' } : {}),
      broken),
    h('p', { class: 'published' },
      c.latest_version
        ? ['Version ', h('strong', {}, c.latest_version), ' published ', when(c.latest_published_at)]
        : h('span', { class: 'muted' }, 'Never published')));
  // The link report walks the whole collection: fill it in after painting.
  api(collectionPath(c.slug, '/links?broken=true')).then((report) => {
    const dd = broken.querySelector('dd');
    // Broken links in content edx-platform loads: those break the course.
    dd.textContent = report.broken_loaded.toLocaleString();
    dd.removeAttribute('aria-busy');
    if (report.broken_loaded) broken.classList.add('bad');
  }).catch(() => { broken.querySelector('dd').textContent = '?'; });
  return el;
}

export async function render(ctx) {
  ctx.crumbs([{ label: 'Collections', href: '/' }]);
  document.title = 'Collections · Blockstore';
  const first = await api('/collections?page_size=100');
  const busy = { now: false };
  const list = h('ul', { class: 'cards' }, first.results.map(card));
  let next = first.next;
  const more = h('button', { class: 'more', hidden: !next }, 'Show more collections');
  more.addEventListener('click', async () => {
    more.disabled = true;
    const page = await api(next.replace(/^\/api\/v1/, ''));
    list.append(...page.results.map(card));
    next = page.next;
    more.hidden = !next;
    more.disabled = false;
  });
  if (first.count === 0) {
    const seed = h('button', { id: 'seed', class: 'primary' }, 'Load the sample course');
    const status = h('p', { role: 'status' });
    seed.addEventListener('click', async () => {
      seed.disabled = true;
      status.textContent = 'Loading the sample course and library…';
      try {
        await api('/seed', { method: 'POST' });
        ctx.refresh();
      } catch (e) {
        status.textContent = e.message;
        seed.disabled = false;
      }
    });
    replace(ctx.main,
      h('h1', { tabindex: -1 }, 'Collections'),
      h('section', { id: 'empty-state', class: 'empty' },
        h('h2', {}, 'No collections yet'),
        h('p', {}, 'Load the bundled sample course (two published versions, links and assets) and its question library to look around, or import your own: an OLX export (.tar.gz), a Learning Core backup (.zip), or a folder with ',
          h('code', {}, 'blockstore import DIR'), ' or ', h('code', {}, 'blockstore sync SLUG DIR'), '.'),
        h('div', { class: 'actions' }, seed, importControl(ctx, busy)), status));
  } else {
    replace(ctx.main,
      h('div', { class: 'toolbar' },
        h('h1', { tabindex: -1 }, 'Collections ', h('span', { class: 'muted small' }, plural(first.count, 'collection'))),
        importControl(ctx, busy)),
      list, more);
  }
  return { onEvent: (type) => type !== 'lagged' && !busy.now };
}
