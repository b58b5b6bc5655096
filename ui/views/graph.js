// `/c/SLUG/graph/PATH`: the links around one unit as a picture. Parents (what
// links to it) on the left, the unit in the middle, what it links to on the
// right — child blocks and bodies, then assets — with broken targets drawn
// dashed in red. Every node is a link to its file; the small ring re-centres
// the picture on that node. A hand-made layered layout: the neighbourhood of
// one unit is two or three columns, which needs no general graph library.

import { h, svg, replace, plural } from '../dom.js';
import { api, collectionPath, encPath, enc } from '../api.js';
import { fileHref, blockNames } from './collection.js';

const W = 230;
const H = 46;
const GAP = 14;
const COL = 320;
const PAD = 24;

function nodeOf(slug, { key, path, label, sub, cls }) {
  const href = path ? fileHref(slug, path) : null;
  const box = [
    svg('rect', { width: W, height: H, rx: 8, class: 'box' }),
    svg('text', { x: 12, y: 19, class: 'label' }, label.length > 30 ? label.slice(0, 29) + '…' : label),
    svg('text', { x: 12, y: 35, class: 'sub' }, sub.length > 38 ? sub.slice(0, 37) + '…' : sub),
    svg('title', {}, path && path !== label ? `${label}\n${path}` : label),
  ];
  const g = svg('g', { class: `node ${cls}`, dataset: { path: path || '', key } },
    href ? svg('a', { href, 'aria-label': `${label} (${sub})` }, box) : box,
    path && cls !== 'center'
      ? svg('a', { href: `/c/${enc(slug)}/graph/${encPath(path)}`, class: 'recenter', 'aria-label': `Centre the picture on ${label}` },
        svg('circle', { cx: W - 14, cy: 14, r: 7 }), svg('title', {}, 'Centre on this'))
      : null);
  return g;
}

export async function render(ctx) {
  const { slug, path } = ctx.params;
  const [summary, file] = await Promise.all([
    api(collectionPath(slug)),
    api(collectionPath(slug, `/files/${encPath(path)}?version=draft`)),
  ]);
  const base = `/c/${enc(slug)}`;
  const title = summary.title || slug;
  // Boxes show display names where the outline has them, file names otherwise.
  const names = await blockNames(summary.slug, summary.units);
  const describe = (p) => {
    const parts = p.split('/');
    const file = parts.pop();
    const folder = parts.join('/') + (parts.length ? '/' : '');
    const block = names.get(p);
    return block ? { label: block.name, folder: `${block.type} · ${file}` } : { label: file, folder };
  };
  const me = describe(path);
  document.title = `Links of ${me.label} · ${title} · Blockstore`;
  ctx.crumbs([{ label: 'Collections', href: '/' }, { label: title, href: base }, { label: me.label, href: fileHref(slug, path) }, { label: 'Links picture' }]);

  // Columns: parents | the unit | blocks it links to | assets.
  const seen = new Set();
  const parents = [];
  for (const l of file.incoming) {
    if (seen.has('in:' + l.source_path)) continue;
    seen.add('in:' + l.source_path);
    const d = describe(l.source_path);
    parents.push({ key: 'in:' + l.source_path, path: l.source_path, label: d.label, sub: `${l.kind} · ${d.folder}`, cls: 'parent' });
  }
  const blocks = [];
  const assets = [];
  // An html block's assets are in its body file: follow `body` links one hop,
  // so the picture shows them (and their broken targets) too.
  const bodies = file.links.filter((l) => l.kind === 'body' && l.resolution?.status === 'resolved');
  const bodyLinks = await Promise.all(bodies.map((l) =>
    api(collectionPath(slug, `/files/${encPath(l.resolution.path)}?version=draft`))
      .then((d) => d.links.filter((x) => x.kind === 'static').map((x) => ({ ...x, via: l.resolution.path })))
      .catch(() => [])));
  for (const l of [...file.links, ...bodyLinks.flat()]) {
    const r = l.resolution || {};
    const target = r.status === 'resolved' ? r.path : null;
    const key = 'out:' + (target || `${r.status}:${l.written}`);
    if (seen.has(key)) continue;
    seen.add(key);
    const isAsset = l.kind === 'static';
    let node;
    if (target) {
      const d = describe(target);
      node = { key, path: target, label: d.label, sub: `${l.kind} · ${d.folder}`, cls: isAsset ? 'asset' : 'child' };
    } else if (r.status === 'collection') {
      node = { key, path: null, label: l.written, sub: `in collection ${r.collection}`, cls: 'external' };
    } else if (r.status === 'external' || r.status === 'platform') {
      node = { key, path: null, label: l.written, sub: r.status === 'external' ? `${l.kind} · outside the course` : `${l.kind} · edx-platform's own file`, cls: 'external' };
    } else {
      node = { key, path: null, label: l.written, sub: `${l.kind} · ${r.status === 'ambiguous' ? 'ambiguous' : 'broken: not in the draft'}`, cls: r.status === 'ambiguous' ? 'ambiguous' : 'broken' };
    }
    node.via = l.via ? 'out:' + l.via : null;
    (isAsset ? assets : blocks).push(node);
  }
  const columns = [parents, [{ key: 'me', path, label: me.label, sub: `${file.kind} · ${me.folder}`, cls: 'center' }], blocks, assets].filter((c, i) => i === 1 || c.length);
  const tallest = Math.max(...columns.map((c) => c.length));
  const height = PAD * 2 + tallest * H + (tallest - 1) * GAP;
  const width = PAD * 2 + (columns.length - 1) * COL + W;
  const position = new Map();
  columns.forEach((col, ci) => {
    const colHeight = col.length * H + (col.length - 1) * GAP;
    const top = (height - colHeight) / 2;
    col.forEach((n, i) => position.set(n.key, { x: PAD + ci * COL, y: top + i * (H + GAP), n }));
  });
  const center = position.get('me');
  const edge = (from, to, cls) => {
    const x1 = from.x + W;
    const y1 = from.y + H / 2;
    const x2 = to.x;
    const y2 = to.y + H / 2;
    const mid = (x1 + x2) / 2;
    return svg('path', { class: `edge ${cls}`, d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, 'marker-end': 'url(#arrow)' });
  };
  const edges = [];
  for (const p of parents) edges.push(edge(position.get(p.key), center, 'in'));
  for (const n of [...blocks, ...assets]) {
    const from = (n.via && position.get(n.via)) || center;
    edges.push(edge(from, position.get(n.key), n.cls));
  }
  const picture = svg('svg', {
    class: 'graph', viewBox: `0 0 ${width} ${height}`, width, height, role: 'group',
    'aria-label': `Links of ${path}: ${plural(parents.length, 'parent')}, ${plural(blocks.length, 'linked block')}, ${plural(assets.length, 'asset')}`,
  },
  svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
  svg('g', { class: 'edges' }, edges),
  [...position.values()].map(({ x, y, n }) => {
    const g = nodeOf(slug, n);
    g.setAttribute('transform', `translate(${x},${y})`);
    return g;
  }));
  const broken = [...blocks, ...assets].filter((n) => n.cls === 'broken').length;
  replace(ctx.main,
    h('header', { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Links of ', h('a', { href: fileHref(slug, path) }, me.label)),
      h('p', { class: 'facts' }, h('code', {}, path), ' · ', plural(parents.length, 'parent'), ' · ', plural(blocks.length, 'linked block'), ' · ', plural(assets.length, 'asset'),
        broken ? [' · ', h('span', { class: 'flag bad' }, `${broken} broken`)] : null)),
    h('ul', { class: 'legend', 'aria-label': 'Legend' },
      [['parent', 'links here'], ['center', 'this file'], ['child', 'linked block'], ['asset', 'asset'], ['broken', 'broken target']]
        .map(([cls, text]) => h('li', {}, h('span', { class: `swatch ${cls}`, 'aria-hidden': 'true' }), text))),
    h('div', { class: 'graph-wrap' }, picture),
    h('p', { class: 'muted small' }, 'Click a box to open its file; the ring centres the picture on it.'));
  return { onEvent: (type, data) => type === 'store.changed' || data?.collection === summary.slug };
}
