// The mesh picture: this site in the centre, peers around it, one curved
// edge per data channel. An edge's colour is the channel's state, its
// stroke pattern the path it takes (direct, punched, mapped, relayed via a
// site), its label family and path. Labels never sit under an edge: a
// peer's name is on the far side of its node from the centre, this site's
// name in the widest gap between its edges, edges stop at the circles.

import { s } from './dom.js';

const CX = 320, CY = 200, RX = 240, RY = 150, NODE_R = 26;

/** The path kind of a channel: direct | punched | mapped | relayed. */
export function pathKind(ch) {
  const p = String(ch.path || 'direct');
  return p.startsWith('relayed') ? 'relayed' : ['direct', 'punched', 'mapped'].includes(p) ? p : 'direct';
}

function familyLabel(ch) {
  return ch.family === 'ipv6' ? 'IPv6' : 'IPv4';
}

function peerPositions(peers) {
  const n = peers.length;
  return peers.map((peer, i) => {
    const angle = n === 1 ? 0 : n === 2 ? (i ? Math.PI : 0) : -Math.PI / 2 + (2 * Math.PI * i) / n;
    return { peer, angle, x: CX + RX * Math.cos(angle), y: CY + RY * Math.sin(angle) };
  });
}

/** A label next to a circle at (x, y), pushed out along angle. */
function labelAt(x, y, angle, text, cls, testid, site) {
  const c = Math.cos(angle), sn = Math.sin(angle);
  const d = NODE_R + 10;
  const lx = x + d * c, ly = y + d * sn + 5 + (sn > 0.5 ? 8 : sn < -0.5 ? -4 : 0);
  const anchor = c > 0.35 ? 'start' : c < -0.35 ? 'end' : 'middle';
  return s('text', { x: lx.toFixed(1), y: ly.toFixed(1), 'text-anchor': anchor, class: cls, 'data-testid': testid, 'data-site': site }, text);
}

/** The middle of the widest angular gap between the peers (for this site's label). */
function freeAngle(placed) {
  if (!placed.length) return Math.PI / 2;
  const a = placed.map((p) => ((p.angle % (2 * Math.PI)) + 2 * Math.PI) % (2 * Math.PI)).sort((u, v) => u - v);
  let best = 0, at = a[0] + Math.PI;
  for (let i = 0; i < a.length; i++) {
    const next = i + 1 < a.length ? a[i + 1] : a[0] + 2 * Math.PI;
    if (next - a[i] > best) { best = next - a[i]; at = (a[i] + next) / 2; }
  }
  return at;
}

/** One channel edge: a quadratic curve bent by `bend`, from circle to circle. */
function edge(p, ch, bend, siteName) {
  const dx = p.x - CX, dy = p.y - CY, len = Math.hypot(dx, dy) || 1;
  const nx = -dy / len, ny = dx / len;
  const mx = (CX + p.x) / 2 + nx * bend, my = (CY + p.y) / 2 + ny * bend;
  // Start and end on the circles, heading to the control point.
  const cut = (fx, fy) => { const l = Math.hypot(mx - fx, my - fy) || 1; return [fx + ((mx - fx) / l) * (NODE_R + 3), fy + ((my - fy) / l) * (NODE_R + 3)]; };
  const [sx, sy] = cut(CX, CY), [ex, ey] = cut(p.x, p.y);
  // The label at the curve's middle, a little to the outside of the bend.
  const lx = 0.25 * sx + 0.5 * mx + 0.25 * ex, ly = 0.25 * sy + 0.5 * my + 0.25 * ey;
  const side = bend === 0 ? 1 : Math.sign(bend);
  // Off the line on the outside of the bend; anchored so the text grows away from it.
  const ox = nx * side, oy = ny * side;
  const tx = lx + ox * 10, ty = ly + oy * 10 + (oy > 0.5 ? 10 : oy < -0.5 ? -2 : 4);
  const anchor = ox > 0.5 ? 'start' : ox < -0.5 ? 'end' : 'middle';
  const state = ch.state || 'unknown';
  const kind = pathKind(ch);
  const label = `${familyLabel(ch)} · ${kind === 'relayed' ? ch.path : kind}`;
  return s('g', { class: `edge edge-${state} path-${kind}`, 'data-testid': 'mesh-edge', 'data-site': siteName, 'data-channel': ch.id, 'data-path': ch.path || 'direct' },
    s('title', {}, `${familyLabel(ch)} channel ${ch.id} to ${siteName}: ${state}, ${ch.path || 'direct'}, ${ch.localAddress || '?'} → ${ch.remoteAddress || '?'}`),
    s('path', { d: `M${sx.toFixed(1)},${sy.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`, 'data-testid': 'edge-path' }),
    s('text', { x: tx.toFixed(1), y: ty.toFixed(1), class: 'edge-label', 'text-anchor': anchor, 'data-testid': 'edge-label' }, label));
}

function circle(x, y, cls, testid, site) {
  return s('g', { class: `node ${cls}`, 'data-testid': testid, 'data-site': site },
    s('circle', { cx: x.toFixed(1), cy: y.toFixed(1), r: NODE_R }));
}

/** A view box fitted around the nodes and their labels. */
function viewBox(placed) {
  const xs = [CX, ...placed.map((p) => p.x)], ys = [CY, ...placed.map((p) => p.y)];
  const x0 = Math.min(...xs) - 150, x1 = Math.max(...xs) + 150;
  const y0 = Math.min(...ys) - 70, y1 = Math.max(...ys) + 70;
  const w = Math.max(600, x1 - x0), h = Math.max(240, y1 - y0);
  const left = (x0 + x1 - w) / 2, top = (y0 + y1 - h) / 2;
  return `${left.toFixed(0)} ${top.toFixed(0)} ${w.toFixed(0)} ${h.toFixed(0)}`;
}

/** Returns a fresh <svg> for the site and its peers. */
export function renderMesh(siteName, peers) {
  const placed = peerPositions(peers);
  const edges = [];
  for (const p of placed) {
    const channels = p.peer.channels || [];
    if (!channels.length) {
      const dx = p.x - CX, dy = p.y - CY, l = Math.hypot(dx, dy) || 1, k = (NODE_R + 3) / l;
      edges.push(s('line', { x1: (CX + dx * k).toFixed(1), y1: (CY + dy * k).toFixed(1), x2: (p.x - dx * k).toFixed(1), y2: (p.y - dy * k).toFixed(1), class: 'edge-none', 'data-testid': 'edge-path' }));
    }
    channels.forEach((ch, i) => edges.push(edge(p, ch, (i - (channels.length - 1) / 2) * 44, p.peer.siteName)));
  }
  const nodes = placed.map((p) => circle(p.x, p.y, p.peer.reachable ? 'node-online' : p.peer.online ? 'node-idle' : 'node-offline', 'mesh-node', p.peer.siteName));
  const labels = placed.map((p) => labelAt(p.x, p.y, p.angle, p.peer.siteName, 'node-label', 'node-label', p.peer.siteName));
  const self = siteName || 'this site';
  labels.push(labelAt(CX, CY, freeAngle(placed), self, 'node-label node-label-self', 'node-label', self));
  return s('svg', { viewBox: viewBox(placed), class: 'mesh', role: 'img', 'data-testid': 'mesh',
    'aria-label': `Mesh: ${self} with ${peers.length} peer(s)` },
  edges, circle(CX, CY, 'node-self', 'mesh-self', self), nodes, labels);
}

/** The legend: channel states (colour) and paths (stroke). */
export function meshLegend() {
  const item = (key, text) => [s('svg', { viewBox: '0 0 28 8', class: 'key', 'aria-hidden': 'true' }, key), ` ${text}`];
  const line = (cls) => s('line', { x1: 1, y1: 4, x2: 27, y2: 4, class: cls });
  return [
    ['edge-up path-direct', 'up'], ['edge-handshaking path-direct', 'handshaking / proving'], ['edge-closing path-direct', 'closing'],
    ['edge-none', 'no channel'], ['edge-up path-punched', 'punched'], ['edge-up path-mapped', 'mapped'], ['edge-up path-relayed', 'relayed via a site'],
  ].map(([cls, text]) => item(s('g', { class: cls.startsWith('edge-none') ? '' : `edge ${cls}` }, line(cls === 'edge-none' ? 'edge-none' : 'key-line')), text));
}
