// The message viewer: every field of a message and its body, as text,
// pretty JSON or a hex dump.

import * as f from './format.js';
import { empty, h, icon, kv, toast } from './ui.js';

export function placeholder(text = 'Select a message to see it here.') {
  return h('div.viewer', empty('No message selected', text));
}

function tagList(tags) {
  const entries = Object.entries(tags || {});
  if (!entries.length) return h('span.faint', 'none');
  return h('div.tags', entries.map(([k, v]) => h('span.tag', `${k}=${v}`)));
}

function bodyBlock(b64) {
  const b = f.decodeBody(b64);
  let shown = b.pretty ?? b.text ?? b.hex;
  let kind = b.pretty ? 'JSON' : b.text !== null ? 'text' : 'binary';
  if (b.size === 0) { shown = '(empty)'; kind = 'empty'; }
  const copy = h('button.btn.btn-ghost.btn-sm', {
    type: 'button',
    onclick: async () => {
      try { await navigator.clipboard.writeText(b.text ?? b.hex ?? ''); toast('Body copied'); } catch { toast('The browser refused the clipboard', 'bad'); }
    },
  }, icon('copy'), 'Copy');
  return [
    h('div.body-head', h('h3', `Body · ${kind} · ${f.bytes(b.size)}`), copy),
    h('pre.body-box', { 'data-field': 'body' }, shown),
  ];
}

// queueMessage shows a peeked or pulled queue message.
export function queueMessage(m) {
  const p = m.policy || {};
  return h('div.viewer', { id: 'message-viewer' },
    h('h2', `Message #${m.sequence}`),
    kv([
      ['Message ID', h('span.mono', m.id || '—')],
      ['Client ID', m.clientId || '—'],
      ['Metadata', m.metadata || h('span.faint', 'none')],
      ['Enqueued', f.dateTime(m.timestamp)],
      ['Receive count', f.num(m.receiveCount || 0)],
      m.reRoutedFrom ? ['Dead-lettered from', h('a', { href: '#/queue/' + encodeURIComponent(m.reRoutedFrom) }, m.reRoutedFrom)] : null,
      ['Expires', m.expiresAt ? f.dateTime(m.expiresAt) : 'never'],
      m.delayedTo ? ['Delayed to', f.dateTime(m.delayedTo)] : null,
      ['Policy', h('span', { 'data-field': 'policy' }, policyText(p))],
      ['Tags', tagList(m.tags)],
    ]),
    bodyBlock(m.body));
}

export function policyText(p) {
  const parts = [];
  if (p.delaySeconds) parts.push(`delay ${p.delaySeconds}s`);
  if (p.expirationSeconds) parts.push(`expires after ${p.expirationSeconds}s`);
  if (p.maxReceiveCount) parts.push(`max receive ${p.maxReceiveCount}`);
  if (p.deadLetterQueue) parts.push(`dead letters to ${p.deadLetterQueue}`);
  return parts.length ? parts.join(' · ') : 'defaults';
}

// event shows an events or events-store event.
export function event(e) {
  return h('div.viewer', { id: 'message-viewer' },
    h('h2', e.sequence ? `Event #${e.sequence}` : 'Event'),
    kv([
      ['Event ID', h('span.mono', e.id || '—')],
      ['Channel', e.channel],
      e.clientId ? ['Client ID', e.clientId] : null,
      ['Metadata', e.metadata || h('span.faint', 'none')],
      [e.sequence ? 'Stored' : 'Received', f.dateTime(e.timestamp)],
      ['Tags', tagList(e.tags)],
    ]),
    bodyBlock(e.body));
}

// request shows a command or query a monitor saw.
export function request(r) {
  return h('div.viewer', { id: 'message-viewer' },
    h('h2', r.type === 'commands' ? 'Command' : 'Query'),
    kv([
      ['Request ID', h('span.mono', r.id || '—')],
      ['Channel', r.channel],
      ['From client', r.clientId || '—'],
      ['Metadata', r.metadata || h('span.faint', 'none')],
      ['Seen', f.dateTime(r.receivedAt)],
      ['Tags', tagList(r.tags)],
    ]),
    bodyBlock(r.body));
}

export { tagList, bodyBlock };
