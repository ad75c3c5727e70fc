// Apps: remote apps (reach a peer's app through a local socket) and
// exposed apps (offer a local service to peers). The remote-app form picks
// the site and the app from the peers' announcements (or takes a name
// typed for a site not seen yet); each app's details show its throughput
// over time and its open connections.

import { h, replaceChildren, stateBadge, fmtBytes, fmtAgo } from '../dom.js';
import { mountCollection } from '../collection.js';
import { getValue, setValue, splitList } from '../forms.js';
import { state, history, series } from '../store.js';
import { rateChart } from '../chart.js';
import { rangeSwitch } from './overview.js';

const SOCKET_HELP = 'tcp:IP:PORT, tcp:[IPv6]:PORT or unix:/absolute/path';
const OTHER = '__other';

function traffic(status) {
  const st = status || {};
  return `${fmtBytes(st.bytesIn ?? 0)} in / ${fmtBytes(st.bytesOut ?? 0)} out`;
}

function statusCell(app) {
  const st = app.status || {};
  const err = st.error || st.lastError;
  return h('span', {}, stateBadge(st.state), err ? h('span', { class: st.error ? 'status-error' : 'status-warn', 'data-testid': 'status-error' }, ` ${err}`) : null);
}

/** "2 open, 6 total": the same words for both kinds of app. */
function connCount(a) {
  const st = a.status || {};
  return h('span', { 'data-testid': 'conn-count' }, `${st.activeConnections ?? 0} open, ${st.connections ?? 0} total`);
}

function connectionsTable(kind, app) {
  const list = state.connections.filter((c) => c.kind === kind && c.app === app);
  if (!list.length) return h('p', { class: 'muted', 'data-testid': 'no-connections' }, 'No connection open now.');
  const remote = kind === 'remoteApp';
  const cols = [remote ? 'Client' : 'From site', remote ? 'To site' : 'Target', 'Started', 'In', 'Out', 'Channel', 'State'];
  return h('table', { class: 'table compact', 'data-testid': 'connections' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, list.map((c) => h('tr', { 'data-testid': 'connection-row', 'data-id': c.id },
      h('td', { 'data-label': cols[0] }, h('code', {}, remote ? c.client || '?' : c.site)),
      h('td', { 'data-label': cols[1] }, remote ? c.site : h('code', {}, c.target || '?')),
      h('td', { 'data-label': 'Started' }, fmtAgo(c.started)),
      h('td', { 'data-label': 'In' }, fmtBytes(c.bytesIn)),
      h('td', { 'data-label': 'Out' }, fmtBytes(c.bytesOut)),
      h('td', { 'data-label': 'Channel' }, c.channel === null || c.channel === undefined ? '–' : String(c.channel)),
      h('td', { 'data-label': 'State' }, stateBadge(c.state, 'connection-state'))))));
}

function details(kind, app) {
  return h('div', { class: 'details' },
    h('figure', { class: 'chart-box' },
      rateChart(series(kind, app.name), { range: state.range, now: history.now, title: `Throughput of ${app.name}`, testid: 'app-chart',
        rxLabel: kind === 'remoteApp' ? 'to clients' : 'to the app', txLabel: kind === 'remoteApp' ? 'from clients' : 'from the app' }),
      h('figcaption', {}, h('span', { class: 'rx' }, '■ in'), ' (from the tunnel) / ', h('span', { class: 'tx' }, '■ out'), ' (into the tunnel)')),
    h('div', {}, h('h4', {}, 'Open connections'), connectionsTable(kind, app.name)));
}

/* --- Site and app pickers of the remote-app form -------------------------------- */

function peerLabel(p) {
  const st = p.reachable ? 'reachable' : p.online ? 'online' : 'offline';
  return `${p.siteName} (${st}, ${p.apps.length} app${p.apps.length === 1 ? '' : 's'})`;
}

function field(form, name) { return form.fields.find((f) => f.name === name); }

/** A select above the text input of field `name`; the input shows only for
 *  "another …" (or when there is nothing to pick from). The field's visible
 *  label names whichever of the two shows; each also has its own. */
function addPicker(form, name, label) {
  const f = field(form, name);
  const id = `${f.input.id}-pick`;
  const pick = h('select', { id, 'data-testid': `pick-${name}`, name: `pick-${name}` });
  f.input.before(h('label', { for: id, class: 'sr-only' }, `${label}: pick one`), pick);
  f.input.after(h('label', { for: f.input.id, class: 'sr-only' }, `${label}: type a name`));
  f.pick = pick;
  f.label = f.row.querySelector('label');
  return pick;
}

function setOptions(pick, values, labels, other) {
  const want = pick.value;
  replaceChildren(pick, h('option', { value: '' }, '— choose —'),
    values.map((v, i) => h('option', { value: v }, labels[i])), h('option', { value: OTHER }, other));
  pick.value = [...pick.options].some((o) => o.value === want) ? want : '';
}

/** Puts both pickers in line with the text inputs' values. */
function syncPickers(form) {
  const site = field(form, 'siteName'), app = field(form, 'appName');
  const peers = state.peers;
  setOptions(site.pick, peers.map((p) => p.siteName), peers.map(peerLabel), 'another site (type its name)…');
  const sv = site.input.value.trim();
  const peer = peers.find((p) => p.siteName === sv);
  if (!peers.length) {
    site.pick.hidden = true; site.input.hidden = false;
  } else {
    site.pick.hidden = false;
    site.pick.value = peer ? sv : sv || site.other ? OTHER : '';
    site.input.hidden = site.pick.value !== OTHER;
  }
  const apps = peer ? peer.apps : [];
  setOptions(app.pick, apps, apps, 'another app (type its name)…');
  const av = app.input.value.trim();
  // Nothing picked yet: the app waits for the site.
  const waiting = peers.length && site.pick.value === '';
  app.pick.disabled = waiting;
  if (waiting) {
    replaceChildren(app.pick, h('option', { value: '' }, '— pick a site first —'));
    app.pick.hidden = false; app.input.hidden = true;
  } else if (!apps.length) {
    app.pick.hidden = true; app.input.hidden = false;
  } else {
    app.pick.hidden = false;
    app.pick.value = apps.includes(av) ? av : av || app.other ? OTHER : '';
    app.input.hidden = app.pick.value !== OTHER;
  }
  for (const f of [site, app]) f.label.htmlFor = f.pick.hidden ? f.input.id : f.pick.id;
}

function decorateRemote(form) {
  const site = field(form, 'siteName'), app = field(form, 'appName');
  addPicker(form, 'siteName', 'Peer site');
  addPicker(form, 'appName', 'App on that site');
  const onPick = (f, reset) => () => {
    f.other = f.pick.value === OTHER;
    f.input.value = f.other || !f.pick.value ? '' : f.pick.value;
    if (reset) { app.input.value = ''; app.other = false; }
    syncPickers(form);
    if (f.other) f.input.focus();
    suggestName(form);
  };
  site.pick.addEventListener('change', onPick(site, true));
  app.pick.addEventListener('change', onPick(app, false));
  for (const f of [site, app]) f.input.addEventListener('input', () => { f.other = true; });
  field(form, 'name').input.addEventListener('input', () => { form.nameTyped = true; });
}

/** A name from the site and app until the user types one. */
function suggestName(form) {
  const name = field(form, 'name');
  if (form.nameTyped || name.input.readOnly) return;
  const s = getValue(form, 'siteName'), a = getValue(form, 'appName');
  if (s && a) name.input.value = `${s}-${a}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 255);
}

const remoteSpec = {
  kind: 'remoteApps', path: '/remote-apps', title: 'Remote apps', singular: 'remote app', testid: 'remote-app',
  intro: 'A remote app listens on a local socket here and carries each connection to an app exposed by a peer.',
  emptyText: 'No remote apps. Pick a site and one of its apps in the form, or use "Use this app here" on the Peers page.',
  fields: [
    { name: 'name', label: 'Name', required: true, placeholder: 'web1' },
    { name: 'siteName', label: 'Peer site', required: true, placeholder: 'site name of the peer' },
    { name: 'appName', label: 'App on that site', required: true, placeholder: 'exposed app name' },
    { name: 'localSocket', label: 'Local socket', required: true, placeholder: 'tcp:127.0.0.1:8080', help: SOCKET_HELP },
    { name: 'appSocket', label: 'Target in a range app (optional)', placeholder: 'tcp:10.0.2.10:22', help: 'Only for apps exposed in range mode.' },
    { name: 'maxConnections', label: 'Max open connections (optional)', inputmode: 'numeric', placeholder: '512', help: '1..65536; empty = 512. A change applies to new connections.' },
  ],
  decorate: decorateRemote,
  onReset(form) {
    form.nameTyped = Boolean(getValue(form, 'name'));
    for (const n of ['siteName', 'appName']) field(form, n).other = false;
    syncPickers(form);
  },
  toBody(form) {
    const body = {};
    for (const k of ['name', 'siteName', 'appName', 'localSocket']) body[k] = getValue(form, k);
    const target = getValue(form, 'appSocket');
    if (target) body.appSocket = target;
    const max = getValue(form, 'maxConnections');
    if (max) body.maxConnections = /^\d+$/.test(max) ? Number(max) : max;   // let the API name a bad value
    return body;
  },
  fromItem(form, item) { for (const k of ['name', 'siteName', 'appName', 'localSocket', 'appSocket', 'maxConnections']) setValue(form, k, item[k]); },
  details: (item) => details('remoteApp', item),
  columns: [
    { label: 'Name', value: (a) => a.name },
    { label: 'Peer / app', value: (a) => `${a.siteName} / ${a.appName}` },
    { label: 'Local socket', value: (a) => h('code', {}, a.localSocket) },
    { label: 'Status', value: statusCell },
    { label: 'Connections', value: connCount },
    { label: 'Traffic', value: (a) => traffic(a.status) },
  ],
};

function showRangeFields(form) {
  const range = getValue(form, 'mode') === 'range';
  for (const f of form.fields) {
    if (f.name === 'appSocket') f.row.hidden = range;
    if (f.name === 'portRange' || f.name === 'addressRange') f.row.hidden = !range;
  }
}

const exposedSpec = {
  kind: 'exposedApps', path: '/exposed-apps', title: 'Exposed apps', singular: 'exposed app', testid: 'exposed-app',
  intro: 'An exposed app is a local service that peers may reach by its name.',
  emptyText: 'No exposed apps. Add one to let peers reach a service on this site.',
  fields: [
    { name: 'name', label: 'App name (peers use it)', required: true, placeholder: 'web' },
    { name: 'mode', label: 'Mode', type: 'select', options: ['single', 'range'] },
    { name: 'appSocket', label: 'App socket', placeholder: 'tcp:127.0.0.1:80', help: SOCKET_HELP },
    { name: 'portRange', label: 'Ports', type: 'textarea', rows: 2, placeholder: '5900, 6000-6010', help: 'One per line or comma-separated.' },
    { name: 'addressRange', label: 'Addresses', type: 'textarea', rows: 2, placeholder: '10.0.0.6, 10.0.2.0/24', help: 'IP addresses or CIDRs.' },
  ],
  onInput: showRangeFields,
  toBody(form) {
    const mode = getValue(form, 'mode');
    if (mode === 'range') {
      return { name: getValue(form, 'name'), mode, portRange: splitList(getValue(form, 'portRange')), addressRange: splitList(getValue(form, 'addressRange')) };
    }
    return { name: getValue(form, 'name'), mode, appSocket: getValue(form, 'appSocket') };
  },
  fromItem(form, item) {
    setValue(form, 'name', item.name);
    setValue(form, 'mode', item.mode || 'single');
    setValue(form, 'appSocket', item.appSocket);
    setValue(form, 'portRange', (item.portRange || []).join(', '));
    setValue(form, 'addressRange', (item.addressRange || []).join(', '));
  },
  details: (item) => details('exposedApp', item),
  columns: [
    { label: 'Name', value: (a) => a.name },
    { label: 'Mode', value: (a) => a.mode || 'single' },
    { label: 'Target', value: (a) => h('code', {}, a.mode === 'range' ? `${(a.addressRange || []).join(', ')} ports ${(a.portRange || []).join(', ')}` : a.appSocket) },
    { label: 'Status', value: statusCell },
    { label: 'Connections', value: connCount },
    { label: 'Traffic', value: (a) => traffic(a.status) },
  ],
};

export function mount(ctx, params) {
  const remote = mountCollection(remoteSpec, ctx);
  const exposed = mountCollection(exposedSpec, ctx);
  const head = h('div', { class: 'section-head' });
  const el = h('div', { 'data-testid': 'view-apps' }, head, remote.el, exposed.el);
  const drawHead = () => replaceChildren(head, h('p', { class: 'muted' }, 'Details shows an app\'s throughput and its open connections.'), rangeSwitch());
  drawHead();
  if (params.get('site') || params.get('app')) {
    const site = params.get('site') || '';
    const app = params.get('app') || '';
    remote.prefill({ name: `${site}-${app}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 255), siteName: site, appName: app });
  }
  return {
    el,
    update(changed) {
      // Charts and connection lists move only inside open details.
      const moving = changed.includes('history') || changed.includes('connections') || changed.includes('range');
      if (changed.includes('remoteApps') || (moving && remote.detailsOpen())) remote.update();
      if (changed.includes('exposedApps') || (moving && exposed.detailsOpen())) exposed.update();
      if (changed.includes('peers') && remote.form) syncPickers(remote.form);
      if (changed.includes('range')) drawHead();
    },
  };
}
