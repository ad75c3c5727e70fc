// Tunnel sockets: where peers can reach this site for data channels.

import { h, stateBadge } from '../dom.js';
import { mountCollection } from '../collection.js';
import { getValue, setValue, splitList } from '../forms.js';

function port(text) {
  if (text === '') return 0;
  return /^\d+$/.test(text) ? Number(text) : text;   // let the API name a bad value
}

function showDetectorFields(form) {
  const addr = getValue(form, 'publicAddress');
  const nat = getValue(form, 'mode') === 'nat-traversal';
  for (const f of form.fields) {
    if (f.name === 'httpUrl' || f.name === 'httpInterval') f.row.hidden = nat || addr !== 'autoHttpDetect';
    if (f.name === 'stunServers') f.row.hidden = !nat && addr !== 'autoStunDetect';
    // nat-traversal: no public address, STUN finds the mapping.
    if (f.name === 'publicAddress' || f.name === 'publicPort') f.row.hidden = nat;
    if (f.name === 'keepAlive') f.row.hidden = !nat;
  }
}

const spec = {
  kind: 'tunnelSockets', path: '/tunnel-sockets', title: 'Tunnel sockets', singular: 'tunnel socket', testid: 'tunnel-socket',
  intro: 'A tunnel socket is a QUIC listening address that peers dial to open data channels to this site.',
  emptyText: 'No tunnel sockets. Add one (for example dedicated-address with a public IP, or port-forwarding behind NAT) so peers can connect.',
  fields: [
    { name: 'name', label: 'Name', required: true, placeholder: 'public-v6' },
    { name: 'mode', label: 'Mode', type: 'select', options: ['dedicated-address', 'port-forwarding', 'nat-traversal'] },
    { name: 'publicAddress', label: 'Public address', list: 'public-address-options', placeholder: '203.0.113.7 or autoHttpDetect' },
    { name: 'publicPort', label: 'Public port', inputmode: 'numeric', placeholder: '25890' },
    { name: 'listenAddress', label: 'Listen address (empty = any)', placeholder: '' },
    { name: 'listenPort', label: 'Listen port', inputmode: 'numeric', placeholder: '25890' },
    { name: 'httpUrl', label: 'Address detector URL', paths: ['httpDetector', 'httpDetector.url'], placeholder: 'https://example.net/ip' },
    { name: 'httpInterval', label: 'Detect every (seconds)', paths: ['httpDetector.interval'], inputmode: 'numeric', placeholder: '60' },
    { name: 'stunServers', label: 'STUN servers', type: 'textarea', rows: 2, placeholder: 'stun.example.net:3478', help: 'HOST:PORT, one per line.' },
    { name: 'keepAlive', label: 'Keep-alive (seconds, below the NAT timeout)', inputmode: 'numeric', placeholder: '2.5 s if empty' },
  ],
  onInput: showDetectorFields,
  toBody(form) {
    const body = {
      name: getValue(form, 'name'), mode: getValue(form, 'mode'), transportProtocol: 'quic',
      publicAddress: getValue(form, 'publicAddress'), publicPort: port(getValue(form, 'publicPort')),
      listenAddress: getValue(form, 'listenAddress'), listenPort: port(getValue(form, 'listenPort')),
    };
    if (body.mode === 'nat-traversal') {
      body.publicAddress = ''; body.publicPort = 0;
      const servers = splitList(getValue(form, 'stunServers'));
      if (servers.length) body.stunServers = servers;
      if (getValue(form, 'keepAlive') !== '') body.keepAlive = port(getValue(form, 'keepAlive'));
      return body;
    }
    if (body.publicAddress === 'autoHttpDetect') {
      body.httpDetector = { url: getValue(form, 'httpUrl'), interval: port(getValue(form, 'httpInterval') || '60') };
    }
    if (body.publicAddress === 'autoStunDetect') body.stunServers = splitList(getValue(form, 'stunServers'));
    return body;
  },
  fromItem(form, item) {
    for (const k of ['name', 'mode', 'publicAddress', 'listenAddress']) setValue(form, k, item[k]);
    setValue(form, 'publicPort', item.publicPort || '');
    setValue(form, 'listenPort', item.listenPort || '');
    setValue(form, 'httpUrl', item.httpDetector && item.httpDetector.url);
    setValue(form, 'httpInterval', item.httpDetector && item.httpDetector.interval);
    setValue(form, 'stunServers', (item.stunServers || []).join('\n'));
    setValue(form, 'keepAlive', item.keepAlive || '');
  },
  columns: [
    { label: 'Name', value: (t) => t.name },
    { label: 'Mode', value: (t) => t.mode },
    { label: 'Public', value: (t) => t.mode === 'nat-traversal'
      ? h('span', { class: 'muted' }, 'behind NAT (STUN, punching)')
      : h('code', {}, `${t.publicAddress || '–'}:${t.publicPort || '–'}`) },
    { label: 'Listen', value: (t) => h('code', {}, `${t.listenAddress || '*'}:${t.listenPort || '–'}`) },
    { label: 'Status', value: (t) => {
      const st = t.status || {};
      return h('span', {}, stateBadge(st.state),
        st.publicAddress && st.publicAddress !== t.publicAddress ? h('span', { class: 'muted' }, ` seen as ${st.publicAddress}`) : null,
        st.error ? h('span', { class: 'status-error', 'data-testid': 'status-error' }, ` ${st.error}`) : null);
    } },
  ],
};

export function mount(ctx) {
  const sockets = mountCollection(spec, ctx);
  const options = h('datalist', { id: 'public-address-options' },
    h('option', { value: 'autoHttpDetect' }), h('option', { value: 'autoStunDetect' }));
  const el = h('div', { 'data-testid': 'view-sockets' }, sockets.el, options);
  return { el, update(changed) { if (changed.includes('tunnelSockets')) sockets.update(); } };
}
