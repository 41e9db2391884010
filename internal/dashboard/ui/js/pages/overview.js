// Overview: nodes, channels and clients by type, live message rates,
// storage, and the channels active most recently.

import { stream } from '../api.js';
import { LineChart } from '../chart.js';
import * as f from '../format.js';
import { add, channelHref, empty, h, replace, stat, table, typeBadge, typeColors } from '../ui.js';

export function mount(view, _params, ctx) {
  ctx.crumbs('Overview');
  const sub = h('div.sub', 'Loading…');
  const problems = h('div.banner', { hidden: true });
  const stats = h('div.grid.grid-stats', { id: 'overview-stats' });
  const chart = new LineChart([
    { key: 'in', label: 'In', color: '#4f46e5' },
    { key: 'out', label: 'Out', color: '#0d9488' },
  ], { fmt: (v) => (v < 10 ? String(Math.round(v * 100) / 100) : f.compact(v)) });
  const nowRates = h('span.hint');
  const nodeBody = h('div.card-body');
  const typesBody = h('div.card-body.flush');
  const recentBody = h('div.card-body.flush');

  add(view,
    h('div.page-head', h('div.title', h('h1', 'Overview'), sub)),
    problems,
    stats,
    h('div.grid.grid-2-1',
      h('div.card',
        h('div.card-head', h('h2', 'Messages per second'),
          h('div.legend', h('span', h('i', { class: 'lg-in' }), 'In'), h('span', h('i', { class: 'lg-out' }), 'Out'), nowRates)),
        h('div.card-body', chart.el)),
      h('div.card', h('div.card-head', h('h2', 'Node'), h('a.hint', { href: '#/nodes' }, 'All nodes')), nodeBody)),
    h('div.grid.grid-2',
      h('div.card', h('div.card-head', h('h2', 'Channels by type')), typesBody),
      h('div.card', h('div.card-head', h('h2', 'Recently active channels'), h('span.hint', 'last 10')), recentBody)),
  );
  // Legend swatches take the series colours.
  view.querySelector('.lg-in').style.background = '#4f46e5';
  view.querySelector('.lg-out').style.background = '#0d9488';

  const s = stream('api/stream/overview', {
    overview: (doc) => render(doc),
    problem: (p) => { problems.hidden = false; problems.textContent = p.error; },
  });

  function render(doc) {
    const node = (doc.nodes || [])[0];
    if (node) ctx.setHost(node.host);
    sub.textContent = node
      ? `${brokerName(node.version)} on ${node.host}` +
        (node.startedAt ? ' · up ' + f.duration(Date.now() - new Date(node.startedAt).getTime()) : '')
      : 'No node information';
    problems.hidden = !doc.problems;
    if (doc.problems) problems.textContent = 'Some data could not be read: ' + doc.problems.join('; ');

    const types = doc.types || [];
    const totalCh = types.reduce((a, t) => a + t.channels, 0);
    const activeCh = types.reduce((a, t) => a + t.active, 0);
    const known = types.some((t) => t.clients >= 0);
    const clients = known ? types.reduce((a, t) => a + Math.max(0, t.clients), 0) : (node && node.clients >= 0 ? node.clients : null);
    const rates = doc.rates || [];
    const last = rates.length ? rates[rates.length - 1] : null;
    const tr = doc.traffic;
    replace(stats,
      stat('Channels', 'channels', f.num(totalCh), `${f.num(activeCh)} active`, { 'data-stat': 'channels' }),
      stat('Clients', 'clients', clients === null ? '—' : f.num(clients), 'subscribers and receivers', { 'data-stat': 'clients' }),
      stat('Incoming', 'inbox', [last ? f.compact(last.in) : '0', h('small', 'msg/s')],
        tr ? `${f.num(tr.messagesIn)} messages · ${f.bytes(tr.bytesIn)}` : '—', { 'data-stat': 'in' }),
      stat('Outgoing', 'outbox', [last ? f.compact(last.out) : '0', h('small', 'msg/s')],
        tr ? `${f.num(tr.messagesOut)} messages · ${f.bytes(tr.bytesOut)}` : '—', { 'data-stat': 'out' }),
      stat('Storage', 'disk', doc.storage ? f.bytes(doc.storage.bytes) : '—',
        doc.storage ? `${f.num(doc.storage.streams)} streams${doc.storage.partial ? ' · queues only' : ''}` : 'unknown', { 'data-stat': 'storage' }),
    );
    chart.set(doc.rates || []);
    nowRates.textContent = last ? `now ${f.rate(last.in)} in · ${f.rate(last.out)} out` : '';

    replace(nodeBody, node ? h('dl.list-kv', { id: 'node-summary' },
      h('dt', 'Host'), h('dd', { 'data-field': 'host' }, node.host || '—'),
      h('dt', 'Version'), h('dd', node.version || '—'),
      h('dt', 'Role'), h('dd', cap(node.role || '—')),
      h('dt', 'Uptime'), h('dd', node.startedAt ? f.duration(Date.now() - new Date(node.startedAt).getTime()) : '—'),
      h('dt', 'Memory'), h('dd', node.memoryUsed ? `${f.bytes(node.memoryHeap)} heap · ${f.bytes(node.memoryUsed)} total` : '—'),
      h('dt', 'Goroutines'), h('dd', node.goroutines ? f.num(node.goroutines) : '—'),
      h('dt', 'CPU cores'), h('dd', node.cpuCores ? f.num(node.cpuCores) : '—'),
      h('dt', 'Connected clients'), h('dd', node.clients >= 0 ? f.num(node.clients) : '—'),
    ) : empty('No node', 'The server reported no node.'));

    const bar = h('div.typebar', types.filter((t) => t.channels).map((t) => {
      const d = h('div', { title: `${f.typeName(t.type)}: ${t.channels}` });
      d.style.width = (100 * t.channels / Math.max(1, totalCh)) + '%';
      d.style.background = typeColors[t.type];
      return d;
    }));
    replace(typesBody,
      table([
        { label: 'Type', cell: (t) => {
          const dot = h('span.type-dot'); dot.style.background = typeColors[t.type];
          return h('a', { href: listHref(t.type) }, dot, f.typeName(t.type));
        } },
        { label: 'Channels', num: true, cell: (t) => f.num(t.channels) },
        { label: 'Active', num: true, cell: (t) => f.num(t.active) },
        { label: 'Clients', num: true, cell: (t) => (t.clients >= 0 ? f.num(t.clients) : '—') },
        { label: 'In', num: true, cell: (t) => f.num(t.messagesIn) },
        { label: 'Out', num: true, cell: (t) => f.num(t.messagesOut) },
        { label: 'Waiting', num: true, cell: (t) => (t.type === 'queues' ? f.num(t.waiting) : h('span.faint', '—')) },
      ], types, { attrs: { id: 'types-table' } }),
      totalCh ? h('div.card-body', bar) : null);

    replace(recentBody, (doc.recent || []).length
      ? table([
        { label: 'Channel', cls: 'name', cell: (c) => h('a', { href: channelHref(c.type, c.name) }, c.name) },
        { label: 'Type', cell: (c) => typeBadge(c.type) },
        { label: 'In', num: true, cell: (c) => f.num(c.incoming.messages) },
        { label: 'Out', num: true, cell: (c) => f.num(c.outgoing.messages) },
        { label: 'Last activity', cell: (c) => h('span.muted', { title: f.dateTime(c.lastActivity) }, f.ago(c.lastActivity)) },
      ], doc.recent, { attrs: { id: 'recent-table' } })
      : empty('No activity yet', 'Channels show up here once messages flow.'));
  }

  return () => { s.close(); chart.destroy(); };
}

// brokerName reads Herald's Ping version, "2.4.0+herald.0.1.0": Herald
// 0.1.0; another broker's version is shown as it is.
function brokerName(v) {
  if (!v) return 'Broker';
  const i = v.indexOf('+herald.');
  return i >= 0 ? 'Herald ' + v.slice(i + 8) : 'Broker ' + v;
}

function listHref(type) { return '#/channels/' + type; }
function cap(s) { return s.charAt(0).toUpperCase() + s.slice(1); }
