// A commands or queries channel: send a request with a timeout and see the
// response; monitor the requests that pass (subscribed without a group, so
// responders still answer them).

import { api, stream } from '../api.js';
import * as f from '../format.js';
import { add, confirmDialog, empty, field, h, icon, kv, replace, toast, typeBadge } from '../ui.js';
import * as viewer from '../viewer.js';

export function mount(view, params, ctx) {
  const { type, name } = params;
  if (type !== 'commands' && type !== 'queries') {
    add(view, h('div.card', empty('Unknown channel type', type)));
    return null;
  }
  const isQuery = type === 'queries';
  const noun = isQuery ? 'query' : 'command';
  ctx.crumbs(['Commands & Queries', '#/channels/' + type], name);
  const cleanups = [];

  const body = h('textarea', { name: 'body', rows: 6, placeholder: isQuery ? '{"sku": "A-1042"}' : '{"action": "restart"}' });
  const metadata = h('input', { name: 'metadata', placeholder: 'optional' });
  const tags = h('textarea', { name: 'tags', rows: 2, placeholder: 'key=value, one a line' });
  const id = h('input', { name: 'id', placeholder: 'generated when empty' });
  const timeout = h('input', { name: 'timeout', type: 'number', min: 0.1, step: 0.1, value: 10 });
  const responseBox = h('div.card-body', { id: 'response' }, empty('No response yet', `Send a ${noun} to see its response here.`));
  const sendBtn = h('button.btn.btn-primary', { type: 'submit', id: 'send-request' }, icon('send'), `Send ${noun}`);

  const form = h('form.card-body.form', {
    id: 'request-form',
    onsubmit: async (e) => {
      e.preventDefault();
      let t;
      try { t = f.parseTags(tags.value); } catch (ex) { toast(ex.message, 'bad'); return; }
      const secs = Number(timeout.value) || 10;
      sendBtn.disabled = true;
      replace(responseBox, h('div.status-line', h('span.dot.dot-wait'), `Waiting up to ${secs} s for a responder…`));
      try {
        const r = await api('POST', 'api/requests/send', {
          type, channel: name, id: id.value.trim() || undefined, metadata: metadata.value || undefined,
          body: f.encodeText(body.value), tags: Object.keys(t).length ? t : undefined, timeoutSeconds: secs,
        });
        showResponse(r);
      } catch (ex) {
        const timedOut = ex.status === 504;
        replace(responseBox, h('div.result.bad',
          h('div.result-head', h('span.badge.badge-bad', timedOut ? 'Timed out' : 'Failed'), timedOut ? `No responder answered within ${secs} s` : ''),
          h('div', { 'data-field': 'error' }, ex.message)));
      } finally {
        sendBtn.disabled = false;
      }
    },
  },
  field('Body', body),
  h('div.form-row', field('Metadata', metadata), field('Request ID', id), field('Timeout (seconds)', timeout)),
  field('Tags', tags),
  h('div.form-foot', sendBtn));

  function showResponse(r) {
    const good = r.executed && !r.error;
    replace(responseBox, h('div.result', { class: good ? 'ok' : 'bad' },
      h('div.result-head',
        h('span.badge', { class: good ? 'badge-ok' : 'badge-bad', 'data-field': 'status' }, good ? 'Executed' : 'Not executed'),
        r.cacheHit ? h('span.badge.badge-soft', 'from cache') : null,
        h('span.muted', `${f.num(r.elapsedMs)} ms`)),
      r.error ? h('div.banner.bad', { 'data-field': 'error' }, r.error) : null,
      kv([
        ['Request ID', h('span.mono', r.requestId)],
        ['Responder', r.responderId || '—'],
        ['Executed at', r.executedAt ? f.dateTime(r.executedAt) : '—'],
        isQuery ? ['Metadata', r.metadata || h('span.faint', 'none')] : null,
        ['Tags', viewer.tagList(r.tags)],
      ]),
      isQuery ? viewer.bodyBlock(r.body || '') : null));
  }

  // Monitor.
  let s = null;
  const feed = h('div.feed', { id: 'monitor-feed' });
  const viewBox = h('div', viewer.placeholder());
  const emptyEl = empty('Nothing seen yet', `Start the monitor to see every ${noun} sent to ${name}.`);
  feed.append(emptyEl);
  const statusLine = h('div.status-line', h('span.dot.dot-off'), 'Not monitoring');
  const btn = h('button.btn.btn-primary', { type: 'button', id: 'monitor', onclick: toggle }, icon('play'), 'Monitor');
  function toggle() {
    if (s) { stop('Not monitoring'); return; }
    s = stream(`api/stream/requests?type=${type}&channel=${encodeURIComponent(name)}`, {
      open: () => replace(statusLine, h('span.dot.dot-live'), `Monitoring ${type}…`),
      request: (r) => addRequest(r),
      end: (e) => stop(e && e.error ? 'Ended: ' + e.error : 'Ended'),
      error: (msg, final) => { if (final) { stop('Refused: ' + msg); toast(msg, 'bad'); } },
    });
    replace(btn, icon('stop'), 'Stop');
    btn.className = 'btn';
  }
  function stop(text) {
    if (s) s.close();
    s = null;
    replace(statusLine, h('span.dot.dot-off'), text);
    replace(btn, icon('play'), 'Monitor');
    btn.className = 'btn btn-primary';
  }
  function addRequest(r) {
    emptyEl.remove();
    const line = h('div.feed-line.two', { title: 'from ' + (r.clientId || 'unknown client'), onclick: () => {
      feed.querySelectorAll('.selected').forEach((x) => x.classList.remove('selected'));
      line.classList.add('selected');
      replace(viewBox, viewer.request(r));
    } }, h('span.time', f.time(r.receivedAt)), h('span.body', f.bodyPreview(r.body)));
    feed.prepend(line);
  }
  cleanups.push(() => { if (s) s.close(); });

  add(view,
    h('div.page-head',
      h('div.title', h('h1', name, typeBadge(type)),
        h('div.sub', isQuery ? 'Queries carry data back from the responder.' : 'Commands report whether the responder executed them.')),
      h('div.actions', h('button.btn.btn-ghost.btn-icon', { type: 'button', title: 'Delete channel', 'aria-label': 'Delete channel', onclick: remove }, icon('trash')))),
    h('div.grid.grid-2',
      h('div.card', h('div.card-head', h('h2', `Send a ${noun}`)), form),
      h('div.card', h('div.card-head', h('h2', 'Response')), responseBox)),
    h('div.card',
      h('div.card-head', h('h2', 'Monitor'), h('span.hint', 'Subscribed without a group: it sees every request and never answers.')),
      h('div.card-body', h('div.toolbar', btn,
        h('button.btn.btn-ghost', { type: 'button', onclick: () => { replace(feed, emptyEl); replace(viewBox, viewer.placeholder()); } }, 'Clear'),
        h('span.grow'), statusLine)),
      h('div.split', feed, viewBox)));

  async function remove() {
    const yes = await confirmDialog(`Delete ${name}?`, 'The channel\'s statistics are forgotten; responders stay subscribed.');
    if (!yes) return;
    try {
      await api('DELETE', `api/channels/${type}/${encodeURIComponent(name)}`);
      toast(`Deleted ${name}`);
      ctx.go('#/channels/' + type);
    } catch (e) { toast(e.message, 'bad'); }
  }

  return () => cleanups.forEach((c) => c());
}
