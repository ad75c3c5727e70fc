// Events: the agent's recent-events log (channels up and down, peers
// joining and leaving, configuration changes, errors), newest first, live.

import { h, replaceChildren, badge, empty, fmtClock, fmtAgo } from '../dom.js';
import { state } from '../store.js';

const LEVELS = { all: () => true, warn: (e) => e.level !== 'info', error: (e) => e.level === 'error' };

export function mount() {
  let filter = 'all';
  const pick = h('select', { 'data-testid': 'events-filter', 'aria-label': 'Which events' },
    h('option', { value: 'all' }, 'All events'), h('option', { value: 'warn' }, 'Warnings and errors'), h('option', { value: 'error' }, 'Errors only'));
  pick.addEventListener('change', () => { filter = pick.value; update(); });
  const list = h('div');
  const el = h('section', { 'data-testid': 'view-events' },
    h('div', { class: 'section-head' }, h('h2', {}, 'Events'), pick),
    h('p', { class: 'muted' }, 'What the agent noticed lately (the last 256 events, kept in its memory; a restart starts a new list).'),
    list);

  function update() {
    const rows = state.events.filter(LEVELS[filter]).slice().reverse();
    if (!rows.length) {
      replaceChildren(list, empty('events-empty', filter === 'all' ? 'Nothing has happened yet.' : 'No warnings or errors.'));
      return;
    }
    replaceChildren(list, h('table', { class: 'table', 'data-testid': 'events' },
      h('thead', {}, h('tr', {}, ['Time', 'Level', 'What'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, rows.map((e) => h('tr', { 'data-testid': 'event-row', 'data-level': e.level, 'data-kind': e.kind, 'data-action': e.action },
        h('td', { 'data-label': 'Time', class: 'nowrap', title: e.time }, fmtClock(e.time), h('span', { class: 'muted' }, ` (${fmtAgo(e.time)})`)),
        h('td', { 'data-label': 'Level' }, badge(e.level, e.level === 'error' ? 'bad' : e.level === 'warn' ? 'warn' : 'idle', 'event-level')),
        h('td', { 'data-label': 'What', 'data-testid': 'event-message' }, e.message))))));
  }
  update();
  return { el, update(changed) { if (changed.includes('events') || changed.includes('loaded')) update(); } };
}
