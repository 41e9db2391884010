// A queue: live statistics, send with a policy, peek and pull with a
// viewer, purge, a live monitor of arriving messages, and dead letters.

import { api, stream } from '../api.js';
import * as f from '../format.js';
import { add, confirmDialog, empty, field, h, icon, replace, table, tabs, toast } from '../ui.js';
import * as viewer from '../viewer.js';

export function mount(view, params, ctx) {
  const name = params.name;
  ctx.crumbs(['Queues', '#/channels/queues'], name);
  const cleanups = [];
  const q = encodeURIComponent(name);

  // Live statistics.
  const missing = h('div.banner', { hidden: true }, 'This queue does not exist yet: sending a message or creating it makes it.');
  const strip = h('div.card.strip', { id: 'queue-stats' });
  const statEl = {};
  for (const [key, label] of [['waiting', 'Waiting'], ['inflight', 'In flight'], ['delayed', 'Delayed'], ['sent', 'Sent'],
    ['delivered', 'Delivered'], ['expired', 'Expired'], ['bytes', 'Stored'], ['receivers', 'Receivers']]) {
    statEl[key] = h('div.value', '—');
    strip.append(h('div.stat', { 'data-stat': key }, h('div.label', label), statEl[key]));
  }
  const live = stream(`api/stream/queue?channel=${q}`, {
    queue: (doc) => {
      const i = doc.info, c = doc.channel;
      missing.hidden = Boolean(i || c);
      statEl.waiting.textContent = f.num(i ? i.waiting : 0);
      statEl.inflight.textContent = f.num(i ? Math.max(0, i.messages - i.waiting) : 0);
      statEl.delayed.textContent = f.num(c ? c.incoming.delayed : 0);
      statEl.sent.textContent = f.num(i ? i.sent : c ? c.incoming.messages : 0);
      statEl.delivered.textContent = f.num(i ? i.delivered : c ? c.outgoing.messages : 0);
      statEl.expired.textContent = f.num(c ? c.outgoing.expired : 0);
      statEl.bytes.textContent = f.bytes(i ? i.bytes : 0);
      statEl.receivers.textContent = f.num(i ? i.subscribers : 0);
    },
    problem: (p) => toast(p.error, 'bad'),
  });
  cleanups.push(() => live.close());

  const panes = {
    messages: messagesPane(name),
    send: sendPane(name),
    monitor: monitorPane(name, cleanups),
    dead: deadPane(name),
  };
  const paneBox = h('div');
  const show = (key) => replace(paneBox, panes[key].el);
  show('messages');

  add(view,
    h('div.page-head',
      h('div.title', h('h1', name, h('span.badge.badge-type.badge-queues', 'Queue')), h('div.sub', 'Durable FIFO queue: each message goes to one receiver.')),
      h('div.actions',
        h('button.btn', { type: 'button', onclick: () => selectTab('send') }, icon('send'), 'Send message'),
        h('button.btn.btn-danger', { type: 'button', id: 'purge', onclick: purge }, 'Purge'),
        h('button.btn.btn-ghost.btn-icon', { type: 'button', title: 'Delete queue', 'aria-label': 'Delete queue', onclick: remove }, icon('trash')))),
    missing,
    strip,
    h('div.card',
      tabs([
        { key: 'messages', label: 'Messages' },
        { key: 'send', label: 'Send' },
        { key: 'monitor', label: 'Monitor' },
        { key: 'dead', label: 'Dead letters' },
      ], 'messages', show),
      paneBox));

  function selectTab(key) {
    const b = view.querySelector(`.tabs button[data-tab="${key}"]`);
    if (b) b.click();
  }

  async function purge() {
    const yes = await confirmDialog(`Purge ${name}?`, 'Every waiting message is removed. Messages held by receivers stay.', 'Purge');
    if (!yes) return;
    try {
      const r = await api('POST', 'api/queue/purge', { channel: name });
      toast(`Removed ${f.num(r.removed)} message${r.removed === 1 ? '' : 's'}`);
    } catch (e) { toast(e.message, 'bad'); }
  }

  async function remove() {
    const yes = await confirmDialog(`Delete ${name}?`, 'The queue and every message in it are deleted. This cannot be undone.');
    if (!yes) return;
    try {
      await api('DELETE', `api/channels/queues/${q}`);
      toast(`Deleted ${name}`);
      ctx.go('#/channels/queues');
    } catch (e) { toast(e.message, 'bad'); }
  }

  return () => cleanups.forEach((c) => c());
}

// messageTable lists queue messages; a click shows one in the viewer.
function messageTable(msgs, viewBox, extra = []) {
  let selected = null;
  return table([
    { label: '#', num: true, cell: (m) => f.num(m.sequence) },
    { label: 'Message ID', cls: 'mono', cell: (m) => short(m.id) },
    ...extra,
    { label: 'Body', cls: 'preview', cell: (m) => f.bodyPreview(m.body, 80) },
    { label: 'Receives', num: true, cell: (m) => f.num(m.receiveCount || 0) },
    { label: 'Enqueued', cell: (m) => h('span.muted', f.time(m.timestamp)) },
  ], msgs, {
    attrs: { class: 'messages-table' },
    key: (m) => m.sequence,
    onRow: (m, tr) => {
      if (selected) selected.classList.remove('selected');
      selected = tr;
      tr.classList.add('selected');
      replace(viewBox, viewer.queueMessage(m));
    },
  });
}

function short(id) {
  if (!id) return '—';
  return id.length > 20 ? id.slice(0, 8) + '…' + id.slice(-8) : id;
}

function messagesPane(name) {
  const count = h('input.inline-num', { type: 'number', min: 1, max: 1024, value: 10, 'aria-label': 'How many messages', id: 'message-count' });
  const list = h('div', empty('Nothing shown yet', 'Peek shows messages without taking them; Pull takes them off the queue.'));
  const viewBox = h('div', viewer.placeholder());
  const run = async (pull) => {
    if (pull && !(await confirmDialog(`Pull from ${name}?`, 'Pulled messages are taken off the queue for good.', 'Pull'))) return;
    try {
      const msgs = await api('POST', pull ? 'api/queue/pull' : 'api/queue/peek', { channel: name, max: Number(count.value) || 10 });
      replace(viewBox, viewer.placeholder());
      replace(list, msgs.length
        ? messageTable(msgs, viewBox)
        : empty('The queue is empty', 'No waiting messages.'));
      toast(`${pull ? 'Pulled' : 'Peeked at'} ${msgs.length} message${msgs.length === 1 ? '' : 's'}`);
    } catch (e) { toast(e.message, 'bad'); }
  };
  return {
    el: h('div',
      h('div.card-body', h('div.toolbar',
        h('label.check', 'Count', count),
        h('button.btn.btn-primary', { type: 'button', id: 'peek', onclick: () => run(false) }, icon('eye'), 'Peek'),
        h('button.btn', { type: 'button', id: 'pull', onclick: () => run(true) }, icon('download'), 'Pull'),
        h('span.muted', 'Peek leaves messages in the queue; Pull removes them.'))),
      h('div.split', list, viewBox)),
  };
}

function sendPane(name) {
  const body = h('textarea', { name: 'body', rows: 9, placeholder: '{"order": 1042, "total": 99.5}' });
  const metadata = h('input', { name: 'metadata', placeholder: 'optional' });
  const tags = h('textarea', { name: 'tags', rows: 3, placeholder: 'key=value, one a line' });
  const id = h('input', { name: 'id', placeholder: 'generated when empty' });
  const delay = h('input', { name: 'delay', type: 'number', min: 0, placeholder: '0' });
  const expiration = h('input', { name: 'expiration', type: 'number', min: 0, placeholder: 'never' });
  const maxReceive = h('input', { name: 'maxReceive', type: 'number', min: 0, placeholder: 'broker default' });
  const dlq = h('input', { name: 'dlq', placeholder: name + '.dead' });
  const result = h('div.status-line');
  const form = h('form.card-body.form', {
    id: 'send-form',
    onsubmit: async (e) => {
      e.preventDefault();
      let t;
      try { t = f.parseTags(tags.value); } catch (ex) { toast(ex.message, 'bad'); return; }
      const msg = {
        channel: name, id: id.value.trim() || undefined, metadata: metadata.value || undefined,
        body: f.encodeText(body.value), tags: Object.keys(t).length ? t : undefined,
        policy: {
          delaySeconds: Number(delay.value) || undefined,
          expirationSeconds: Number(expiration.value) || undefined,
          maxReceiveCount: Number(maxReceive.value) || undefined,
          deadLetterQueue: dlq.value.trim() || undefined,
        },
      };
      try {
        const r = await api('POST', 'api/queue/send', msg);
        let text = `Sent message ${r.messageId} at ${f.time(r.sentAt)}`;
        if (r.delayedTo) text += ` · delayed to ${f.time(r.delayedTo)}`;
        if (r.expiresAt) text += ` · expires ${f.dateTime(r.expiresAt)}`;
        replace(result, h('span.dot.dot-ok'), h('span', { id: 'send-result' }, text));
        toast('Message sent');
        id.value = '';
      } catch (ex) {
        replace(result, h('span.dot.dot-bad'), ex.message);
        toast(ex.message, 'bad');
      }
    },
  },
  h('div.grid.grid-2',
    h('div.form', field('Body', body), field('Metadata', metadata), field('Tags', tags, 'key=value pairs, one a line or separated by commas')),
    h('fieldset.fieldset', h('legend', 'Message and policy'),
      field('Message ID', id, 'Sending the same ID again within the dedup window stores it once'),
      h('div.form-row', field('Delay (seconds)', delay), field('Expiration (seconds)', expiration)),
      h('div.form-row', field('Max receive count', maxReceive), field('Dead-letter queue', dlq)),
      h('small.muted', 'A message received more than the max receive count moves to the dead-letter queue.'))),
  h('div.form-foot', result, h('span.grow'), h('button.btn.btn-primary', { type: 'submit', id: 'send' }, icon('send'), 'Send message')));
  return { el: form };
}

function monitorPane(name, cleanups) {
  let s = null;
  let lines = [];
  const feed = h('div.feed', { id: 'monitor-feed' });
  const viewBox = h('div', viewer.placeholder());
  const statusLine = h('div.status-line', { id: 'monitor-status' }, h('span.dot.dot-off'), 'Not watching');
  const filter = h('input', { type: 'search', placeholder: 'Filter by body, ID or metadata' });
  const btn = h('button.btn.btn-primary', { type: 'button', id: 'watch', onclick: toggle }, icon('play'), 'Watch');
  const emptyEl = empty('No new messages yet', 'Messages sent to the queue while watching show up here.');
  feed.append(emptyEl);

  function toggle() {
    if (s) { stop(); return; }
    s = stream(`api/stream/queue-monitor?channel=${encodeURIComponent(name)}`, {
      watching: () => replace(statusLine, h('span.dot.dot-live'), 'Watching for new messages…'),
      message: (m) => addMessage(m),
      missed: (m) => {
        const note = h('div.feed-note', `${f.num(m.count)} message${m.count === 1 ? ' was' : 's were'} taken before the monitor saw ${m.count === 1 ? 'it' : 'them'} (sequence ${m.from}–${m.to})`);
        emptyEl.remove();
        feed.prepend(note);
      },
      problem: (p) => toast(p.error, 'bad'),
      error: (msg, final) => { if (final) { stop(); toast(msg, 'bad'); } },
    });
    replace(btn, icon('stop'), 'Stop');
    btn.className = 'btn';
  }
  function stop() {
    if (s) s.close();
    s = null;
    replace(statusLine, h('span.dot.dot-off'), 'Not watching');
    replace(btn, icon('play'), 'Watch');
    btn.className = 'btn btn-primary';
  }
  function addMessage(m) {
    emptyEl.remove();
    lines.push(m);
    const line = h('div.feed-line', { 'data-seq': m.sequence, onclick: () => {
      feed.querySelectorAll('.selected').forEach((x) => x.classList.remove('selected'));
      line.classList.add('selected');
      replace(viewBox, viewer.queueMessage(m));
    } }, h('span.time', f.time(m.timestamp)), h('span.seq', '#' + m.sequence), h('span.body', f.bodyPreview(m.body)));
    line.hidden = !matches(m);
    feed.prepend(line);
  }
  function matches(m) {
    const t = filter.value.trim().toLowerCase();
    if (!t) return true;
    return [f.bodyPreview(m.body, 100000), m.id, m.metadata].some((x) => (x || '').toLowerCase().includes(t));
  }
  filter.addEventListener('input', () => {
    const bySeq = new Map(lines.map((m) => [String(m.sequence), m]));
    feed.querySelectorAll('.feed-line').forEach((el) => { el.hidden = !matches(bySeq.get(el.dataset.seq)); });
  });
  cleanups.push(() => { if (s) s.close(); });
  return {
    el: h('div',
      h('div.card-body', h('div.toolbar', btn, h('div.search', icon('search'), filter),
        h('button.btn.btn-ghost', { type: 'button', onclick: () => { lines = []; replace(feed, emptyEl); replace(viewBox, viewer.placeholder()); } }, 'Clear'),
        h('span.grow'), statusLine)),
      h('div.split', feed, viewBox)),
  };
}

function deadPane(name) {
  const dlq = h('input', { id: 'dlq-name', placeholder: 'dead-letter queue', value: '' });
  const count = h('input.inline-num', { type: 'number', min: 1, max: 1024, value: 10, 'aria-label': 'How many' });
  const list = h('div', empty('Choose a dead-letter queue', 'Dead letters are messages that were received too often; their queue is set in each message\'s policy.'));
  const viewBox = h('div', viewer.placeholder());
  const hint = h('div.card-body.muted', { hidden: true });

  // Suggest the dead-letter queue: this queue itself when it holds dead
  // letters, else the one named in its messages' policies.
  api('POST', 'api/queue/peek', { channel: name, max: 50 }).then((msgs) => {
    if (dlq.value) return;
    if (msgs.some((m) => m.reRoutedFrom)) dlq.value = name;
    else {
      const named = msgs.map((m) => m.policy && m.policy.deadLetterQueue).find(Boolean);
      if (named) dlq.value = named;
    }
    if (dlq.value) browse();
  }).catch(() => {});

  async function browse() {
    const d = dlq.value.trim();
    if (!d) { toast('Name the dead-letter queue', 'bad'); return; }
    try {
      const msgs = await api('POST', 'api/queue/peek', { channel: d, max: Number(count.value) || 10 });
      replace(viewBox, viewer.placeholder());
      replace(list, msgs.length
        ? messageTable(msgs, viewBox, [{ label: 'From queue', cell: (m) => m.reRoutedFrom || h('span.faint', '—') }])
        : empty(`${d} is empty`, 'No dead letters wait there.'));
    } catch (e) { toast(e.message, 'bad'); }
  }
  async function requeue() {
    const d = dlq.value.trim();
    if (!d) { toast('Name the dead-letter queue', 'bad'); return; }
    const n = Number(count.value) || 10;
    if (!(await confirmDialog(`Move back up to ${n} messages?`, `The first ${n} messages of ${d} go back to the queues they were dead-lettered from.`, 'Move back'))) return;
    try {
      const r = await api('POST', 'api/queue/requeue', { channel: d, max: n });
      const to = Object.entries(r.to || {}).map(([k, v]) => `${v} to ${k}`).join(', ');
      toast(`Moved ${r.moved} message${r.moved === 1 ? '' : 's'} back${to ? ': ' + to : ''}`);
      if (r.stopped) toast('Stopped: ' + r.stopped, 'bad');
      browse();
    } catch (e) { toast(e.message, 'bad'); }
  }
  return {
    el: h('div',
      h('div.card-body', h('div.toolbar',
        h('label.check', 'Dead-letter queue', dlq),
        h('label.check', 'Count', count),
        h('button.btn', { type: 'button', id: 'dlq-browse', onclick: browse }, icon('eye'), 'Browse'),
        h('button.btn.btn-primary', { type: 'button', id: 'dlq-requeue', onclick: requeue }, icon('undo'), 'Move back to origin'))),
      hint,
      h('div.split', list, viewBox)),
  };
}
