// Throughput chart: two polylines (received, sent) over the last minutes.

import { s, fmtRate } from './dom.js';

const W = 320, H = 110, PAD_L = 4, PAD_T = 16, PAD_B = 18;
const WINDOW_MS = 3 * 60 * 1000;

function points(samples, key, now, max) {
  return samples.filter((p) => p[key] !== null).map((p) => {
    const x = PAD_L + ((W - PAD_L * 2) * (WINDOW_MS - (now - p.t))) / WINDOW_MS;
    const y = PAD_T + (H - PAD_T - PAD_B) * (1 - p[key] / max);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
}

/** samples: [{t, rxRate, txRate}] in bytes/s, oldest first. */
export function renderThroughput(samples, label) {
  const now = Date.now();
  const max = Math.max(1024, ...samples.map((p) => Math.max(p.rxRate || 0, p.txRate || 0))) * 1.1;
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'data-testid': 'throughput-chart',
    'aria-label': `Throughput of ${label} over the last 3 minutes` },
  s('line', { x1: PAD_L, y1: H - PAD_B, x2: W - PAD_L, y2: H - PAD_B, class: 'axis' }),
  s('text', { x: PAD_L, y: 10, class: 'chart-text' }, `max ${fmtRate(max)}`),
  s('text', { x: PAD_L, y: H - 3, class: 'chart-text' }, '3 min ago'),
  s('text', { x: W - PAD_L, y: H - 3, class: 'chart-text', 'text-anchor': 'end' }, 'now'),
  s('polyline', { points: points(samples, 'rxRate', now, max), class: 'line-rx', 'data-testid': 'chart-rx' }),
  s('polyline', { points: points(samples, 'txRate', now, max), class: 'line-tx', 'data-testid': 'chart-tx' }));
}
