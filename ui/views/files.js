// The Files tab: one folder of the draft at a time as a table, the way a
// code host lists a repository folder and Datasette a table. Every folder
// has its own URL (`/c/SLUG/files/html/`), the breadcrumb goes back up, and
// the order and filter live in the URL too (`?sort=-size&q=intro`), so a
// view can be linked and reloaded. Sorting and filtering are done by the
// server over the whole folder, 200 rows a page, so a 10,000-file folder
// shows its first rows as fast as a small one.

import { h, replace, plural, bytes, debounce, query } from '../dom.js';
import { api, collectionPath, enc } from '../api.js';

const PAGE = 200;

/** `/c/SLUG/files/PREFIX` with `params`, PREFIX a folder path ending in `/` (or empty). */
export const folderHref = (slug, prefix = '', params = {}) =>
  `/c/${enc(slug)}/files${prefix ? '/' + prefix.split('/').map(enc).join('/') : ''}${query(params)}`;

/** `/c/SLUG/f/PATH` with `params`: a file's page. */
export const fileHref = (slug, path, params = {}) =>
  `/c/${enc(slug)}/f/${path.split('/').map(enc).join('/')}${query(params)}`;

const COLUMNS = [
  ['path', 'Name'],
  ['display_name', 'Display name'],
  ['kind', 'Kind'],
  ['size', 'Size'],
  ['changed_in', 'Last changed in'],
];

export async function filesTab(ctx, summary, body) {
  const slug = summary.slug;
  const prefix = ctx.params.folder || '';
  const state = { sort: ctx.search.get('sort') || 'path', text: ctx.search.get('q') || '' };
  const versions = summary.latest_version ? api(collectionPath(slug, '/versions?page_size=1000')).catch(() => null) : Promise.resolve(null);
  const urlOf = () => folderHref(slug, prefix, { sort: state.sort === 'path' ? null : state.sort, q: state.text || null });

  // Breadcrumb: every folder above is a link.
  const parts = prefix.split('/').filter(Boolean);
  const crumbs = h('nav', { class: 'folder-crumbs', 'aria-label': 'Folder' },
    h('a', { href: folderHref(slug) }, summary.title || slug),
    parts.map((name, i) => [h('span', { class: 'sep', 'aria-hidden': 'true' }, ' / '),
      i === parts.length - 1
        ? h('span', { 'aria-current': 'page' }, name)
        : h('a', { href: folderHref(slug, parts.slice(0, i + 1).join('/') + '/') }, name)]));
  const filter = h('input', {
    id: 'files-filter', type: 'search', value: state.text, placeholder: prefix ? `Filter ${prefix}` : 'Filter files',
    'aria-label': 'Filter files by path or display name', autocomplete: 'off',
  });
  const shown = h('span', { class: 'muted', role: 'status', id: 'files-count' });
  const results = h('div', { class: 'files-results' });

  // Each change of order or filter redraws the table in place; the URL
  // follows (a new history entry for an order, the same one while typing).
  let drawn = 0;
  const draw = async () => {
    const mine = ++drawn;
    const { sort, text } = state;
    const [folders, files, known] = await Promise.all([
      text ? Promise.resolve([]) : api(collectionPath(slug, `/folders${query({ prefix })}`)),
      // A filter searches the whole folder, subfolders included.
      api(collectionPath(slug, `/files${query({ prefix, direct: text ? null : 'true', q: text || null, sort: sort === 'path' ? null : sort, page_size: PAGE })}`)),
      versions,
    ]);
    if (mine !== drawn) return;
    const messages = new Map((known?.results || []).map((v) => [v.number, v.message]));
    const header = (key, label) => {
      const current = sort.replace(/^-/, '') === key;
      const descending = current && sort.startsWith('-');
      const next = current && !descending ? `-${key}` : key;
      return h('th', { scope: 'col', 'aria-sort': current ? (descending ? 'descending' : 'ascending') : null },
        h('button', {
          class: 'sort', dataset: { sort: key },
          onclick: () => { state.sort = next; history.pushState(null, '', urlOf()); draw(); },
        }, label, current ? h('span', { 'aria-hidden': 'true' }, descending ? ' ▾' : ' ▴') : null));
    };
    const changed = (f) => {
      if (f.version === null) return h('span', { class: 'flag pending', title: 'Changed in the draft, not published yet' }, 'draft');
      if (f.changed_in === null || f.changed_in === undefined) return '';
      const message = messages.get(f.changed_in);
      return [h('a', { href: `/c/${enc(slug)}/v/${f.changed_in}` }, `version ${f.changed_in}`),
        message ? h('span', { class: 'muted small message-cell', title: message }, ` ${message}`) : null];
    };
    const fileRow = (f) => h('tr', { class: 'row file', dataset: { path: f.path } },
      h('td', { class: 'name' }, h('a', { href: fileHref(slug, f.path) }, text ? f.path.slice(prefix.length) : f.path.split('/').pop())),
      h('td', { class: 'display-name' }, f.display_name || ''),
      h('td', { class: 'kind' }, h('span', { class: `badge ${f.kind}` }, f.kind),
        f.block_type ? h('span', { class: 'muted small' }, ` ${f.block_type}`) : null),
      h('td', { class: 'size num' }, bytes(f.size)),
      h('td', { class: 'changed' }, changed(f)));
    const folderRow = (d) => h('tr', { class: 'row folder', dataset: { path: d.path } },
      h('td', { class: 'name' }, h('a', { href: folderHref(slug, d.path, { sort: sort === 'path' ? null : sort }) },
        h('span', { class: 'folder-icon', 'aria-hidden': 'true' }, '▸ '), d.name + '/')),
      h('td', { class: 'muted' }, plural(d.files, 'file')),
      h('td', {}, h('span', { class: 'badge' }, 'folder')),
      h('td', {}),
      h('td', {}, d.draft_changes
        ? h('span', { class: 'flag pending', title: 'Files in this folder are changed in the draft, not published yet' }, `${plural(d.draft_changes, 'draft change')} inside`)
        : ''));

    const tbody = h('tbody', {}, folders.map(folderRow), files.results.map(fileRow));
    let count = files.results.length;
    const say = () => { shown.textContent = `${plural(files.count, text ? 'matching file' : 'file')}${folders.length ? `, ${plural(folders.length, 'folder')}` : ''}${count < files.count ? ` · ${count.toLocaleString()} shown` : ''}`; };
    say();
    let next = files.next;
    const more = h('button', { class: 'more', id: 'files-more', hidden: !next }, `Show ${PAGE} more`);
    more.addEventListener('click', async () => {
      more.disabled = true;
      const page = await api(next.replace(/^\/api\/v1/, ''));
      tbody.append(...page.results.map(fileRow));
      count += page.results.length;
      next = page.next;
      more.hidden = !next;
      more.disabled = false;
      say();
    });
    replace(results,
      folders.length || files.results.length
        ? h('table', { id: 'files-table', class: 'table files', dataset: { sort } },
          h('thead', {}, h('tr', {}, COLUMNS.map(([key, label]) => header(key, label)))),
          tbody)
        : h('p', { class: 'muted' }, text ? `No file in ${prefix || 'this collection'} matches “${text}”.` : 'This folder is empty.'),
      more);
  };
  filter.addEventListener('input', debounce(() => {
    state.text = filter.value.trim();
    history.replaceState(null, '', urlOf());
    draw();
  }, 200));
  await draw();
  replace(body, h('div', { class: 'toolbar files-toolbar' }, crumbs, filter, shown), results);
}
