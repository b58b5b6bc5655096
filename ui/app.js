// The UI's shell: a router over the History API (every view has its own URL,
// so deep links, reload and the back button work; the server answers the
// page for `/` and `/c/...`), the live-update wiring, and the token prompt.
//
// Each view module exports `render(ctx)` which fills `ctx.main` and may
// return `{ onEvent(type, data) -> bool }`: true asks for a refresh. When a
// view has rendered, `document.body.dataset.ready` names it (tests and the
// bench wait for that) and the first one marks `bs:painted`.

import { h, replace, debounce } from './dom.js';
import { ApiError, followEvents, setToken } from './api.js';

const routes = [
  [/^\/$/, 'collections', () => import('./views/collections.js')],
  [/^\/c\/([^/]+)\/?$/, 'collection', () => import('./views/collection.js'), (m) => ({ slug: m[1], tab: null })],
  [/^\/c\/([^/]+)\/(outline|files|history|links)$/, 'collection', () => import('./views/collection.js'), (m) => ({ slug: m[1], tab: m[2] })],
  [/^\/c\/([^/]+)\/files\/(.+\/)$/, 'collection', () => import('./views/collection.js'), (m) => ({ slug: m[1], tab: 'files', folder: m[2] })],
  [/^\/c\/([^/]+)\/f\/(.+)$/, 'file', () => import('./views/file.js'), (m) => ({ slug: m[1], path: m[2] })],
  [/^\/c\/([^/]+)\/v\/(\d+)$/, 'version', () => import('./views/version.js'), (m) => ({ slug: m[1], number: Number(m[2]) })],
  [/^\/c\/([^/]+)\/diff$/, 'diff', () => import('./views/version.js'), (m) => ({ slug: m[1], diff: true })],
  [/^\/c\/([^/]+)\/graph\/(.+)$/, 'graph', () => import('./views/graph.js'), (m) => ({ slug: m[1], path: m[2] })],
];

const main = document.getElementById('view');
const crumbs = document.getElementById('crumbs');
const notice = document.getElementById('live-notice');
let current = null; // { name, view, token }
let generation = 0;
let painted = false;

function decode(part) {
  return part.split('/').map(decodeURIComponent).join('/');
}

function match(pathname) {
  for (const [pattern, name, load, params] of routes) {
    const m = pathname.match(pattern);
    if (m) {
      const decoded = m.map((x, i) => (i === 0 || x === undefined ? x : decode(x)));
      return { name, load, params: params ? params(decoded) : {} };
    }
  }
  return null;
}

/** Shows the view of the current URL; `refresh` keeps scroll and focus. */
async function show({ refresh = false } = {}) {
  const mine = ++generation;
  const url = new URL(location.href);
  const route = match(url.pathname);
  if (!refresh) delete document.body.dataset.ready;
  if (!route) {
    renderError(new ApiError(404, 'not_found', `Nothing here: ${url.pathname}`));
    return;
  }
  const scroll = refresh ? window.scrollY : 0;
  const target = refresh ? document.createElement('main') : main;
  if (!refresh) {
    main.setAttribute('aria-busy', 'true');
  }
  try {
    const module = await route.load();
    const ctx = {
      main: target,
      params: route.params,
      search: url.searchParams,
      crumbs: (items) => setCrumbs(items),
      navigate,
      stale: () => mine !== generation,
      refresh: () => show({ refresh: true }),
    };
    if (!refresh) replace(main, h('p', { class: 'loading' }, 'Loading…'));
    const view = (await module.render(ctx)) || {};
    if (mine !== generation) return;
    if (refresh) {
      const kept = keptInput(main);
      main.replaceChildren(...target.childNodes);
      restoreInput(main, kept);
      window.scrollTo(0, scroll);
    }
    current = { name: route.name, view };
    main.dataset.view = route.name;
    main.removeAttribute('aria-busy');
    document.body.dataset.ready = route.name;
    if (!painted) {
      painted = true;
      requestAnimationFrame(() => setTimeout(() => performance.mark('bs:painted'), 0));
    }
    if (!refresh) {
      const heading = main.querySelector('h1');
      if (heading && document.activeElement === document.body) heading.focus?.();
    }
  } catch (error) {
    if (mine !== generation) return;
    renderError(error);
  }
}

/**
 * What the person was doing in a view about to be refreshed: the values they
 * changed in its form fields (by id) and the field with the focus, so a live
 * update does not undo a half-made choice.
 */
function keptInput(root) {
  const values = new Map();
  for (const field of root.querySelectorAll('select[id], input[id], textarea[id]')) {
    const changed = field instanceof HTMLSelectElement
      ? [...field.options].some((o) => o.selected !== o.defaultSelected)
      : field.type === 'checkbox' || field.type === 'radio'
        ? field.checked !== field.defaultChecked
        : field.value !== field.defaultValue;
    if (changed) values.set(field.id, field.type === 'checkbox' || field.type === 'radio' ? field.checked : field.value);
  }
  const focused = root.contains(document.activeElement) && document.activeElement.id ? document.activeElement.id : null;
  return { values, focused };
}

function restoreInput(root, { values, focused }) {
  for (const [id, value] of values) {
    const field = root.querySelector(`#${CSS.escape(id)}`);
    if (!field) continue;
    if (typeof value === 'boolean') field.checked = value;
    else if (!(field instanceof HTMLSelectElement) || [...field.options].some((o) => o.value === value)) field.value = value;
  }
  if (focused) root.querySelector(`#${CSS.escape(focused)}`)?.focus({ preventScroll: true });
}

function renderError(error) {
  main.removeAttribute('aria-busy');
  current = { name: 'error', view: {} };
  if (error instanceof ApiError && error.status === 401) {
    const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true });
    replace(main,
      h('h1', { tabindex: -1 }, 'This server needs a token'),
      h('p', {}, 'It was started with ', h('code', {}, 'blockstore serve --token'), '. Enter that token; it is kept for this tab only.'),
      h('form', { class: 'token-form', onsubmit: (e) => { e.preventDefault(); setToken(input.value.trim()); restartEvents(); show(); } },
        h('label', { for: 'token' }, 'Token'), input, h('button', { class: 'primary', type: 'submit' }, 'Continue')));
    input.focus();
  } else {
    const status = error instanceof ApiError ? error.status : null;
    // A way back: the collection the URL is in, and the list of all.
    const inCollection = /^\/c\/([^/]+)\/./.exec(location.pathname);
    const slug = inCollection ? decodeURIComponent(inCollection[1]) : null;
    replace(main,
      h('h1', { tabindex: -1 }, status === 404 ? 'Not found' : 'Something went wrong'),
      h('p', { class: 'error' }, error.message || String(error)),
      h('p', { class: 'actions' },
        slug ? [h('a', { href: `/c/${encodeURIComponent(slug)}` }, `Back to ${slug}`), ' · '] : null,
        h('a', { href: '/' }, 'All collections')));
  }
  document.body.dataset.ready = 'error';
}

function setCrumbs(items) {
  replace(crumbs, items.map((item, i) => [
    i > 0 ? h('span', { class: 'sep', 'aria-hidden': 'true' }, '/') : null,
    item.href && i < items.length - 1
      ? h('a', { href: item.href }, item.label)
      : h('span', { 'aria-current': i === items.length - 1 ? 'page' : null }, item.label),
  ]));
}

export function navigate(to, { replaceState = false } = {}) {
  if (replaceState) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  show();
}

// Same-origin links navigate inside the page (new tab and modified clicks
// keep the browser's own behaviour).
document.addEventListener('click', (event) => {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  // SVG links carry their target in an attribute, not a string property.
  const url = new URL(a.getAttribute('href'), location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  event.preventDefault();
  if (url.href === location.href) return;
  navigate(url.pathname + url.search + url.hash);
});
window.addEventListener('popstate', () => show());

// Live updates: a burst of events (a folder save, an import) is one refresh.
let pending = [];
const flush = debounce(() => {
  const events = pending;
  pending = [];
  if (!current?.view?.onEvent) return;
  const wanted = events.filter(({ type, data }) => current.view.onEvent(type, data));
  if (!wanted.length) return;
  announce(wanted);
  show({ refresh: true });
}, 250);

function describe({ type, data }) {
  const c = data?.collection ? ` in ${data.collection}` : '';
  switch (type) {
    case 'draft.changed': {
      // Say what changed: the paths when there are few.
      const paths = data?.paths || [];
      const of = data?.collection ? ` of ${data.collection}` : '';
      if (paths.length === 1) return `${paths[0]} changed in the draft${of}`;
      if (paths.length <= 3) return `${paths.join(', ')} changed in the draft${of}`;
      return `${paths.length} files changed in the draft${of}`;
    }
    case 'collection.published': return `Version ${data?.version} published${c}`;
    case 'collection.reverted': return `Draft reverted${c}`;
    case 'collection.created': return `Collection ${data?.collection} created`;
    case 'collection.deleted': return `Collection ${data?.collection} deleted`;
    case 'gc.finished': return 'Old versions collected';
    default: return 'The store changed';
  }
}

let noticeTimer = 0;
function announce(events) {
  const text = events.length === 1 ? describe(events[0]) : `${describe(events[events.length - 1])} (and ${events.length - 1} more)`;
  notice.textContent = `Updated: ${text}`;
  notice.classList.add('shown');
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => notice.classList.remove('shown'), 4000);
}

const conn = document.getElementById('conn');
let stopEvents = null;
function restartEvents() {
  stopEvents?.();
  stopEvents = followEvents(
    (type, data) => { pending.push({ type, data }); flush(); },
    (up, why) => {
      conn.dataset.up = up ? 'true' : 'false';
      conn.textContent = up ? 'live' : 'offline';
      conn.title = up ? 'Live: changes appear as they happen' : `Not receiving live updates${why ? ': ' + why : ''}; retrying`;
    });
}

// A page kept in the back/forward cache must not hold its event stream open:
// browsers allow six connections per host, and each cached page would keep one.
window.addEventListener('pagehide', () => { stopEvents?.(); stopEvents = null; });
window.addEventListener('pageshow', (event) => {
  if (event.persisted) {
    restartEvents();
    show({ refresh: true });
  }
});

restartEvents();
show();
