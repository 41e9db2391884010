// Channel lists: one type at a time, searchable, live, with create and
// delete.

import { api, stream } from '../api.js';
import * as f from '../format.js';
import { activeDot, add, channelHref, confirmDialog, empty, field, h, icon, modal, replace, table, toast } from '../ui.js';

const groups = {
  queues: { title: 'Queues', types: ['queues'], blurb: 'Durable queues: each message goes to one receiver.' },
  events: { title: 'Pub/Sub', types: ['events', 'events_store'], blurb: 'Events reach live subscribers; the events store keeps them for replay.' },
  commands: { title: 'Commands & Queries', types: ['commands', 'queries'], blurb: 'Requests with a timeout, answered by one responder.' },
};

export function groupOf(type) {
  if (type === 'events_store') return 'events';
  if (type === 'queries') return 'commands';
  return type;
}

export function mount(view, params, ctx) {
  const type = params.type;
  const group = groups[groupOf(type)];
  if (!group) {
    ctx.crumbs('Channels');
    add(view, h('div.card', empty('Unknown channel type', type)));
    return null;
  }
  if (group.types.length > 1) ctx.crumbs([group.title, '#/channels/' + group.types[0]], f.typeName(type));
  else ctx.crumbs(group.title);
  let search = '';
  let onlyActive = false;
  let rows = [];
  let s = null;

  const sub = h('div.sub', group.blurb);
  const searchInput = h('input', { type: 'search', placeholder: 'Search by channel name', 'aria-label': 'Search channels', id: 'channel-search' });
  const activeBox = h('input', { type: 'checkbox' });
  const count = h('span.muted');
  const body = h('div.card-body.flush', h('div.empty', 'Loading…'));

  add(view,
    h('div.page-head',
      h('div.title', h('h1', group.title), sub),
      h('div.actions', h('button.btn.btn-primary', { type: 'button', id: 'new-channel', onclick: create }, icon('plus'), 'New channel'))),
    group.types.length > 1
      ? h('div.segmented', group.types.map((t) => h('a', { href: '#/channels/' + t, class: t === type ? 'active' : '' }, f.typeName(t))))
      : null,
    h('div.card',
      h('div.card-head',
        h('div.toolbar.grow',
          h('div.search', icon('search'), searchInput),
          h('label.check', activeBox, 'Only active')),
        count),
      body));

  let debounce = null;
  searchInput.addEventListener('input', () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { search = searchInput.value.trim(); open(); }, 250);
  });
  activeBox.addEventListener('change', () => { onlyActive = activeBox.checked; render(); });

  function open() {
    if (s) s.close();
    s = stream(`api/stream/channels/${type}` + (search ? '?search=' + encodeURIComponent(search) : ''), {
      channels: (list) => { rows = list; render(); },
      problem: (p) => toast(p.error, 'bad'),
    });
  }

  function columns() {
    const name = { label: 'Channel', cls: 'name', cell: (c) => h('a', { href: channelHref(type, c.name) }, c.name) };
    const active = { label: 'Active', cell: (c) => activeDot(c.isActive) };
    const last = { label: 'Last activity', cell: (c) => h('span.muted', { title: f.dateTime(c.lastActivity) }, f.ago(c.lastActivity)) };
    const del = {
      label: '', cls: 'actions-cell', cell: (c) => h('button.btn.btn-ghost.btn-icon', {
        type: 'button', title: 'Delete ' + c.name, 'aria-label': 'Delete ' + c.name, 'data-delete': c.name, onclick: () => remove(c.name),
      }, icon('trash')),
    };
    const n = (label, get) => ({ label, num: true, cell: (c) => f.num(get(c)) });
    const b = (label, get) => ({ label, num: true, cell: (c) => f.bytes(get(c)) });
    switch (type) {
      case 'queues':
        return [name, active, n('Waiting', (c) => c.outgoing.waiting), n('Delayed', (c) => c.incoming.delayed),
          n('Sent', (c) => c.incoming.messages), b('Volume', (c) => c.incoming.volume), n('Delivered', (c) => c.outgoing.messages),
          n('Expired', (c) => c.outgoing.expired), last, del];
      case 'commands': case 'queries':
        return [name, active, n('Requests', (c) => c.incoming.messages), b('Volume', (c) => c.incoming.volume),
          n('Delivered', (c) => c.outgoing.messages), n('Responses', (c) => c.incoming.responses), last, del];
      default:
        return [name, active, n('Published', (c) => c.incoming.messages), b('Volume in', (c) => c.incoming.volume),
          n('Delivered', (c) => c.outgoing.messages), b('Volume out', (c) => c.outgoing.volume), last, del];
    }
  }

  function render() {
    const shown = onlyActive ? rows.filter((c) => c.isActive) : rows;
    count.textContent = `${f.num(shown.length)} of ${f.num(rows.length)} channel${rows.length === 1 ? '' : 's'}`;
    if (!shown.length) {
      replace(body, search || onlyActive
        ? empty('No matching channels', 'Try another search.')
        : empty(`No ${f.typeName(type).toLowerCase()} channels yet`, 'Create one, or send a message to a new channel.'));
      return;
    }
    replace(body, table(columns(), shown, {
      attrs: { id: 'channels-table', 'data-type': type },
      key: (c) => c.name,
      onRow: (c) => ctx.go(channelHref(type, c.name)),
    }));
  }

  async function create() {
    const name = await modal((close) => {
      const input = h('input', { name: 'name', placeholder: type === 'queues' ? 'orders' : 'orders.created', required: true, autocomplete: 'off' });
      const err = h('div.form-error', { hidden: true });
      return h('form', {
        id: 'new-channel-form',
        onsubmit: async (e) => {
          e.preventDefault();
          const v = input.value.trim();
          if (!v) return;
          try {
            await api('POST', `api/channels/${type}`, { name: v });
            close(v);
          } catch (ex) {
            err.textContent = ex.message;
            err.hidden = false;
          }
        },
      },
      h('div.dlg-head', h('h2', `New ${f.typeName(type).toLowerCase()} channel`),
        h('p', type === 'queues' || type === 'events_store'
          ? 'Creates the channel\'s storage now.'
          : 'These channels exist by use; creating one lists it.')),
      h('div.dlg-body', field('Name', input), err),
      h('div.dlg-foot', h('button.btn', { type: 'button', onclick: () => close() }, 'Cancel'),
        h('button.btn.btn-primary', { type: 'submit' }, 'Create')));
    });
    if (name) {
      toast(`Created ${f.typeName(type).toLowerCase()} channel ${name}`);
      open();
    }
  }

  async function remove(name) {
    const stored = type === 'queues' || type === 'events_store';
    const yes = await confirmDialog(`Delete ${name}?`, stored
      ? 'The channel and every message stored in it are deleted. This cannot be undone.'
      : 'The channel\'s statistics are forgotten; subscribers stay connected.');
    if (!yes) return;
    try {
      await api('DELETE', `api/channels/${type}/${encodeURIComponent(name)}`);
      toast(`Deleted ${name}`);
      open();
    } catch (e) {
      toast(e.message, 'bad');
    }
  }

  open();
  return () => { clearTimeout(debounce); if (s) s.close(); };
}
