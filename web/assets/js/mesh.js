// The mesh picture: this site in the centre, peers around it, one curved
// edge per data channel. An edge's colour is the channel's state, its
// stroke pattern the path it takes (direct, punched, mapped, relayed via a
// site), its label family and path. Labels never sit under an edge, a node
// or another label: a peer's name is on the far side of its node from the
// centre, edges stop at the circles, and once the picture is on screen
// placeLabels() moves this site's name and each edge's label to the first
// free place it measures (a label with no free place left is hidden; the
// edge's tooltip and the Peers page still say it all).

import { s } from './dom.js';

const CX = 320, CY = 200, RX = 240, RY = 150, NODE_R = 26;

/** The path kind of a channel: direct | punched | mapped | relayed. */
export function pathKind(ch) {
  const p = String(ch.path || 'direct');
  return p.startsWith('relayed') ? 'relayed' : ['direct', 'punched', 'mapped'].includes(p) ? p : 'direct';
}

function familyLabel(ch) {
  // A relayed channel rides inside the channels to its relay, of either family.
  if (ch.family === 'relay') return 'QUIC';
  return ch.family === 'ipv6' ? 'IPv6' : 'IPv4';
}

function peerPositions(peers) {
  const n = peers.length;
  return peers.map((peer, i) => {
    const angle = n === 1 ? 0 : n === 2 ? (i ? Math.PI : 0) : -Math.PI / 2 + (2 * Math.PI * i) / n;
    return { peer, angle, x: CX + RX * Math.cos(angle), y: CY + RY * Math.sin(angle) };
  });
}

/** Where a label next to a circle at (x, y) goes, pushed out along angle by gap. */
function labelPos(x, y, angle, gap) {
  const c = Math.cos(angle), sn = Math.sin(angle);
  const d = NODE_R + gap;
  return {
    x: (x + d * c).toFixed(1), y: (y + d * sn + 5 + (sn > 0.5 ? 8 : sn < -0.5 ? -4 : 0)).toFixed(1),
    anchor: c > 0.35 ? 'start' : c < -0.35 ? 'end' : 'middle',
  };
}

function labelAt(x, y, angle, text, cls, testid, site, gap = 10) {
  const p = labelPos(x, y, angle, gap);
  return s('text', { x: p.x, y: p.y, 'text-anchor': p.anchor, class: cls, 'data-testid': testid, 'data-site': site }, text);
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
  const short = kind === 'direct' ? familyLabel(ch) : `${familyLabel(ch)} · ${kind}`;
  return s('g', { class: `edge edge-${state} path-${kind}`, 'data-testid': 'mesh-edge', 'data-site': siteName, 'data-channel': ch.id, 'data-path': ch.path || 'direct' },
    s('title', {}, `${familyLabel(ch)} channel ${ch.id} to ${siteName}: ${state}, ${ch.path || 'direct'}, ${ch.localAddress || '?'} → ${ch.remoteAddress || '?'}`),
    s('path', { d: `M${sx.toFixed(1)},${sy.toFixed(1)} Q${mx.toFixed(1)},${my.toFixed(1)} ${ex.toFixed(1)},${ey.toFixed(1)}`, 'data-testid': 'edge-path' }),
    s('text', { x: tx.toFixed(1), y: ty.toFixed(1), class: 'edge-label', 'text-anchor': anchor, 'data-testid': 'edge-label',
      'data-full': label, 'data-short': short, 'data-side': side }, label));
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
  // This site's edges fan out around it, their labels half-way along: its
  // name keeps clear of them by standing further off than a peer's.
  const free = freeAngle(placed);
  const own = labelAt(CX, CY, free, self, 'node-label node-label-self', 'node-label', self, placed.length ? 30 : 10);
  own.dataset.angle = String(free);
  labels.push(own);
  return s('svg', { viewBox: viewBox(placed), class: 'mesh', role: 'img', 'data-testid': 'mesh',
    'aria-label': `Mesh: ${self} with ${peers.length} peer(s)` },
  edges, circle(CX, CY, 'node-self', 'mesh-self', self), nodes, labels);
}

/* --- Label placement, measured on screen ------------------------------------------ */

function sampled(path) {
  if (path.tagName === 'line') {
    const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => Number(path.getAttribute(a)));
    return Array.from({ length: 41 }, (_, k) => [x1 + ((x2 - x1) * k) / 40, y1 + ((y2 - y1) * k) / 40]);
  }
  const len = path.getTotalLength(), out = [];
  for (let d = 0; d <= len; d += 2) { const p = path.getPointAtLength(d); out.push([p.x, p.y]); }
  return out;
}

const hits = (a, b) => a.x < b.x + b.width + 2 && b.x < a.x + a.width + 2 && a.y < b.y + b.height + 2 && b.y < a.y + a.height + 2;

// Pictures on screen: a resize changes the text's size (phone widths have
// their own), so their labels are placed again.
const shown = new Set();
let resizeTimer = 0;
if (typeof window !== 'undefined') {
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const svg of shown) { if (svg.isConnected) placeLabels(svg); else shown.delete(svg); }
    }, 100);
  });
}

/** Moves this site's name and the edge labels of an <svg> from renderMesh
 *  (in the document) to places where nothing covers them. */
export function placeLabels(svg) {
  if (!svg.isConnected) return;
  for (const old of shown) if (!old.isConnected) shown.delete(old);
  shown.add(svg);
  const lines = [...svg.querySelectorAll('[data-testid=edge-path]')].map(sampled);
  const circles = [...svg.querySelectorAll('circle')].map((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy')), Number(c.getAttribute('r'))]);
  const taken = [];
  const free = (b) => !taken.some((o) => hits(b, o))
    && !lines.some((pts) => pts.some(([x, y]) => x >= b.x - 2 && x <= b.x + b.width + 2 && y >= b.y - 2 && y <= b.y + b.height + 2))
    && !circles.some(([cx, cy, r]) => {
      const nx = Math.max(b.x, Math.min(cx, b.x + b.width)), ny = Math.max(b.y, Math.min(cy, b.y + b.height));
      return Math.hypot(nx - cx, ny - cy) < r + 2;
    });
  // Peers' names stay where they are (outside, away from every edge).
  for (const t of svg.querySelectorAll('[data-testid=node-label]:not(.node-label-self)')) taken.push(t.getBBox());
  // This site's name: further out along its gap until clear.
  const self = svg.querySelector('.node-label-self');
  if (self) {
    const angle = Number(self.dataset.angle || Math.PI / 2);
    for (const gap of [10, 30, 50, 75, 100, 130, 165]) {
      const p = labelPos(CX, CY, angle, gap);
      self.setAttribute('x', p.x);
      self.setAttribute('y', p.y);
      self.setAttribute('text-anchor', p.anchor);
      if (free(self.getBBox())) break;
    }
    taken.push(self.getBBox());
  }
  for (const text of svg.querySelectorAll('[data-testid=edge-label]')) {
    text.removeAttribute('display');
    const path = text.parentNode.querySelector('path');
    const len = path.getTotalLength();
    const side0 = Number(text.dataset.side || 1);
    let done = false;
    for (const label of [text.dataset.full, text.dataset.short]) {
      text.textContent = label;
      for (const at of [0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73]) {
        const p = path.getPointAtLength(len * at), q = path.getPointAtLength(Math.min(len, len * at + 1));
        const l = Math.hypot(q.x - p.x, q.y - p.y) || 1;
        const nx = -(q.y - p.y) / l, ny = (q.x - p.x) / l;
        for (const side of [side0, -side0]) {
          for (const off of [9, 16]) {
            const ox = nx * side, oy = ny * side;
            text.setAttribute('x', (p.x + ox * off).toFixed(1));
            text.setAttribute('y', (p.y + oy * off + (oy > 0.5 ? 10 : oy < -0.5 ? -2 : 4)).toFixed(1));
            text.setAttribute('text-anchor', ox > 0.5 ? 'start' : ox < -0.5 ? 'end' : 'middle');
            const b = text.getBBox();
            if (free(b)) { taken.push(b); done = true; break; }
          }
          if (done) break;
        }
        if (done) break;
      }
      if (done) break;
    }
    // No free place at this size: the label gives way (shown again when
    // a resize leaves room; the edge's tooltip keeps what it says).
    if (!done) text.setAttribute('display', 'none');
  }
  // The frame around what is drawn, names included (a long one is not cut).
  const all = svg.getBBox();
  const w = Math.max(all.width + 24, 480), h = Math.max(all.height + 24, 220);
  svg.setAttribute('viewBox', `${(all.x + all.width / 2 - w / 2).toFixed(0)} ${(all.y + all.height / 2 - h / 2).toFixed(0)} ${w.toFixed(0)} ${h.toFixed(0)}`);
  svg.dataset.placedAt = String(window.innerWidth); // the width the labels were placed for
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
