// Peers: each discovered site, its channels (family, path, RTT, rate),
// its throughput and RTT over time from the agent's history, its apps,
// its identity key and membership (approve, revoke; issue 17), and
// "forget" for a site that is gone.

import { h, replaceChildren, stateBadge, badge, empty, fmtBytes, fmtRate, fmtAgo, fmtMs } from '../dom.js';
import { api, enc } from '../api.js';
import { state, history, series, lastRate, refresh } from '../store.js';
import { rateChart, rttChart } from '../chart.js';
import { rangeSwitch } from './overview.js';

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
function channelRow(peer, ch) {
  const rate = lastRate('channel', `${peer.siteName}/${ch.id}`);
  const td = (label, v) => h('td', { 'data-label': label }, v);
  return h('tr', { 'data-testid': 'channel-row', 'data-channel': ch.id },
    td('Channel', String(ch.id)),
    td('Family', ch.family === 'ipv6' ? 'IPv6' : 'IPv4'),
    td('Path', h('span', { 'data-testid': 'channel-path' }, ch.path || 'direct')),
    td('Direction', ch.direction || '–'),
    td('Remote', h('code', {}, ch.remoteAddress || '–')),
    td('State', stateBadge(ch.state, 'channel-state')),
    td('RTT', h('span', { 'data-testid': 'channel-rtt' }, ch.state === 'up' && ch.rttMs > 0 ? fmtMs(ch.rttMs) : '–')),
    td('Sent', fmtBytes(ch.bytesSent)),
    td('Received', fmtBytes(ch.bytesReceived)),
    td('Streams', ch.streams ?? '–'),
    td('Now', rate ? [h('span', { class: 'nowrap' }, `↓ ${fmtRate(rate.rx)}`), ' ', h('span', { class: 'nowrap' }, `↑ ${fmtRate(rate.tx)}`)] : '–'));
}

function channels(peer) {
  const list = peer.channels || [];
  if (!list.length) {
    return empty('no-channels', peer.online
      ? 'No data channel yet. One opens when this site or the peer has a tunnel socket the other can reach.'
      : 'No data channel: the site is offline.');
  }
  const cols = ['Channel', 'Family', 'Path', 'Direction', 'Remote', 'State', 'RTT', 'Sent', 'Received', 'Streams', 'Now'];
  return h('table', { class: 'table', 'data-testid': 'channels' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.map((ch) => channelRow(peer, ch))));
}

function charts(peer) {
  const opts = { range: state.range, now: history.now };
  return h('div', { class: 'charts' },
    h('figure', { class: 'chart-box' },
      rateChart(series('peer', peer.siteName), { ...opts, title: `Throughput with ${peer.siteName}`, testid: 'peer-chart', rxLabel: 'received', txLabel: 'sent' }),
      h('figcaption', {}, h('span', { class: 'rx' }, '■ received'), ' / ', h('span', { class: 'tx' }, '■ sent'), ` with ${peer.siteName}, all channels`)),
    h('figure', { class: 'chart-box' },
      rttChart(series('peer', peer.siteName), { ...opts, title: `RTT to ${peer.siteName}`, testid: 'peer-rtt-chart' }),
      h('figcaption', {}, h('span', { class: 'rtt' }, '■ RTT'), ' of the best up channel')));
}

function apps(peer) {
  const list = peer.apps || [];
  if (!list.length) return h('p', { class: 'muted' }, 'This peer exposes no apps.');
  return h('ul', { class: 'apps', 'data-testid': 'peer-apps' }, list.map((name) => {
    const href = `#/apps?site=${encodeURIComponent(peer.siteName)}&app=${encodeURIComponent(name)}`;
    return h('li', { 'data-testid': 'peer-app', 'data-app': name },
      h('span', { class: 'app-name' }, name), ' ',
      h('a', { href, class: 'button small', 'data-testid': 'use-app', 'data-focus-key': `use-${peer.siteName}-${name}` }, 'Use this app here'));
  }));
}

function facts(peer) {
  const socks = (peer.sockets || []).map((sk) => `${sk.address}:${sk.port}${sk.detected ? ' (detected)' : ''}`).join(', ');
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Announces'), h('dd', {}, socks || 'no socket (it dials out only)'),
    h('dt', {}, 'Last announcement'), h('dd', { 'data-testid': 'peer-last-seen' }, peer.lastSeen ? fmtAgo(peer.lastSeen) : 'not this run (remembered)'),
    peer.fingerprint ? [h('dt', {}, 'Certificate'), h('dd', {}, h('code', { title: peer.fingerprint }, `${peer.fingerprint.slice(0, 16)}…`))] : null);
}

function peerState(peer) {
  if (peer.reachable) return 'reachable';
  return peer.online ? 'online' : 'offline';
}

export function mount(ctx) {
  const head = h('div', { class: 'section-head' });
  const list = h('div', { class: 'cards' });
  const el = h('section', { 'data-testid': 'view-peers' }, head, list);
  let armed = null;    // site whose forget awaits confirmation

  async function forget(site) {
    armed = null;
    try {
      await api.del(`/peers/${enc(site)}`);
      ctx.notice(`Forgot site ${site}: its announcement, channels and history are gone. It comes back if it announces itself again.`);
      await refresh(['peers', 'remoteApps']);
    } catch (err) {
      ctx.notice(`Could not forget ${site}: ${err.message}`, 'bad');
      update();
    }
  }

  function forgetButton(peer) {
    if (armed === peer.siteName) {
      return h('span', { class: 'row-actions' },
        h('button', { type: 'button', class: 'danger small', 'data-testid': 'confirm-forget', onclick: () => forget(peer.siteName) }, `Forget ${peer.siteName}`),
        h('button', { type: 'button', class: 'secondary small', 'data-testid': 'cancel-forget', onclick: () => { armed = null; update(); } }, 'Keep'));
    }
    return h('button', { type: 'button', class: 'secondary small', 'data-testid': 'forget', 'data-focus-key': `forget-${peer.siteName}`,
      title: 'Drop this site from the list (for a site that is gone for good)', onclick: () => { armed = peer.siteName; update(); } }, 'Forget');
  }

  function peerCard(peer) {
    const up = (peer.channels || []).filter((c) => c.state === 'up').length;
    return h('article', { class: 'card', 'data-testid': 'peer', 'data-site': peer.siteName },
      h('header', { class: 'card-head' }, h('h3', {}, peer.siteName), stateBadge(peerState(peer), 'peer-state'),
        h('span', { class: 'muted' }, `${up} of ${(peer.channels || []).length} channel(s) up`), h('span', { class: 'grow' }), forgetButton(peer)),
      membership(peer, update), facts(peer), charts(peer),
      h('h4', {}, 'Data channels'), channels(peer),
      h('h4', {}, 'Exposed apps'), apps(peer));
  }

  function update() {
    replaceChildren(head, h('h2', {}, 'Peers'), state.peers.length ? rangeSwitch() : null);
    if (!state.peers.length) {
      replaceChildren(list, empty('peers-empty', 'No peers discovered yet. Start wovenet on another site with the same broker, topic and network key (see Settings).',
        h('a', { href: '#/settings', class: 'button secondary' }, 'Open settings')));
      return;
    }
    // Sites waiting for the operator first, with the key to compare.
    const pending = state.peers.filter((p) => p.membership === 'pending' || p.membership === 'conflict');
    const top = [];
    if (actionError) top.push(h('p', { class: 'error', 'data-testid': 'peer-action-error' }, actionError));
    if (pending.length) {
      top.push(h('section', { class: 'card', 'data-testid': 'pending-sites' },
        h('h3', {}, 'Waiting for approval'),
        h('ul', {}, pending.map((p) => h('li', { 'data-testid': 'pending-site', 'data-site': p.siteName },
          h('strong', {}, p.siteName), ' ', h('code', { class: 'idkey' },
            keyText(p.membership === 'conflict' && p.conflict ? p.conflict.offeredKey : p.identityKey)))))));
    }
    replaceChildren(list, top, state.peers.map(peerCard));
  }
  update();
  return { el, update };
}
