// Nodes: one card per node the server reports (one for a standalone
// Herald; cluster nodes appear as the server lists them).

import { stream } from '../api.js';
import * as f from '../format.js';
import { add, empty, h, icon, replace } from '../ui.js';

export function mount(view, _params, ctx) {
  ctx.crumbs('Nodes');
  const sub = h('div.sub', 'Loading…');
  const list = h('div.grid', { id: 'nodes' });
  add(view, h('div.page-head', h('div.title', h('h1', 'Nodes'), sub)), list);

  const s = stream('api/stream/overview', {
    overview: (doc) => {
      const nodes = doc.nodes || [];
      if (nodes[0]) ctx.setHost(nodes[0].host);
      sub.textContent = `${nodes.length} node${nodes.length === 1 ? '' : 's'}` +
        (doc.storage ? ` · ${f.bytes(doc.storage.bytes)} stored in ${f.num(doc.storage.streams)} streams` : '');
      replace(list, nodes.length ? nodes.map((n) => card(n)) : h('div.card', empty('No nodes', 'The server reported none.')));
    },
  });
  return () => s.close();
}

function card(n) {
  const up = n.startedAt ? Date.now() - new Date(n.startedAt).getTime() : 0;
  const heapShare = n.memoryUsed ? Math.min(100, (100 * n.memoryHeap) / n.memoryUsed) : 0;
  const meter = h('div.meter', h('div'));
  meter.firstChild.style.width = heapShare.toFixed(1) + '%';
  return h('div.card.node-card', { 'data-host': n.host },
    h('div.card-head',
      h('h2', icon('nodes'), n.host || 'unknown host'),
      h('div.actions', h('span.badge.badge-soft', cap(n.role || 'node')), h('span.badge.badge-ok', h('span.dot.dot-ok'), 'Running'))),
    h('div.card-body',
      h('div.kv-grid',
        item('Version', n.version || '—'),
        item('Uptime', n.startedAt ? f.duration(up) : '—'),
        item('Started', n.startedAt ? f.dateTime(n.startedAt) : '—'),
        item('Connected clients', n.clients >= 0 ? f.num(n.clients) : '—'),
        item('CPU cores', n.cpuCores ? f.num(n.cpuCores) : '—'),
        item('Goroutines', n.goroutines ? f.num(n.goroutines) : '—'),
        item('Memory from OS', n.memoryUsed ? f.bytes(n.memoryUsed) : '—'),
        h('div', h('div.k', 'Live heap'), h('div.v', n.memoryHeap ? f.bytes(n.memoryHeap) : '—'), n.memoryUsed ? meter : null))));
}

function item(k, v) { return h('div', h('div.k', k), h('div.v', v)); }
function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
