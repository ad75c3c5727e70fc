// Overview: site, broker state, counts and the live mesh picture.

import { h, replaceChildren, stateBadge, empty } from '../dom.js';
import { state } from '../store.js';
import { renderMesh } from '../mesh.js';

function stat(testid, label, value, detail) {
  return h('div', { class: 'stat', 'data-testid': testid },
    h('span', { class: 'stat-value' }, String(value)), h('span', { class: 'stat-label' }, label),
    detail ? h('span', { class: 'stat-detail' }, detail) : null);
}

function counts() {
  const channels = state.peers.flatMap((p) => p.channels || []);
  const online = state.peers.filter((p) => p.online).length;
  const up = channels.filter((c) => c.state === 'up').length;
  const active = (a) => (a.status && a.status.activeConnections) || 0;
  const open = state.remoteApps.reduce((n, a) => n + active(a), 0) + state.exposedApps.reduce((n, a) => n + active(a), 0);
  return [
    stat('count-peers', 'peers', state.peers.length, `${online} online`),
    stat('count-channels', 'data channels', channels.length, `${up} up`),
    stat('count-apps', 'apps', state.exposedApps.length + state.remoteApps.length,
      `${state.exposedApps.length} exposed, ${state.remoteApps.length} remote`),
    stat('count-connections', 'open connections', open),
  ];
}

function hints() {
  const out = [];
  if (state.siteMissing) {
    out.push(empty('hint-site', 'This agent has no site yet. Give it a site name, brokers and the network key shared by all sites.',
      h('a', { href: '#/settings', class: 'button' }, 'Set up this site')));
  }
  if (!state.tunnelSockets.length) {
    out.push(empty('hint-sockets', 'No tunnel socket yet: peers cannot open data channels to this site.',
      h('a', { href: '#/sockets', class: 'button' }, 'Add a tunnel socket')));
  }
  if (!state.peers.length) {
    out.push(empty('hint-peers', 'No peers yet. Start wovenet on another machine with the same broker, topic and network key; it appears here within seconds.',
      h('a', { href: '#/settings', class: 'button secondary' }, 'Check settings')));
  }
  return out;
}

export function mount() {
  const summary = h('div', { class: 'summary' });
  const stats = h('div', { class: 'stats' });
  const hintBox = h('div', { class: 'hints' });
  const mesh = h('div', { class: 'mesh-box', 'data-testid': 'mesh-box' });
  const el = h('section', { 'data-testid': 'view-overview' }, h('h2', {}, 'Overview'), summary, stats, hintBox,
    h('h3', {}, 'Mesh'), mesh,
    h('p', { class: 'legend muted' }, [['up', 'up'], ['handshaking', 'handshaking / proving'], ['closing', 'closing'], ['none', 'no channel']]
      .map(([cls, text]) => h('span', { class: 'legend-item' }, h('span', { class: `key key-${cls}` }), text))));

  function update() {
    const site = state.site || {};
    const broker = state.broker || {};
    replaceChildren(summary,
      h('p', {}, 'Site ', h('strong', { 'data-testid': 'overview-site-name' }, site.siteName || '–')),
      h('p', {}, 'Broker ', stateBadge(broker.state || 'unknown', 'broker-state'),
        broker.error ? h('span', { class: 'muted' }, ` ${broker.error}`) : null));
    replaceChildren(stats, counts());
    replaceChildren(hintBox, hints());
    replaceChildren(mesh, renderMesh(site.siteName, state.peers));
  }
  update();
  return { el, update };
}
