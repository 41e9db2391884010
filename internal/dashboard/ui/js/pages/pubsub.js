// An events or events-store channel: publish, live statistics, and a live
// tail that, for the events store, replays from first, last, a sequence or
// a time.

import { api, stream } from '../api.js';
import * as f from '../format.js';
import { activeDot, add, confirmDialog, empty, field, h, icon, replace, toast, typeBadge } from '../ui.js';
import * as viewer from '../viewer.js';

export function mount(view, params, ctx) {
  const { type, name } = params;
  const store = type === 'events_store';
  if (type !== 'events' && !store) {
    add(view, h('div.card', empty('Unknown channel type', type)));
    return null;
  }
  ctx.crumbs(['Pub/Sub', '#/channels/' + type], name);
  const cleanups = [];

  // Publish.
  const body = h('textarea', { name: 'body', rows: 6, placeholder: '{"event": "order.created", "id": 1042}' });
  const metadata = h('input', { name: 'metadata', placeholder: 'optional' });
  const tags = h('textarea', { name: 'tags', rows: 2, placeholder: 'key=value, one a line' });
  const id = h('input', { name: 'id', placeholder: 'generated when empty' });
  const result = h('div.status-line');
  const publish = h('form.card-body.form', {
    id: 'publish-form',
    onsubmit: async (e) => {
      e.preventDefault();
      let t;
      try { t = f.parseTags(tags.value); } catch (ex) { toast(ex.message, 'bad'); return; }
      try {
        const r = await api('POST', 'api/events/send', {
          channel: name, store, id: id.value.trim() || undefined, metadata: metadata.value || undefined,
          body: f.encodeText(body.value), tags: Object.keys(t).length ? t : undefined,
        });
        replace(result, h('span.dot.dot-ok'), `Published ${r.id}`);
        toast(store ? 'Event stored' : 'Event published');
      } catch (ex) {
        replace(result, h('span.dot.dot-bad'), ex.message);
        toast(ex.message, 'bad');
      }
    },
  },
  field('Body', body),
  h('div.form-row', field('Metadata', metadata), field('Event ID', id)),
  field('Tags', tags),
  h('div.form-foot', result, h('span.grow'), h('button.btn.btn-primary', { type: 'submit', id: 'publish' }, icon('send'), store ? 'Store event' : 'Publish')));

  // Live statistics of the channel.
  const statsBody = h('div.card-body', h('span.muted', 'Loading…'));
  const live = stream(`api/stream/channels/${type}?search=${encodeURIComponent(name)}`, {
    channels: (list) => {
      const c = list.find((x) => x.name === name);
      replace(statsBody, c ? h('dl.list-kv',
        h('dt', 'Subscribers'), h('dd', activeDot(c.isActive), ' ', c.isActive ? 'active' : 'none'),
        h('dt', 'Published'), h('dd', { 'data-stat': 'published' }, f.num(c.incoming.messages)),
        h('dt', 'Volume in'), h('dd', f.bytes(c.incoming.volume)),
        h('dt', 'Delivered'), h('dd', f.num(c.outgoing.messages)),
        h('dt', 'Volume out'), h('dd', f.bytes(c.outgoing.volume)),
        h('dt', 'Last activity'), h('dd', f.ago(c.lastActivity)),
      ) : empty('No statistics yet', store ? 'The channel is created by its first event.' : 'Events channels appear once used.'));
    },
    problem: (p) => toast(p.error, 'bad'),
  });
  cleanups.push(() => live.close());

  // Tail and replay.
  const start = h('select', { id: 'tail-start', 'aria-label': 'Start position' },
    store ? [
      h('option', { value: 'new' }, 'New events only'),
      h('option', { value: 'first' }, 'From the first event'),
      h('option', { value: 'last' }, 'From the last event'),
      h('option', { value: 'sequence' }, 'From sequence…'),
      h('option', { value: 'time' }, 'Since time…'),
    ] : h('option', { value: 'new' }, 'New events'));
  const seq = h('input.inline-num', { type: 'number', min: 1, value: 1, id: 'tail-sequence', hidden: true, 'aria-label': 'Sequence' });
  const since = h('input', { type: 'datetime-local', step: 1, id: 'tail-time', hidden: true, 'aria-label': 'Since' });
  start.addEventListener('change', () => {
    seq.hidden = start.value !== 'sequence';
    since.hidden = start.value !== 'time';
    if (start.value === 'time' && !since.value) since.value = localInput(new Date(Date.now() - 3600e3));
  });
  const btn = h('button.btn.btn-primary', { type: 'button', id: 'tail', onclick: toggle }, icon('play'), store ? 'Start' : 'Subscribe');
  const statusLine = h('div.status-line', h('span.dot.dot-off'), 'Stopped');
  const feed = h('div.feed', { id: 'tail-feed' });
  const viewBox = h('div', viewer.placeholder());
  const emptyEl = empty('Nothing received yet', store ? 'Choose where to start and press Start.' : 'Subscribe to see events as they are published.');
  feed.append(emptyEl);
  let s = null, n = 0;

  function toggle() {
    if (s) { stop('Stopped'); return; }
    let path = `api/stream/events?channel=${encodeURIComponent(name)}&store=${store}&start=${start.value}`;
    if (start.value === 'sequence') path += '&sequence=' + (Number(seq.value) || 1);
    if (start.value === 'time') {
      if (!since.value) { toast('Choose a time', 'bad'); return; }
      path += '&time=' + encodeURIComponent(new Date(since.value).toISOString());
    }
    clear();
    s = stream(path, {
      open: () => replace(statusLine, h('span.dot.dot-live'), h('span', { id: 'tail-status' }, describe())),
      event: (e) => addEvent(e),
      end: (e) => stop(e && e.error ? 'Ended: ' + e.error : 'Ended'),
      error: (msg, final) => { if (final) { stop('Refused: ' + msg); toast(msg, 'bad'); } },
    });
    replace(btn, icon('stop'), 'Stop');
    btn.className = 'btn';
  }
  function describe() {
    switch (start.value) {
      case 'first': return 'Replaying from the first event, then live';
      case 'last': return 'From the last event, then live';
      case 'sequence': return `Replaying from sequence ${seq.value}, then live`;
      case 'time': return `Replaying since ${f.dateTime(new Date(since.value))}, then live`;
      default: return 'Live: waiting for new events';
    }
  }
  function stop(text) {
    if (s) s.close();
    s = null;
    replace(statusLine, h('span.dot.dot-off'), text);
    replace(btn, icon('play'), store ? 'Start' : 'Subscribe');
    btn.className = 'btn btn-primary';
  }
  function clear() {
    n = 0;
    replace(feed, emptyEl);
    replace(viewBox, viewer.placeholder());
    count.textContent = '';
  }
  const count = h('span.muted', { id: 'tail-count' });
  function addEvent(e) {
    emptyEl.remove();
    n++;
    count.textContent = `${f.num(n)} event${n === 1 ? '' : 's'}`;
    const atBottom = feed.scrollTop + feed.clientHeight >= feed.scrollHeight - 4;
    const line = h('div.feed-line', { 'data-seq': e.sequence || '', onclick: () => {
      feed.querySelectorAll('.selected').forEach((x) => x.classList.remove('selected'));
      line.classList.add('selected');
      replace(viewBox, viewer.event(e));
    } }, h('span.time', f.time(e.timestamp)), h('span.seq', e.sequence ? '#' + e.sequence : '—'), h('span.body', f.bodyPreview(e.body)));
    feed.append(line);
    if (atBottom) feed.scrollTop = feed.scrollHeight;
  }
  cleanups.push(() => { if (s) s.close(); });

  add(view,
    h('div.page-head',
      h('div.title', h('h1', name, typeBadge(type)),
        h('div.sub', store ? 'Persistent pub/sub: every event is stored with a sequence and can be replayed.' : 'Real-time pub/sub: events reach the subscribers connected when they are sent.')),
      h('div.actions', h('button.btn.btn-ghost.btn-icon', { type: 'button', title: 'Delete channel', 'aria-label': 'Delete channel', onclick: remove }, icon('trash')))),
    h('div.grid.grid-2-1',
      h('div.card', h('div.card-head', h('h2', store ? 'Store an event' : 'Publish an event')), publish),
      h('div.card', h('div.card-head', h('h2', 'Channel')), statsBody)),
    h('div.card',
      h('div.card-head', h('h2', store ? 'Replay and live tail' : 'Live tail'), count),
      h('div.card-body', h('div.toolbar', start, seq, since, btn,
        h('button.btn.btn-ghost', { type: 'button', onclick: clear }, 'Clear'), h('span.grow'), statusLine)),
      h('div.split', feed, viewBox)));

  async function remove() {
    const yes = await confirmDialog(`Delete ${name}?`, store
      ? 'The channel, its stored events and its subscription cursors are deleted. This cannot be undone.'
      : 'The channel\'s statistics are forgotten.');
    if (!yes) return;
    try {
      await api('DELETE', `api/channels/${type}/${encodeURIComponent(name)}`);
      toast(`Deleted ${name}`);
      ctx.go('#/channels/' + type);
    } catch (e) { toast(e.message, 'bad'); }
  }

  return () => cleanups.forEach((c) => c());
}

function localInput(d) {
  const pad = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
