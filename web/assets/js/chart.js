// Time-series charts of the agent's history: a fixed time window (15 min
// or 24 h) ending now, value axis with units, one line per series (the
// first filled), nothing drawn where the agent kept nothing (before it
// started: shaded and said).

import { s, fmtRate, fmtMs, fmtClock } from './dom.js';

const L = 84, R = 12, T = 12, B = 24;

/** The drawing width: about the width the chart gets on screen, so that its
 *  text shows at its own size (a wide chart spans the page, others half). */
function widthFor(wide) {
  const vw = typeof window === 'undefined' ? 1280 : window.innerWidth;
  return Math.round(wide ? Math.min(1100, Math.max(300, vw - 90)) : Math.min(540, Math.max(300, vw < 760 ? vw - 60 : (vw - 160) / 2)));
}
const RANGES = {
  '15m': { window: 900, ticks: [900, 600, 300, 0], label: (sec) => (sec ? `−${sec / 60} min` : 'now') },
  '24h': { window: 86400, ticks: [86400, 64800, 43200, 21600, 0], label: (sec) => (sec ? `−${sec / 3600} h` : 'now') },
};

/** A "nice" upper bound for the axis: 1, 2 or 5 times a power of ten. */
function niceMax(v, unit) {
  if (unit === 'rate') v *= 8; // the axis speaks bits
  const floor = unit === 'ms' ? 1 : 8000;
  v = Math.max(v, floor);
  const p = 10 ** Math.floor(Math.log10(v));
  const m = [1, 2, 5, 10].find((k) => k * p >= v) * p;
  return unit === 'rate' ? m / 8 : m;
}

function fmt(v, unit) {
  if (v === 0) return unit === 'ms' ? '0\u00a0ms' : '0';
  return unit === 'ms' ? fmtMs(v) : fmtRate(v);
}

/** An axis value: the nice numbers niceMax gives, without a useless ".0". */
function fmtAxis(v, unit) {
  return fmt(v, unit).replace(/\.0(?=\u00a0)/, '');
}

/**
 * opts: {range: '15m'|'24h', now (s), start (s), step (s), unit: 'rate'|'ms',
 *        lines: [{values, cls, label}] (values per step: bytes per step for
 *        rates, ms for RTT; null: none), title, testid}
 */
export function renderChart(opts) {
  const W = widthFor(opts.wide), H = opts.wide ? 230 : 170;
  const range = RANGES[opts.range] || RANGES['15m'];
  const { now, step = 1, unit = 'rate' } = opts;
  // Time labels: as many as fit.
  const ticks = W < 420 ? range.ticks.filter((_, i, a) => i === 0 || i === a.length - 1 || i === Math.floor(a.length / 2)) : range.ticks;
  const t0 = now - range.window;
  const x = (t) => L + ((W - L - R) * (t - t0)) / range.window;
  const per = unit === 'rate' ? step : 1;
  const lines = opts.lines.map((ln) => ({
    ...ln,
    pts: (ln.values || []).map((v, i) => ({ t: opts.start + i * step, v: v === null || v === undefined ? null : v / per }))
      .filter((p) => p.t >= t0 - step && p.t <= now + step),
  }));
  const seen = lines.flatMap((ln) => ln.pts.filter((p) => p.v !== null).map((p) => p.v));
  const max = niceMax(seen.length ? Math.max(...seen) : 0, unit);
  const y = (v) => T + (H - T - B) * (1 - Math.min(v, max) / max);
  const parts = [];
  // Grid and value labels.
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f).toFixed(1);
    parts.push(s('line', { x1: L, y1: yy, x2: W - R, y2: yy, class: f ? 'grid' : 'axis' }));
    parts.push(s('text', { x: L - 6, y: (Number(yy) + 4).toFixed(1), class: 'chart-text', 'text-anchor': 'end' }, fmtAxis(max * f, unit)));
  }
  // Time labels.
  for (const ago of ticks) {
    const xx = x(now - ago);
    const anchor = ago === range.window ? 'start' : ago === 0 ? 'end' : 'middle';
    parts.push(s('line', { x1: xx.toFixed(1), y1: H - B, x2: xx.toFixed(1), y2: H - B + 4, class: 'axis' }));
    parts.push(s('text', { x: xx.toFixed(1), y: H - 6, class: 'chart-text', 'text-anchor': anchor }, range.label(ago)));
  }
  // Before the first kept step: nothing is known.
  const first = Math.min(...lines.map((ln) => (ln.pts.length ? ln.pts[0].t : now)));
  if (first > t0 + step) {
    const w = x(first) - L;
    parts.push(s('rect', { x: L, y: T, width: w.toFixed(1), height: H - T - B, class: 'no-data', 'data-testid': 'chart-no-data' }));
    if (w > 120) {
      parts.push(s('text', { x: (L + w / 2).toFixed(1), y: ((H - B + T) / 2).toFixed(1), class: 'chart-text', 'text-anchor': 'middle' },
        lines.some((ln) => ln.pts.length) ? `kept since ${fmtClock(first * 1000)}` : 'nothing kept yet'));
    }
  }
  // Lines: broken where a step has no value; the first one also filled.
  lines.forEach((ln, k) => {
    const segs = [];
    let cur = [];
    for (const p of ln.pts) {
      if (p.v === null) { if (cur.length) segs.push(cur); cur = []; continue; }
      cur.push(`${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    }
    if (cur.length) segs.push(cur);
    for (const seg of segs) {
      if (k === 0 && seg.length > 1) {
        const a = seg[0].split(',')[0], b = seg[seg.length - 1].split(',')[0];
        parts.push(s('polygon', { points: `${a},${H - B} ${seg.join(' ')} ${b},${H - B}`, class: `area ${ln.cls}` }));
      }
      parts.push(s('polyline', { points: seg.join(' '), class: `line ${ln.cls}`, 'data-testid': `line-${ln.cls}` }));
    }
  });
  const lastOf = (ln) => { for (let i = ln.pts.length - 1; i >= 0; i--) if (ln.pts[i].v !== null) return ln.pts[i].v; return null; };
  const peak = seen.length ? Math.max(...seen) : 0;
  const summary = lines.map((ln) => `${ln.label} ${fmt(lastOf(ln), unit)} now`).join(', ');
  return s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'data-testid': opts.testid || 'chart',
    // For tests and tools: the peak and the newest value over all lines.
    'data-peak': String(peak), 'data-last': String(Math.max(-1, ...lines.map((ln) => lastOf(ln) ?? -1))),
    'data-points': String(lines[0] ? lines[0].pts.length : 0),
    'aria-label': `${opts.title}, last ${opts.range === '24h' ? '24 hours' : '15 minutes'}: ${summary}; peak ${fmt(peak, unit)}`,
  }, s('title', {}, `${opts.title}: ${summary}; peak ${fmt(peak, unit)}`), parts);
}

/** A chart of a throughput series (rx filled, tx line), or an empty one. */
export function rateChart(ser, { range, now, title, testid, rxLabel = 'in', txLabel = 'out', wide = false }) {
  return renderChart({
    range, now, title, testid, unit: 'rate', wide, step: ser ? ser.step : 1, start: ser ? ser.start : now,
    lines: [{ values: ser ? ser.rx : [], cls: 'rx', label: rxLabel }, { values: ser ? ser.tx : [], cls: 'tx', label: txLabel }],
  });
}

/** A chart of an RTT series. */
export function rttChart(ser, { range, now, title, testid }) {
  return renderChart({
    range, now, title, testid, unit: 'ms', step: ser ? ser.step : 1, start: ser ? ser.start : now,
    lines: [{ values: ser ? ser.rttMs : [], cls: 'rtt', label: 'RTT' }],
  });
}
