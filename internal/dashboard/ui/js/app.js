// The shell: navigation, hash routing, the token prompt and the
// connection indicator. Each page module exports mount(view, params, ctx)
// and returns a cleanup function that closes its streams.

import { api, onAuthNeeded, onStatus, setToken, token } from './api.js';
import { h, icon, modal, replace } from './ui.js';
import * as overview from './pages/overview.js';
import * as channels from './pages/channels.js';
import * as queue from './pages/queue.js';
import * as pubsub from './pages/pubsub.js';
import * as cq from './pages/cq.js';
import * as nodes from './pages/nodes.js';

const nav = [
  { href: '#/', label: 'Overview', icon: 'overview', match: (p) => p[0] === '' },
  { href: '#/channels/queues', label: 'Queues', icon: 'queue', match: (p) => (p[0] === 'channels' && p[1] === 'queues') || p[0] === 'queue' },
  { href: '#/channels/events', label: 'Pub/Sub', icon: 'pubsub', match: (p) => (p[0] === 'channels' && (p[1] === 'events' || p[1] === 'events_store')) || p[0] === 'pubsub' },
  { href: '#/channels/commands', label: 'Commands & Queries', icon: 'cq', match: (p) => (p[0] === 'channels' && (p[1] === 'commands' || p[1] === 'queries')) || p[0] === 'cq' },
  { href: '#/nodes', label: 'Nodes', icon: 'nodes', match: (p) => p[0] === 'nodes' },
];

let cleanup = null;

// crumbs sets the top bar: [[label, href], …, label].
function crumbs(...items) {
  const el = document.getElementById('crumbs');
  const parts = [];
  items.forEach((it, i) => {
    if (i) parts.push(h('span.sep', '/'));
    if (Array.isArray(it)) parts.push(h('a', { href: it[1] }, it[0]));
    else parts.push(h('span.here', it));
  });
  replace(el, parts);
  document.title = (items.length ? (Array.isArray(items[items.length - 1]) ? items[items.length - 1][0] : items[items.length - 1]) + ' · ' : '') + 'Herald';
}

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const parts = hash.split('/').map((s) => {
    try { return decodeURIComponent(s); } catch { return s; }
  });
  const navEl = document.getElementById('nav');
  replace(navEl, nav.map((n) => h('a', { href: n.href, class: n.match(parts) ? 'active' : '' }, icon(n.icon), n.label)));
  if (cleanup) { try { cleanup(); } catch (e) { console.error(e); } }
  cleanup = null;
  const view = document.getElementById('view');
  view.replaceChildren();
  window.scrollTo(0, 0);
  const ctx = { crumbs, setHost, go: (href) => { location.hash = href; } };
  let page = null, params = {};
  switch (parts[0]) {
    case '': page = overview; break;
    case 'channels': page = channels; params = { type: parts[1] || 'queues' }; break;
    case 'queue': page = queue; params = { name: parts.slice(1).join('/') }; break;
    case 'pubsub': page = pubsub; params = { type: parts[1], name: parts.slice(2).join('/') }; break;
    case 'cq': page = cq; params = { type: parts[1], name: parts.slice(2).join('/') }; break;
    case 'nodes': page = nodes; break;
  }
  if (!page) {
    crumbs('Not found');
    view.append(h('div.card', h('div.empty', h('strong', 'Nothing here'), h('a', { href: '#/' }, 'Back to the overview'))));
    return;
  }
  cleanup = page.mount(view, params, ctx) || null;
}

// The token prompt, shown when the API answers 401.
function askToken() {
  return modal((close) => {
    const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', placeholder: 'Paste your token', required: true });
    const err = h('div.form-error', { hidden: true });
    return h('form', {
      id: 'token-form',
      onsubmit: async (e) => {
        e.preventDefault();
        const t = input.value.trim();
        if (!t) return;
        setToken(t);
        try {
          const res = await fetch('api/session', { headers: { Authorization: 'Bearer ' + t } });
          if (res.status === 401) {
            let msg = 'The token was refused';
            try { msg = (await res.json()).error || msg; } catch { /* keep */ }
            setToken('');
            err.textContent = msg;
            err.hidden = false;
            return;
          }
        } catch { /* the caller retries and reports */ }
        document.getElementById('signout').hidden = false;
        close(true);
      },
      oncancel: (e) => e.preventDefault(),
    },
    h('div.dlg-head', h('h2', 'Sign in to Herald'), h('p', 'This dashboard needs a broker token. It is kept in this browser tab only.')),
    h('div.dlg-body', h('label.field', h('span', 'Token'), input), err),
    h('div.dlg-foot', h('button.btn.btn-primary', { type: 'submit' }, icon('key'), 'Sign in')));
  });
}

function connection(ok, msg) {
  const el = document.getElementById('conn');
  const live = document.getElementById('live');
  if (ok) {
    if (el.dataset.state !== 'ok') {
      el.dataset.state = 'ok';
      replace(el, h('span.dot.dot-ok'), h('span.conn-text', el.dataset.host ? 'Connected to ' + el.dataset.host : 'Connected'));
    }
    live.hidden = false;
  } else {
    el.dataset.state = 'bad';
    replace(el, h('span.dot.dot-bad'), h('span.conn-text', { title: msg || '' }, msg || 'Disconnected'));
    live.hidden = true;
  }
}

// setHost names the broker node in the sidebar once the overview knows it.
function setHost(host) {
  const el = document.getElementById('conn');
  if (!host || el.dataset.host === host) return;
  el.dataset.host = host;
  el.dataset.state = '';
  connection(true);
}

async function start() {
  onAuthNeeded(askToken);
  onStatus(connection);
  const signout = document.getElementById('signout');
  signout.addEventListener('click', () => { setToken(''); location.reload(); });
  window.addEventListener('hashchange', route);
  route();
  try {
    const s = await api('GET', 'api/session');
    signout.hidden = !(s && s.auth && token());
  } catch { /* shown by the indicator */ }
}

start();
