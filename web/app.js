// Dashboard entry: hash routing, header, notices, sign-in and start-up.

import { h, replaceChildren } from './assets/js/dom.js';
import { onUnauthorized, getAuth, setBearer, setBasic } from './assets/js/api.js';
import { state, subscribe, start, stop } from './assets/js/store.js';
import * as overview from './assets/js/views/overview.js';
import * as peers from './assets/js/views/peers.js';
import * as apps from './assets/js/views/apps.js';
import * as sockets from './assets/js/views/sockets.js';
import * as settings from './assets/js/views/settings.js';

const VIEWS = {
  overview: { title: 'Overview', mod: overview },
  peers: { title: 'Peers', mod: peers },
  apps: { title: 'Apps', mod: apps },
  sockets: { title: 'Tunnel sockets', mod: sockets },
  settings: { title: 'Settings', mod: settings },
};

const $ = (id) => document.getElementById(id);
let current = null;
let authFailed = false;
let retryTimer = 0;
let noticeTimer = 0;

const ctx = {
  notice(text, kind = 'ok') {
    const box = $('notice');
    box.textContent = text;
    box.className = `notice notice-${kind}`;
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, 6000);
  },
};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name, query = ''] = raw.split('?');
  return { name: VIEWS[name] ? name : 'overview', params: new URLSearchParams(query) };
}

function route(focus) {
  if (!state.loaded) return;
  const { name, params } = parseHash();
  current = { name, view: VIEWS[name].mod.mount(ctx, params) };
  $('main').replaceChildren(current.view.el);
  document.title = `${VIEWS[name].title} · ${(state.site && state.site.siteName) || 'wovenet'}`;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (focus) $('main').focus();
}

function renderHeader() {
  $('site-name').textContent = (state.site && state.site.siteName) || '';
  const live = $('live');
  const words = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…' };
  live.textContent = words[state.live] || state.live;
  live.className = `live live-${state.live}`;
}

subscribe((changed) => {
  renderHeader();
  if (current && state.loaded) current.view.update(changed);
});

function showLogin() {
  stop();
  state.loaded = false;
  $('main').hidden = true;
  $('login').hidden = false;
  const err = $('login-error');
  if (getAuth()) {
    err.textContent = 'The API refused these credentials.';
    err.hidden = false;
  }
  $('login-token').focus();
}

function showUnreachable() {
  const main = $('main');
  main.hidden = false;
  replaceChildren(main, h('div', { class: 'empty', 'data-testid': 'unreachable' },
    h('p', {}, `Cannot reach the agent's API${state.error ? `: ${state.error}` : ''}. Is wovenet running? Retrying…`),
    h('button', { type: 'button', onclick: () => boot() }, 'Retry now')));
  clearTimeout(retryTimer);
  retryTimer = setTimeout(boot, 5000);
}

async function boot() {
  clearTimeout(retryTimer);
  authFailed = false;
  let ok = false;
  try { ok = await start(); } catch { ok = false; }
  if (authFailed) return;
  if (!ok) { showUnreachable(); return; }
  $('login').hidden = true;
  $('main').hidden = false;
  renderHeader();
  route(false);
  document.documentElement.dataset.ready = '1';
}

onUnauthorized(() => { authFailed = true; showLogin(); });

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = $('login-token').value.trim();
  const user = $('login-user').value.trim();
  if (token) setBearer(token);
  else if (user) setBasic(user, $('login-password').value);
  else {
    $('login-error').textContent = 'Paste an API token (or a user name and password).';
    $('login-error').hidden = false;
    return;
  }
  $('login-error').hidden = true;
  $('login-form').reset();
  boot();
});

window.addEventListener('hashchange', () => route(true));
boot();
