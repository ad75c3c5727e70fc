// Dashboard entry: hash routing, header, notices, sign-in and start-up.

import { h, replaceChildren, fmtClock } from './assets/js/dom.js';
import { onUnauthorized, getAuth, setBearer, setBasic } from './assets/js/api.js';
import { state, subscribe, start, stop } from './assets/js/store.js';
import * as overview from './assets/js/views/overview.js';
import * as peers from './assets/js/views/peers.js';
import * as apps from './assets/js/views/apps.js';
import * as sockets from './assets/js/views/sockets.js';
import * as settings from './assets/js/views/settings.js';
import * as events from './assets/js/views/events.js';
import { problems } from './assets/js/health.js';

const VIEWS = {
  overview: { title: 'Overview', mod: overview },
  peers: { title: 'Peers', mod: peers },
  apps: { title: 'Apps', mod: apps },
  sockets: { title: 'Tunnel sockets', mod: sockets },
  events: { title: 'Events', mod: events },
  settings: { title: 'Settings', mod: settings },
};

const $ = (id) => document.getElementById(id);
let current = null;
let authFailed = false;
let retryTimer = 0;
let noticeTimer = 0;

const ctx = {
  /** A toast; warnings and errors stay longer and can be closed. */
  notice(text, kind = 'ok') {
    const box = $('notice');
    replaceChildren(box, h('span', { 'data-testid': 'notice-text' }, text),
      h('button', { type: 'button', class: 'notice-close', 'aria-label': 'Close', onclick: () => { box.hidden = true; } }, '×'));
    box.className = `notice notice-${kind}`;
    box.dataset.kind = kind;
    box.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.hidden = true; }, kind === 'ok' ? 6000 : 15000);
  },
};

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [name, query = ''] = raw.split('?');
  return { name: VIEWS[name] ? name : 'overview', params: new URLSearchParams(query) };
}

function route(focus) {
  if (!state.loaded) return;
  // A toast is news of the view it was raised in.
  $('notice').hidden = true;
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
  // The figures on screen stop being true the moment the stream drops.
  const stale = $('stale');
  const lost = state.loaded && (state.live === 'reconnecting' || Boolean(state.error));
  stale.hidden = !lost;
  if (lost) {
    const since = state.staleSince ? ` at ${fmtClock(state.staleSince)}` : '';
    stale.textContent = `Lost contact with the agent${since}${state.error ? ` (${state.error})` : ''}: what you see is from then and no longer changes. Reconnecting…`;
  }
  $('main').classList.toggle('is-stale', lost);
  const n = state.loaded ? problems().length : 0;
  const badge = $('nav-problems');
  badge.hidden = !n;
  badge.textContent = String(n);
  badge.title = `${n} problem${n === 1 ? '' : 's'}`;
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
