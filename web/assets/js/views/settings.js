// Settings: the site (name, broker, topic, network key, log level) and the
// browser session. Secrets are write-only: inputs never show stored values.

import { h, badge, replaceChildren, fmtAgo } from '../dom.js';
import { api, enc, getAuth, clearAuth, setBearer } from '../api.js';
import { state, refresh } from '../store.js';
import { createForm, fieldRow, getValue, setValue, splitList } from '../forms.js';
import { agentPanel, configPanel } from './config_panel.js';

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
  const takeOverBox = h('input', { type: 'checkbox', name: 'takeOver', 'data-testid': 'input-takeOver' });
  const managedNote = h('p', { class: 'help', 'data-testid': 'managed-note' });
  const takeOver = h('div', { class: 'field managed', 'data-field': 'takeOver', hidden: true }, managedNote,
    h('label', {}, takeOverBox, ' Take the settings over: manage them here from now on (the file\'s site settings are then ignored)'));
  const form = createForm('settings-form', async () => {
    const data = body(form);
    if (!takeOver.hidden && takeOverBox.checked) data.origin = 'api';
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
  form.el.append(title, ...rows, takeOver, form.general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-testid': 'settings-submit' }, 'Save settings')));
  form.el.addEventListener('input', () => { dirty = true; });

  const session = h('div', { class: 'panel', 'data-testid': 'session' });
  const tokens = h('div', { class: 'panel', 'data-testid': 'tokens' });
  const agent = agentPanel();
  const config = configPanel(ctx);
  const el = h('section', { 'data-testid': 'view-settings' }, h('h2', {}, 'Settings'),
    h('div', { class: 'split' }, h('div', { class: 'stack' }, h('div', { class: 'panel' }, form.el), config.el),
      h('div', { class: 'stack' }, agent.el, session, tokens)));

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
    takeOver.hidden = site.origin !== 'config';
    takeOverBox.checked = false;
    managedNote.textContent = site.origin === 'config'
      ? `These settings are managed by the config file ${site.managedBy || ''}: each start of the agent makes them equal to the file again.` : '';
    replaceChildren(keyState, site.networkKeySet ? badge('set', 'ok', 'key-set') : badge('not set', 'warn', 'key-set'),
      ' Every site of one network needs the same key. A saved key is never shown again.');
  }

  function renderSession() {
    const auth = getAuth();
    replaceChildren(session, h('h3', {}, 'API access'),
      h('p', {}, 'Create API tokens below or on the agent host with ', h('code', {}, 'wovenet token create'), '; clients pass one as ', h('code', {}, 'Authorization: Bearer TOKEN'), '.'),
      auth ? h('p', {}, 'This tab is signed in; the credential lives only until the tab closes.') : h('p', { class: 'muted' }, 'This tab uses no credentials (the API needs none).'),
      auth ? h('button', { type: 'button', class: 'secondary', 'data-testid': 'sign-out', onclick: () => { clearAuth(); location.reload(); } }, 'Sign out') : null);
  }

  // API tokens: list, create (shown once), revoke.
  let list = [];
  let fresh = null;      // {name, token} just created, shown once
  let armed = null;      // name whose revoke awaits confirmation
  const tform = createForm('token-form', async () => {
    const name = getValue(tform, 'tokenName');
    const req = { name, scope: getValue(tform, 'tokenScope') };
    const exp = getValue(tform, 'tokenExpires');
    if (exp) req.expiresIn = exp;
    const wasOpen = list.length === 0 && !getAuth();
    const made = await api.post('/tokens', req).catch((err) => {
      // The API names its own fields: map them onto this form's.
      if (err.field) err.field = { name: 'tokenName', scope: 'tokenScope', expiresIn: 'tokenExpires' }[err.field] || err.field;
      throw err;
    });
    fresh = { name: made.name, token: made.token };
    // The first token turns authentication on, for this tab too: keep
    // using the API with it rather than locking ourselves out.
    if (wasOpen && made.scope === 'write') setBearer(made.token);
    tform.el.reset();
    ctx.notice(`Created token ${made.name}${made.note ? `; ${made.note}` : ''}.`);
    await loadTokens();
  });
  const trows = [
    { name: 'tokenName', label: 'Token name', required: true, placeholder: 'prometheus' },
    { name: 'tokenScope', label: 'Scope', type: 'select', options: ['write', 'read', 'metrics'], help: 'write: everything; read: GET only; metrics: GET /metrics only.' },
    { name: 'tokenExpires', label: 'Expires after (optional)', placeholder: '30d', help: 'e.g. 30d, 12h, 90m; empty: never.' },
  ].map((f) => fieldRow(tform, f));
  tform.el.append(h('h4', {}, 'New token'), ...trows, tform.general,
    h('div', { class: 'actions' }, h('button', { type: 'submit', 'data-testid': 'token-submit' }, 'Create token')));

  async function revoke(name) {
    armed = null;
    try {
      await api.del(`/tokens/${enc(name)}`);
      ctx.notice(`Revoked token ${name}.`);
    } catch (err) {
      ctx.notice(`Could not revoke ${name}: ${err.message}`, 'bad');
    }
    await loadTokens();
  }

  function renderTokens() {
    const rows = list.map((t) => h('tr', { 'data-testid': 'token-row', 'data-name': t.name },
      h('td', { 'data-label': 'Name' }, t.name), h('td', { 'data-label': 'Scope' }, t.scope),
      h('td', { 'data-label': 'Expires' }, t.expired ? badge('expired', 'bad', 'token-expired') : t.expires || 'never'),
      h('td', { 'data-label': 'Last used' }, t.lastUsed ? fmtAgo(t.lastUsed) : 'never'),
      h('td', { 'data-label': '' }, armed === t.name
        ? [h('button', { type: 'button', class: 'danger', 'data-testid': 'confirm-revoke', onclick: () => revoke(t.name) }, `Revoke ${t.name}`),
          h('button', { type: 'button', class: 'secondary', onclick: () => { armed = null; renderTokens(); } }, 'Keep')]
        : h('button', { type: 'button', class: 'secondary', 'data-testid': 'revoke', onclick: () => { armed = t.name; renderTokens(); } }, 'Revoke'))));
    replaceChildren(tokens, h('h3', {}, 'API tokens'),
      list.length ? h('table', { class: 'table' }, h('thead', {}, h('tr', {}, ['Name', 'Scope', 'Expires', 'Last used', ''].map((x) => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows))
        : h('p', { class: 'muted', 'data-testid': 'tokens-empty' }, 'No tokens: the API answers without credentials while it listens on loopback. The first token turns authentication on for every client.'),
      fresh ? h('div', { 'data-testid': 'token-new' }, h('p', {}, `Token ${fresh.name}, shown this once:`), h('p', { class: 'token-once', 'data-testid': 'token-value' }, fresh.token)) : null,
      tform.el);
  }

  async function loadTokens() {
    try { list = await api.get('/tokens') || []; } catch { list = []; }
    renderTokens();
  }

  fill();
  renderSession();
  loadTokens();
  return {
    el,
    update(changed) {
      if (changed.includes('site') && !dirty) fill();
      if (changed.includes('site') || changed.includes('tunnelSockets')) agent.update();
    },
  };
}
