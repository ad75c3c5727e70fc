// Apps: remote apps (reach a peer's app through a local socket) and
// exposed apps (offer a local service to peers).

import { h, stateBadge, fmtBytes } from '../dom.js';
import { mountCollection } from '../collection.js';
import { getValue, setValue, splitList } from '../forms.js';

const SOCKET_HELP = 'tcp:IP:PORT, tcp:[IPv6]:PORT or unix:/absolute/path';

function traffic(status) {
  const st = status || {};
  return `${fmtBytes(st.bytesIn ?? 0)} in / ${fmtBytes(st.bytesOut ?? 0)} out`;
}

function statusCell(app) {
  const st = app.status || {};
  return h('span', {}, stateBadge(st.state), st.error ? h('span', { class: 'status-error', 'data-testid': 'status-error' }, ` ${st.error}`) : null);
}

const remoteSpec = {
  kind: 'remoteApps', path: '/remote-apps', title: 'Remote apps', singular: 'remote app', testid: 'remote-app',
  intro: 'A remote app listens on a local socket here and carries each connection to an app exposed by a peer.',
  emptyText: 'No remote apps. Pick an app on the Peers page ("Use this app here") or fill in the form.',
  fields: [
    { name: 'name', label: 'Name', required: true, placeholder: 'web1' },
    { name: 'siteName', label: 'Peer site', required: true, placeholder: 'site name of the peer' },
    { name: 'appName', label: 'App on that site', required: true, placeholder: 'exposed app name' },
    { name: 'localSocket', label: 'Local socket', required: true, placeholder: 'tcp:127.0.0.1:8080', help: SOCKET_HELP },
    { name: 'appSocket', label: 'Target in a range app (optional)', placeholder: 'tcp:10.0.2.10:22', help: 'Only for apps exposed in range mode.' },
    { name: 'maxConnections', label: 'Max open connections (optional)', inputmode: 'numeric', placeholder: '512', help: '1..65536; empty = 512. A change applies to new connections.' },
  ],
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
  columns: [
    { label: 'Name', value: (a) => a.name },
    { label: 'Peer / app', value: (a) => `${a.siteName} / ${a.appName}` },
    { label: 'Local socket', value: (a) => h('code', {}, a.localSocket) },
    { label: 'Status', value: statusCell },
    { label: 'Connections', value: (a) => `${(a.status && a.status.activeConnections) ?? 0} open, ${(a.status && a.status.connections) ?? 0} total` },
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
  columns: [
    { label: 'Name', value: (a) => a.name },
    { label: 'Mode', value: (a) => a.mode || 'single' },
    { label: 'Target', value: (a) => h('code', {}, a.mode === 'range' ? `${(a.addressRange || []).join(', ')} ports ${(a.portRange || []).join(', ')}` : a.appSocket) },
    { label: 'Status', value: statusCell },
    { label: 'Connections', value: (a) => String((a.status && a.status.connections) ?? 0) },
    { label: 'Traffic', value: (a) => traffic(a.status) },
  ],
};

export function mount(ctx, params) {
  const remote = mountCollection(remoteSpec, ctx);
  const exposed = mountCollection(exposedSpec, ctx);
  const el = h('div', { 'data-testid': 'view-apps' }, remote.el, exposed.el);
  if (params.get('site') || params.get('app')) {
    const site = params.get('site') || '';
    const app = params.get('app') || '';
    remote.prefill({ name: `${site}-${app}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 255), siteName: site, appName: app });
  }
  return {
    el,
    update(changed) {
      if (changed.includes('remoteApps')) remote.update();
      if (changed.includes('exposedApps')) exposed.update();
    },
  };
}
