// Peers: each discovered site with its channels, live throughput and apps.

import { h, replaceChildren, stateBadge, empty, fmtBytes, fmtRate, fmtAgo } from '../dom.js';
import { state, channelKey, channelHistory } from '../store.js';
import { renderThroughput } from '../chart.js';

function channelRow(peer, ch) {
  const samples = channelHistory(channelKey(peer.siteName, ch));
  const last = samples[samples.length - 1];
  const td = (label, v) => h('td', { 'data-label': label }, v);
  return h('tr', { 'data-testid': 'channel-row', 'data-channel': ch.id },
    td('Channel', String(ch.id)),
    td('Family', ch.family === 'ipv6' ? 'IPv6' : 'IPv4'),
    td('Direction', ch.direction || '–'),
    td('Local', ch.localAddress || '–'),
    td('Remote', ch.remoteAddress || '–'),
    td('State', stateBadge(ch.state, 'channel-state')),
    td('RTT', typeof ch.rttMs === 'number' ? `${ch.rttMs}\u00a0ms` : '–'),
    td('Sent', fmtBytes(ch.bytesSent)),
    td('Received', fmtBytes(ch.bytesReceived)),
    td('Streams', ch.streams ?? '–'),
    td('Now', last && last.rxRate !== null
      ? [h('span', { class: 'nowrap' }, `↓ ${fmtRate(last.rxRate)}`), ' ', h('span', { class: 'nowrap' }, `↑ ${fmtRate(last.txRate)}`)]
      : '–'));
}

function channels(peer) {
  const list = peer.channels || [];
  if (!list.length) {
    return empty('no-channels', 'No data channel yet. One opens when this site or the peer has a tunnel socket the other can reach.');
  }
  const cols = ['Channel', 'Family', 'Direction', 'Local', 'Remote', 'State', 'RTT', 'Sent', 'Received', 'Streams', 'Now'];
  return [
    h('table', { class: 'table', 'data-testid': 'channels' },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, list.map((ch) => channelRow(peer, ch)))),
    h('div', { class: 'charts' }, list.map((ch) => h('figure', { class: 'chart-box' },
      renderThroughput(channelHistory(channelKey(peer.siteName, ch)), `channel ${ch.id}`),
      h('figcaption', {}, `Channel ${ch.id} (${ch.family === 'ipv6' ? 'IPv6' : 'IPv4'}): `,
        h('span', { class: 'rx' }, 'received'), ' / ', h('span', { class: 'tx' }, 'sent'))))),
  ];
}

function apps(peer) {
  const list = peer.apps || [];
  if (!list.length) return h('p', { class: 'muted' }, 'This peer exposes no apps.');
  return h('ul', { class: 'apps', 'data-testid': 'peer-apps' }, list.map((app) => {
    const name = app;
    const href = `#/apps?site=${encodeURIComponent(peer.siteName)}&app=${encodeURIComponent(name)}`;
    return h('li', { 'data-testid': 'peer-app', 'data-app': name },
      h('span', { class: 'app-name' }, name), ' ',
      h('a', { href, class: 'button small', 'data-testid': 'use-app', 'data-focus-key': `use-${peer.siteName}-${name}` }, 'Use this app here'));
  }));
}

function sockets(peer) {
  const list = peer.sockets || [];
  if (!list.length) return null;
  return h('p', { class: 'muted' }, 'Sockets: ', list.map((sk) =>
    `${sk.address}:${sk.port}${sk.detected ? ' (detected)' : ''}`).join(', '));
}

function peerCard(peer) {
  return h('article', { class: 'card', 'data-testid': 'peer', 'data-site': peer.siteName },
    h('header', { class: 'card-head' }, h('h3', {}, peer.siteName), stateBadge(peer.online ? 'online' : 'offline', 'peer-state'),
      h('span', { class: 'muted' }, `last seen ${fmtAgo(peer.lastSeen)}`)),
    sockets(peer),
    h('h4', {}, 'Data channels'), channels(peer),
    h('h4', {}, 'Exposed apps'), apps(peer));
}

export function mount() {
  const list = h('div', { class: 'cards' });
  const el = h('section', { 'data-testid': 'view-peers' }, h('h2', {}, 'Peers'), list);
  function update() {
    if (!state.peers.length) {
      replaceChildren(list, empty('peers-empty', 'No peers discovered yet. Start wovenet on another site with the same broker, topic and network key (see Settings).',
        h('a', { href: '#/settings', class: 'button secondary' }, 'Open settings')));
      return;
    }
    replaceChildren(list, state.peers.map(peerCard));
  }
  update();
  return { el, update };
}
