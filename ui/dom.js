// Building DOM without innerHTML: every string becomes a text node, so stored
// content (paths, display names, XML) is never parsed as markup in the UI's
// origin. `h` builds HTML elements, `svg` SVG ones.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(element, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else if (key === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(key, '');
    } else {
      element.setAttribute(key, String(value));
    }
  }
  append(element, children);
  return element;
}

/** Appends children: nodes, strings (as text), numbers, arrays; skips null. */
export function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
  return parent;
}

export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Replaces a node's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

/** `/c/SLUG/...` URLs, each segment encoded (paths keep their slashes). */
export function href(...parts) {
  return '/' + parts.map((p) => String(p).split('/').map(encodeURIComponent).join('/')).join('/');
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

const UNITS = [['year', 31536e6], ['month', 2592e6], ['day', 864e5], ['hour', 36e5], ['minute', 6e4], ['second', 1e3]];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

/** A `<time>` saying "3 minutes ago", with the exact time as its title. */
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, 'never');
  const date = new Date(iso);
  const delta = date.getTime() - Date.now();
  let text = date.toLocaleString();
  for (const [unit, ms] of UNITS) {
    if (Math.abs(delta) >= ms || unit === 'second') {
      text = relative.format(Math.round(delta / ms), unit);
      break;
    }
  }
  return h('time', { datetime: iso, title: date.toLocaleString() }, text);
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do { v /= 1024; i++; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function plural(n, one, many = one + 's') {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}

/** Calls `f` once calls have stopped for `ms`. */
export function debounce(f, ms) {
  let timer = 0;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => f(...args), ms);
  };
}

/**
 * A modal `<dialog>` asking to confirm; resolves to the form's values or
 * null. `cancel: false` makes it a notice with one button.
 */
export function confirmDialog({ id, title, body, confirm, confirmId, danger, cancel = true }) {
  return new Promise((resolve) => {
    const dialog = h('dialog', { id, 'aria-labelledby': `${id}-title` },
      h('form', { method: 'dialog' },
        h('h2', { id: `${id}-title` }, title),
        body,
        h('div', { class: 'actions' },
          cancel ? h('button', { value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel') : null,
          h('button', { id: confirmId, value: 'ok', type: 'submit', class: danger ? 'danger' : 'primary' }, confirm))));
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok';
      const values = ok ? Object.fromEntries(new FormData(dialog.querySelector('form'))) : null;
      dialog.remove();
      resolve(values);
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

const TREE_KEYS = new Set(['ArrowUp', 'ArrowDown', 'ArrowLeft', 'ArrowRight', 'Home', 'End']);

/**
 * Arrow keys for a tree (`[role=tree]` of `li[role=treeitem]` rows, each with
 * a `.node-row` holding an optional `button.toggle` and a link), as the
 * WAI-ARIA tree pattern has them: Up/Down to the previous/next visible row,
 * Right opens a closed row or moves into an open one, Left closes an open row
 * or moves to its parent, Home/End to the first/last row. Tab still visits
 * every control: the keys are a faster way, not the only one.
 */
export function treeKeys(tree) {
  const target = (li) =>
    li.querySelector(':scope > .node-row a.node-link[href], :scope > .node-row > a[href]')
    || li.querySelector(':scope > .node-row > button.toggle');
  tree.addEventListener('keydown', (e) => {
    if (!TREE_KEYS.has(e.key) || e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
    const li = e.target.closest('li[role="treeitem"]');
    if (!li || !tree.contains(li)) return;
    e.preventDefault();
    const rows = [...tree.querySelectorAll('li[role="treeitem"]')]
      .filter((row) => row.getClientRects().length && target(row));
    const i = rows.indexOf(li);
    const toggle = li.querySelector(':scope > .node-row > button.toggle');
    const open = toggle?.getAttribute('aria-expanded') === 'true';
    let next = null;
    if (e.key === 'ArrowDown') next = rows[i + 1];
    else if (e.key === 'ArrowUp') next = rows[i - 1];
    else if (e.key === 'Home') next = rows[0];
    else if (e.key === 'End') next = rows[rows.length - 1];
    else if (e.key === 'ArrowRight') {
      if (toggle && !open) toggle.click();
      else if (open && rows[i + 1] && li.contains(rows[i + 1])) next = rows[i + 1];
    } else if (e.key === 'ArrowLeft') {
      if (toggle && open) toggle.click();
      else next = li.parentElement.closest('li[role="treeitem"]');
    }
    if (next && tree.contains(next)) target(next)?.focus();
  });
}

/**
 * The "Compare A with B" form: two pickers over `states` (`draft` or version
 * numbers) and a submit button; `go(from, to)` when it is submitted.
 */
export function compareForm({ states, from, to, ids = ['from', 'to'], button = 'Show changes', buttonId, go }) {
  const label = (s) => (s === 'draft' ? 'draft' : `version ${s}`);
  const pick = (id, text, value) => h('label', {}, text, ' ',
    h('select', { id, name: id }, states.map((s) => h('option', { value: s, selected: s === String(value) }, label(s)))));
  const [fromId, toId] = ids;
  return h('form', {
    class: 'compare',
    onsubmit: (e) => {
      e.preventDefault();
      go(e.target.querySelector(`#${fromId}`).value, e.target.querySelector(`#${toId}`).value);
    },
  }, pick(fromId, 'Compare', from), pick(toId, 'with', to), h('button', { id: buttonId, type: 'submit' }, button));
}

/**
 * A file as a person knows it: its block's display name with the path as a
 * subtitle, or the path alone when it has no name.
 */
export function named(name, path) {
  return name
    ? [h('span', { class: 'block-name' }, name), ' ', h('span', { class: 'path-sub' }, path)]
    : path;
}
