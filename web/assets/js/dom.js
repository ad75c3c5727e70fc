// Tiny DOM helpers: build elements without innerHTML (CSP- and XSS-safe).

const SVG_NS = 'http://www.w3.org/2000/svg';

function applyAttrs(el, attrs) {
  for (const [key, val] of Object.entries(attrs || {})) {
    if (val === undefined || val === null || val === false) continue;
    if (key.startsWith('on') && typeof val === 'function') {
      el.addEventListener(key.slice(2), val);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = val;
    } else {
      el.setAttribute(key, val === true ? '' : String(val));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h('div', {class: 'x', onclick: fn}, 'text', otherEl) */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Same as h() for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyAttrs(el, attrs);
  append(el, children);
  return el;
}

/** Replaces the children of el, keeping keyboard focus on the element with
 *  the same data-focus-key if it was focused before. */
export function replaceChildren(el, ...children) {
  const active = document.activeElement;
  const key = active && el.contains(active) ? active.getAttribute('data-focus-key') : null;
  el.replaceChildren();
  append(el, children);
  if (key) {
    const again = el.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

export function fmtBytes(n) {
  if (typeof n !== 'number' || !isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)}\u00a0${units[i]}`;
}

export function fmtRate(bytesPerSec) {
  if (typeof bytesPerSec !== 'number' || !isFinite(bytesPerSec)) return '–';
  const bits = bytesPerSec * 8;
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
  let v = bits, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${i === 0 ? Math.round(v) : v.toFixed(1)}\u00a0${units[i]}`;
}

/** A round-trip time: 0.26 ms, 2.6 ms, 26 ms, 260 ms (two digits where
 *  they mean something, never six). */
export function fmtMs(ms) {
  if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) return '–';
  const v = ms < 1 ? ms.toFixed(2) : ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
  return `${v}\u00a0ms`;
}

/** A duration in seconds: "45 s", "12 min", "3 h 5 min", "2 d 4 h". */
export function fmtDuration(sec) {
  if (typeof sec !== 'number' || !isFinite(sec)) return '–';
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec}\u00a0s`;
  if (sec < 3600) return `${Math.floor(sec / 60)}\u00a0min`;
  if (sec < 86400) return `${Math.floor(sec / 3600)}\u00a0h ${Math.floor((sec % 3600) / 60)}\u00a0min`;
  return `${Math.floor(sec / 86400)}\u00a0d ${Math.floor((sec % 86400) / 3600)}\u00a0h`;
}

/** Local clock time of an ISO time or ms timestamp: "14:03:07". */
export function fmtClock(t) {
  const d = new Date(typeof t === 'number' ? t : Date.parse(t));
  if (!isFinite(d.getTime())) return '–';
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function fmtAgo(iso) {
  if (!iso) return 'never';
  const t = typeof iso === 'number' ? (iso < 1e12 ? iso * 1000 : iso) : Date.parse(iso);
  if (!isFinite(t)) return String(iso);
  const sec = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (sec < 60) return `${sec} s ago`;
  if (sec < 3600) return `${Math.round(sec / 60)} min ago`;
  return `${Math.round(sec / 3600)} h ago`;
}

/** A coloured status word; cls picks the colour (ok, warn, bad, idle). */
export function badge(text, cls, testid = 'status-badge') {
  return h('span', { class: `badge badge-${cls}`, 'data-testid': testid }, text);
}

const STATE_CLASS = {
  listening: 'ok', up: 'ok', connected: 'ok', online: 'ok', ready: 'ok', reachable: 'ok', disabled: 'idle',
  info: 'idle', warn: 'warn', open: 'ok',
  'waiting-for-site': 'warn', handshaking: 'warn', proving: 'warn', connecting: 'warn',
  closing: 'idle', offline: 'idle', disconnected: 'bad', error: 'bad',
};

export function stateBadge(state, testid) {
  const word = state || 'unknown';
  return badge(word, STATE_CLASS[word] || 'idle', testid);
}

/** An empty-state block telling the user what to do next. */
export function empty(testid, text, ...actions) {
  return h('div', { class: 'empty', 'data-testid': testid }, h('p', {}, text), actions);
}
