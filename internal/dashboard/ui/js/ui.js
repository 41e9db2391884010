// DOM building blocks. User data only ever goes in as text nodes.

import { typeName } from './format.js';

// h builds an element: h('a.btn.btn-primary', {href, onclick}, child, …).
// Children are nodes, strings (as text), arrays, or null/false (skipped).
export function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const el = document.createElement(tag || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className += (el.className ? ' ' : '') + v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'hidden' || k === 'selected') el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

// add appends children to el as h does (skipping null and false).
export function add(el, ...children) {
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

// Icons: 24×24 stroke paths (feather-style, drawn for this dashboard).
const paths = {
  overview: 'M3 13h8V3H3zM13 21h8V11h-8zM3 21h8v-6H3zM13 3v6h8V3z',
  queue: 'M4 6h16M4 12h16M4 18h10',
  pubsub: 'M4 12a8 8 0 0 1 16 0M8 12a4 4 0 0 1 8 0M12 12v8',
  cq: 'M7 7h10l-3-3M17 17H7l3 3',
  nodes: 'M4 5h16v5H4zM4 14h16v5H4zM8 7.5h.01M8 16.5h.01',
  search: 'M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zM21 21l-5-5',
  plus: 'M12 5v14M5 12h14',
  trash: 'M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3',
  send: 'M4 12l16-8-6 16-2-7z',
  eye: 'M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12zM12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z',
  download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
  play: 'M7 5l12 7-12 7z',
  stop: 'M7 7h10v10H7z',
  back: 'M15 6l-6 6 6 6',
  clients: 'M9 11a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM2 21a7 7 0 0 1 14 0M17 11a3 3 0 1 0 0-6M22 21a6 6 0 0 0-4-5.6',
  inbox: 'M3 13l3-8h12l3 8v6H3zM3 13h5l1 3h6l1-3h5',
  outbox: 'M12 15V4M7 9l5-5 5 5M3 14v6h18v-6',
  disk: 'M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3zM4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3',
  channels: 'M4 7h16M4 12h16M4 17h16M8 4v16',
  undo: 'M9 14L4 9l5-5M4 9h11a5 5 0 0 1 0 10h-3',
  key: 'M15 7a4 4 0 1 1-3.5 6L4 20.5V17h3v-3h3l1.5-1.5A4 4 0 0 1 15 7z',
  copy: 'M9 9h11v11H9zM5 15H4V4h11v1',
};

export function icon(name) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '1.9');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS('http://www.w3.org/2000/svg', 'path');
  p.setAttribute('d', paths[name] || '');
  svg.append(p);
  return svg;
}

export function toast(text, kind = 'ok') {
  const el = h('div.toast', { class: kind, role: 'status' }, text);
  document.getElementById('toasts').append(el);
  setTimeout(() => el.remove(), kind === 'bad' ? 7000 : 3500);
}

export function typeBadge(type) {
  return h('span.badge.badge-type', { class: 'badge-' + type }, typeName(type));
}

export function activeDot(active) {
  return h('span.dot', { class: active ? 'dot-ok' : 'dot-off', title: active ? 'has subscribers or receivers' : 'no subscribers' });
}

export function stat(label, iconName, value, foot, attrs = {}) {
  return h('div.card.stat', attrs,
    h('div.label', iconName ? icon(iconName) : null, label),
    h('div.value', value),
    foot ? h('div.foot', foot) : null);
}

export function empty(title, text) {
  return h('div.empty', h('strong', title), text);
}

export function field(label, control, hint) {
  return h('label.field', h('span', label), control, hint ? h('small', hint) : null);
}

// replace swaps el's children for the given ones.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// modal opens a dialog built by build(close); it resolves with what close
// was given, or undefined when dismissed.
export function modal(build) {
  return new Promise((resolve) => {
    const dlg = h('dialog');
    let result;
    const close = (v) => { result = v; dlg.close(); };
    dlg.append(build(close));
    dlg.addEventListener('close', () => { dlg.remove(); resolve(result); });
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('input, textarea, select');
    if (first) first.focus();
  });
}

export function confirmDialog(title, text, action = 'Delete') {
  return modal((close) => h('form', { method: 'dialog', onsubmit: (e) => { e.preventDefault(); close(true); } },
    h('div.dlg-head', h('h2', title), h('p', text)),
    h('div.dlg-foot',
      h('button.btn', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button.btn.btn-danger-solid', { type: 'submit', 'data-test': 'confirm' }, action))));
}

// tabs renders a tab bar; onChange gets the chosen key.
export function tabs(items, current, onChange) {
  const bar = h('div.tabs', { role: 'tablist' });
  const render = (cur) => {
    bar.replaceChildren(...items.map((it) => h('button', {
      type: 'button', role: 'tab', class: it.key === cur ? 'active' : '', 'data-tab': it.key,
      onclick: () => { render(it.key); onChange(it.key); },
    }, it.label, it.count !== undefined ? h('span.count', it.count) : null)));
  };
  render(current);
  return bar;
}

// table builds a table from column specs {label, num, cell(row) → node|string}.
export function table(columns, rows, opts = {}) {
  const thead = h('thead', h('tr', columns.map((c) => h('th', { class: c.num ? 'num' : '' }, c.label))));
  const tbody = h('tbody', rows.map((r) => {
    const tr = h('tr', { class: opts.onRow ? 'clickable' : '', dataset: opts.key ? { key: opts.key(r) } : undefined },
      columns.map((c) => h('td', { class: c.cls || (c.num ? 'num' : '') }, c.cell(r))));
    if (opts.onRow) tr.addEventListener('click', (e) => {
      if (e.target.closest('button, a')) return;
      opts.onRow(r, tr);
    });
    return tr;
  }));
  return h('div.table-wrap', h('table', opts.attrs || {}, thead, tbody));
}

export function kv(pairs) {
  return h('dl.kv', pairs.filter(Boolean).map(([k, v]) => [h('dt', k), h('dd', v)]));
}

// channelHref is the page of a channel.
export function channelHref(type, name) {
  const n = encodeURIComponent(name);
  if (type === 'queues') return '#/queue/' + n;
  if (type === 'events' || type === 'events_store') return `#/pubsub/${type}/${n}`;
  return `#/cq/${type}/${n}`;
}

export const typeColors = {
  queues: '#4f46e5', events: '#0d9488', events_store: '#0284c7', commands: '#d97706', queries: '#9333ea',
};
