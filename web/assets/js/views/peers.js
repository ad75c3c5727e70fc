// Peers: each discovered site with its channels, live throughput and apps.

import { h, replaceChildren, stateBadge, badge, empty, fmtBytes, fmtRate, fmtAgo } from '../dom.js';
import { state, channelKey, channelHistory, refresh } from '../store.js';
import { api, enc } from '../api.js';

// An identity key in groups of 8 hex digits, easier to compare by eye with
// `wovenet identity show` on the other site (like Syncthing's device IDs).
function keyText(key) {
  return (key || '').match(/.{1,8}/g)?.join(' ') || '–';
}

const MEMBERSHIP_CLASS = { trusted: 'ok', pending: 'warn', conflict: 'bad', unpinned: 'idle' };

let armedRevoke = null; // site whose revocation awaits confirmation
let actionError = '';

async function act(fn) {
  actionError = '';
  try {
    await fn();
  } catch (e) {
    actionError = e.message || String(e);
  }
  await refresh(['peers']);
}

function membership(peer, update) {
  const m = peer.membership || 'unpinned';
  const rows = [h('p', {}, 'Identity key ', h('code', { class: 'idkey', 'data-testid': 'identity-key' }, keyText(peer.identityKey)),
    ' ', badge(m, MEMBERSHIP_CLASS[m] || 'idle', 'membership'))];
  if (m === 'conflict' && peer.conflict) {
    rows.push(h('p', { class: 'error', 'data-testid': 'conflict' },
      `Announced with another identity key (${peer.conflict.refused} messages refused): `,
      h('code', { class: 'idkey' }, keyText(peer.conflict.offeredKey)),
      '. Approve it only if that site was reinstalled; otherwise revoke it.'));
  }
  const buttons = [];
  if (m === 'pending' || m === 'conflict') {
    buttons.push(h('button', { type: 'button', 'data-testid': 'approve-peer', 'data-focus-key': `approve-${peer.siteName}`,
      onclick: () => act(() => api.post(`/peers/${enc(peer.siteName)}/approve`)) },
    m === 'pending' ? 'Approve this site' : 'Approve the new key'));
  }
  if (armedRevoke === peer.siteName) {
    buttons.push(h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-revoke',
      onclick: () => { armedRevoke = null; act(() => api.del(`/peers/${enc(peer.siteName)}?block=true`)); } },
    `Revoke ${peer.siteName} and block its key`),
    h('button', { type: 'button', class: 'secondary', onclick: () => { armedRevoke = null; update(); } }, 'Cancel'));
  } else {
    buttons.push(h('button', { type: 'button', class: 'secondary', 'data-testid': 'revoke-peer',
      onclick: () => { armedRevoke = peer.siteName; update(); } }, 'Revoke'));
  }
  rows.push(h('p', { class: 'actions' }, buttons));
  return rows;
}
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

function peerCard(peer, update) {
  return h('article', { class: 'card', 'data-testid': 'peer', 'data-site': peer.siteName },
    h('header', { class: 'card-head' }, h('h3', {}, peer.siteName), stateBadge(peer.online ? 'online' : 'offline', 'peer-state'),
      h('span', { class: 'muted' }, `last seen ${fmtAgo(peer.lastSeen)}`)),
    membership(peer, update),
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
    // Sites waiting for the operator first, with the key to compare.
    const pending = state.peers.filter((p) => p.membership === 'pending' || p.membership === 'conflict');
    const head = [];
    if (actionError) head.push(h('p', { class: 'error', 'data-testid': 'peer-action-error' }, actionError));
    if (pending.length) {
      head.push(h('section', { class: 'card', 'data-testid': 'pending-sites' },
        h('h3', {}, 'Waiting for approval'),
        h('ul', {}, pending.map((p) => h('li', { 'data-testid': 'pending-site', 'data-site': p.siteName },
          h('strong', {}, p.siteName), ' ', h('code', { class: 'idkey' },
            keyText(p.membership === 'conflict' && p.conflict ? p.conflict.offeredKey : p.identityKey)))))));
    }
    replaceChildren(list, head, state.peers.map((p) => peerCard(p, update)));
  }
  update();
  return { el, update };
}
