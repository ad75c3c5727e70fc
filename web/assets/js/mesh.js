// The mesh picture: this site in the centre, peers on a circle around it,
// one curved edge per data channel, labelled IPv4/IPv6 (and its path when it
// is not direct: punched, mapped, relayed via a site) and coloured by state.

import { s } from './dom.js';

const CX = 320, CY = 200, R = 150;

function peerPositions(peers) {
  const n = peers.length;
  return peers.map((peer, i) => {
    const angle = (n <= 2 ? 0 : -Math.PI / 2) + (2 * Math.PI * i) / n;
    return { peer, x: CX + R * 1.6 * Math.cos(angle), y: CY + R * Math.sin(angle) };
  });
}

function familyLabel(ch) {
  if (ch.family === 'relay') return ch.path || 'relayed';
  const fam = ch.family === 'ipv6' ? 'IPv6' : 'IPv4';
  return ch.path && ch.path !== 'direct' ? `${fam} ${ch.path}` : fam;
}

// "relayed via x" -> "relayed": a class name per kind of path, for styling.
function pathKind(ch) {
  return (ch.path || 'direct').split(' ')[0];
}

/** One channel edge: a quadratic curve bent by `bend` pixels. */
function edge(x, y, ch, bend, siteName) {
  const dx = x - CX, dy = y - CY, len = Math.hypot(dx, dy) || 1;
  const mx = (CX + x) / 2 - (dy / len) * bend;
  const my = (CY + y) / 2 + (dx / len) * bend;
  const lx = 0.25 * CX + 0.5 * mx + 0.25 * x;
  const ly = 0.25 * CY + 0.5 * my + 0.25 * y;
  // Keep labels of parallel channels apart: anchor them away from the edge.
  const side = (-dy / len) * bend;
  const anchor = side < -4 ? 'end' : side > 4 ? 'start' : 'middle';
  const state = ch.state || 'unknown';
  const label = familyLabel(ch);
  return s('g', { class: `edge edge-${state} edge-path-${pathKind(ch)}`, 'data-testid': 'mesh-edge', 'data-site': siteName, 'data-channel': ch.id, 'data-path': ch.path || 'direct' },
    s('title', {}, `${label} channel ${ch.id} to ${siteName}: ${state}, ${ch.localAddress || '?'} → ${ch.remoteAddress || '?'}`),
    s('path', { d: `M${CX},${CY} Q${mx.toFixed(1)},${my.toFixed(1)} ${x.toFixed(1)},${y.toFixed(1)}` }),
    s('text', { x: lx.toFixed(1), y: (ly - 4).toFixed(1), class: 'edge-label', 'text-anchor': anchor }, label));
}

function node(x, y, name, cls, testid) {
  return s('g', { class: `node ${cls}`, 'data-testid': testid, 'data-site': name },
    s('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: 26 }),
    s('text', { x: x.toFixed(1), y: (y + 44).toFixed(1), 'text-anchor': 'middle' }, name));
}

/** A view box fitted around the nodes (and their labels). */
function viewBox(placed) {
  const xs = [CX, ...placed.map((p) => p.x)], ys = [CY, ...placed.map((p) => p.y)];
  const x0 = Math.min(...xs) - 90, x1 = Math.max(...xs) + 90;
  const y0 = Math.min(...ys) - 60, y1 = Math.max(...ys) + 70;
  // Not smaller than 560 x 260, so one peer is not drawn huge.
  const w = Math.max(560, x1 - x0), h = Math.max(260, y1 - y0);
  const left = (x0 + x1 - w) / 2, top = (y0 + y1 - h) / 2;
  return `${left.toFixed(0)} ${top.toFixed(0)} ${w.toFixed(0)} ${h.toFixed(0)}`;
}

/** Returns a fresh <svg> for the site and its peers. */
export function renderMesh(siteName, peers) {
  const placed = peerPositions(peers);
  const edges = [];
  for (const { peer, x, y } of placed) {
    const channels = peer.channels || [];
    if (!channels.length) {
      edges.push(s('line', { x1: CX, y1: CY, x2: x.toFixed(1), y2: y.toFixed(1), class: 'edge-none' }));
    }
    channels.forEach((ch, i) => edges.push(edge(x, y, ch, (i - (channels.length - 1) / 2) * 56, peer.siteName)));
  }
  const nodes = placed.map(({ peer, x, y }) =>
    node(x, y, peer.siteName, peer.online ? 'node-online' : 'node-offline', 'mesh-node'));
  return s('svg', { viewBox: viewBox(placed), class: 'mesh', role: 'img', 'data-testid': 'mesh',
    'aria-label': `Mesh: ${siteName} with ${peers.length} peer(s)` },
  edges, node(CX, CY, siteName || 'this site', 'node-self', 'mesh-self'), nodes);
}
