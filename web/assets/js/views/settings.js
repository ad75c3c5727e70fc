// Settings: the site (name, broker, topic, network key, log level) and the
// browser session. Secrets are write-only: inputs never show stored values.

import { h, badge, replaceChildren } from '../dom.js';
import { api, getAuth, clearAuth } from '../api.js';
import { state, refresh } from '../store.js';
import { createForm, fieldRow, getValue, setValue, splitList } from '../forms.js';

const FIELDS = [
  { name: 'siteName', label: 'Site name', required: true },
  { name: 'brokers', label: 'MQTT brokers', type: 'textarea', rows: 3, paths: ['messageChannel.brokers'],
    placeholder: 'mqtt://broker.example.net:1883', help: 'One URL per line; later ones are fail-over.' },
  { name: 'topic', label: 'Topic', paths: ['messageChannel.topic'], help: 'Leave empty to derive it from the network key.' },
  { name: 'username', label: 'Broker user name', paths: ['messageChannel.username'] },
  { name: 'password', label: 'Broker password', type: 'password', paths: ['messageChannel.password'], autocomplete: 'new-password' },
  { name: 'networkKey', label: 'Network key', type: 'password', paths: ['networkKey'], autocomplete: 'new-password' },
  { name: 'logLevel', label: 'Log level', type: 'select', options: ['DEBUG', 'INFO', 'WARN', 'ERROR'], paths: ['logger', 'logger.level'] },
];

function body(form) {
  const out = {
    siteName: getValue(form, 'siteName'),
    messageChannel: {
      brokers: splitList(getValue(form, 'brokers')),
      topic: getValue(form, 'topic'),
      username: getValue(form, 'username'),
    },
    logger: { level: getValue(form, 'logLevel') },
  };
  const password = getValue(form, 'password');
  if (password) out.messageChannel.password = password;
  const key = getValue(form, 'networkKey');
  if (key) out.networkKey = key;
  return out;
}

export function mount(ctx) {
  let dirty = false;
  const keyState = h('small', { class: 'help', 'data-testid': 'network-key-state' });
  const form = createForm('settings-form', async () => {
    const data = body(form);
    if (state.siteMissing) {
      data.messageChannel.protocol = 'mqtt';
      await api.put('/site', data);
    } else {
      await api.patch('/site', data);
    }
    dirty = false;
    ctx.notice(data.networkKey ? 'Settings saved; network key rotated. Give every other site the same new key.' : 'Settings saved.');
    await refresh(['site']);
    fill();
  });
  const rows = FIELDS.map((f) => fieldRow(form, f));
  rows.find((r) => r.dataset.field === 'networkKey').append(keyState);
  const title = h('h3', {}, 'Site');
  form.el.append(title, ...rows, form.general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-testid': 'settings-submit' }, 'Save settings')));
  form.el.addEventListener('input', () => { dirty = true; });

  const session = h('div', { class: 'panel', 'data-testid': 'session' });
  const el = h('section', { 'data-testid': 'view-settings' }, h('h2', {}, 'Settings'),
    h('div', { class: 'split' }, h('div', { class: 'panel' }, form.el), session));

  function fill() {
    const site = state.site || {};
    title.textContent = state.siteMissing ? 'Set up this site' : 'Site';
    const mc = site.messageChannel || {};
    setValue(form, 'siteName', site.siteName);
    setValue(form, 'brokers', (mc.brokers || []).join('\n'));
    setValue(form, 'topic', mc.topic);
    setValue(form, 'username', mc.username);
    setValue(form, 'password', '');
    setValue(form, 'networkKey', '');
    setValue(form, 'logLevel', (site.logger && site.logger.level) || 'INFO');
    const pw = form.fields.find((f) => f.name === 'password').input;
    pw.placeholder = mc.passwordSet ? 'set (type a new one to change it)' : 'not set';
    const key = form.fields.find((f) => f.name === 'networkKey').input;
    key.placeholder = site.networkKeySet ? 'type a new key to rotate' : 'type a key (8 to 255 characters)';
    replaceChildren(keyState, site.networkKeySet ? badge('set', 'ok', 'key-set') : badge('not set', 'warn', 'key-set'),
      ' Every site of one network needs the same key. A saved key is never shown again.');
  }

  function renderSession() {
    const auth = getAuth();
    replaceChildren(session, h('h3', {}, 'API access'),
      h('p', {}, 'Create API tokens on the agent host with ', h('code', {}, 'wovenet token create'), ', then paste one into the sign-in form.'),
      auth ? h('p', {}, 'This tab is signed in; the credential lives only until the tab closes.') : h('p', { class: 'muted' }, 'This tab uses no credentials (the API needs none).'),
      auth ? h('button', { type: 'button', class: 'secondary', 'data-testid': 'sign-out', onclick: () => { clearAuth(); location.reload(); } }, 'Sign out') : null);
  }

  fill();
  renderSession();
  return { el, update(changed) { if (changed.includes('site') && !dirty) fill(); } };
}
