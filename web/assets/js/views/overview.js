// Overview: problems first, then the site, counts, its throughput over
// time (the agent's history), the live mesh picture and the latest events.

import { h, replaceChildren, stateBadge, badge, empty, fmtRate, fmtDuration, fmtClock } from '../dom.js';
import { state, history, series, lastRate, setRange } from '../store.js';
import { renderMesh, meshLegend, placeLabels } from '../mesh.js';
import { rateChart } from '../chart.js';
import { problems, appCounts } from '../health.js';

function stat(testid, label, value, detail, cls = '') {
  return h('div', { class: `stat ${cls}`, 'data-testid': testid },
    h('span', { class: 'stat-value' }, String(value)), h('span', { class: 'stat-label' }, label),
    detail ? h('span', { class: 'stat-detail' }, detail) : null);
}

function counts() {
  const channels = state.peers.flatMap((p) => p.channels || []);
  const reachable = state.peers.filter((p) => p.reachable).length;
  const online = state.peers.filter((p) => p.online).length;
  const up = channels.filter((c) => c.state === 'up').length;
  const apps = appCounts();
  const appDetail = [`${apps.exposed} exposed, ${apps.remote} remote`];
  if (apps.paused) appDetail.push(`${apps.paused} paused`);
  const rate = lastRate('site', '');
  return [
    stat('count-peers', 'peers', state.peers.length, `${reachable} reachable, ${online} online`),
    stat('count-channels', 'data channels', channels.length, `${up} up`),
    stat('count-apps', 'apps', apps.total,
      [appDetail.join(', '), apps.error ? h('span', { class: 'status-error', 'data-testid': 'count-apps-error' }, `, ${apps.error} in error`) : null],
      apps.error ? 'stat-bad' : ''),
    stat('count-connections', 'open connections', apps.open, 'through all apps'),
    stat('count-rate', 'throughput now', rate ? fmtRate(rate.rx + rate.tx) : '–',
      rate ? `↓ ${fmtRate(rate.rx)} ↑ ${fmtRate(rate.tx)}` : 'no history yet'),
  ];
}

function banner() {
  const list = problems();
  if (!list.length) return null;
  return h('div', { class: 'banner banner-bad', role: 'alert', 'data-testid': 'error-banner' },
    h('strong', {}, list.length === 1 ? '1 problem needs a look' : `${list.length} problems need a look`),
    h('ul', {}, list.map((p) => h('li', { 'data-testid': 'problem', 'data-kind': p.kind, 'data-name': p.name },
      h('a', { href: p.href }, p.name ? `${p.noun} ${p.name}` : p.noun), `: ${p.error}`))));
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

/** The 15 min / 24 h switch of every chart. */
export function rangeSwitch() {
  return h('div', { class: 'range', role: 'group', 'aria-label': 'Time range of the charts' },
    [['15m', '15 min'], ['24h', '24 h']].map(([r, text]) => h('button', {
      type: 'button', class: state.range === r ? 'small' : 'small secondary', 'aria-pressed': state.range === r ? 'true' : 'false',
      'data-testid': `range-${r}`, onclick: () => setRange(r),
    }, text)));
}

function recent() {
  const list = state.events.slice(-6).reverse();
  if (!list.length) return h('p', { class: 'muted' }, 'Nothing has happened yet.');
  return h('ul', { class: 'events-mini', 'data-testid': 'recent-events' }, list.map((e) =>
    h('li', { 'data-testid': 'recent-event' }, h('span', { class: 'muted' }, fmtClock(e.time)), ' ', badge(e.level, e.level === 'error' ? 'bad' : e.level === 'warn' ? 'warn' : 'idle', 'event-level'), ' ', e.message)));
}

export function mount() {
  const top = h('div');
  const summary = h('div', { class: 'summary' });
  const stats = h('div', { class: 'stats' });
  const hintBox = h('div', { class: 'hints' });
  const chartHead = h('div', { class: 'section-head' });
  const chart = h('figure', { class: 'chart-box wide', 'data-testid': 'site-chart-box' });
  const mesh = h('div', { class: 'mesh-box', 'data-testid': 'mesh-box' });
  const events = h('div', { class: 'panel' });
  const el = h('section', { 'data-testid': 'view-overview' }, h('h2', {}, 'Overview'), top, summary, stats, hintBox,
    chartHead, chart,
    h('div', { class: 'split-even' },
      h('div', {}, h('h3', {}, 'Mesh'), mesh, h('p', { class: 'legend muted' }, meshLegend().map((x) => h('span', { class: 'legend-item' }, x)))),
      h('div', {}, h('div', { class: 'section-head' }, h('h3', {}, 'Recent events'), h('a', { href: '#/events', class: 'button small secondary' }, 'All events')), events)));

  function drawChart() {
    replaceChildren(chartHead, h('h3', {}, 'Throughput of this site'), rangeSwitch());
    replaceChildren(chart, rateChart(series('site', ''), { range: state.range, now: history.now, title: 'Throughput of this site (all channels)', testid: 'site-chart', rxLabel: 'received', txLabel: 'sent', wide: true }),
      h('figcaption', {}, h('span', { class: 'rx' }, '■ received'), ' / ', h('span', { class: 'tx' }, '■ sent'), ' over all data channels, kept by the agent'));
  }

  function update(changed = []) {
    const site = state.site || {};
    const broker = state.broker || {};
    const agent = (site.status && site.status.agent) || {};
    replaceChildren(top, banner());
    replaceChildren(summary,
      h('p', {}, 'Site ', h('strong', { 'data-testid': 'overview-site-name' }, site.siteName || '–')),
      h('p', {}, 'Broker ', stateBadge(broker.state || 'unknown', 'broker-state')),
      agent.version ? h('p', { class: 'muted' }, `wovenet ${agent.version}, up ${fmtDuration(agent.uptimeSeconds)}`) : null);
    replaceChildren(stats, counts());
    replaceChildren(hintBox, hints());
    drawChart();
    if (!changed.length || changed.some((c) => c !== 'history' && c !== 'events')) {
      const svg = renderMesh(site.siteName, state.peers);
      replaceChildren(mesh, svg);
      // Labels are placed where they measure free, once the picture is shown.
      requestAnimationFrame(() => placeLabels(svg));
    }
    replaceChildren(events, recent());
  }
  update();
  return { el, update };
}
