// Client-side copy of the agent's state, kept fresh from /events: every
// event re-fetches the resources it touches (debounced), and a slow poll
// keeps counters and throughput moving when the server sends no stats.

import { api, streamEvents } from './api.js';

const PATHS = {
  site: '/site',
  peers: '/peers',
  remoteApps: '/remote-apps',
  exposedApps: '/exposed-apps',
  tunnelSockets: '/tunnel-sockets',
};

// Which resources to re-fetch for each event kind.
const EVENT_RESOURCES = {
  site: ['site'],
  broker: ['site'],
  peers: ['peers', 'remoteApps'],
  channels: ['peers'],
  tunnelSockets: ['tunnelSockets'],
  exposedApps: ['exposedApps'],
  remoteApps: ['remoteApps'],
  stats: ['peers', 'remoteApps', 'exposedApps'],
};

const HISTORY_MS = 3 * 60 * 1000;
const MIN_SAMPLE_MS = 1500;
const DEBOUNCE_MS = 150;
const POLL_MS = 2000;

export const state = {
  site: null,
  siteMissing: false,    // the agent has no site yet (GET /site answered 404)
  peers: [],
  remoteApps: [],
  exposedApps: [],
  tunnelSockets: [],
  broker: null,          // {state, error} from site.status.broker or a broker event
  live: 'connecting',    // connecting | live | reconnecting
  loaded: false,
  error: '',
};

/** Per channel ("site/id"): [{t, sent, received, txRate, rxRate}], rates in bytes/s */
const history = new Map();
const listeners = new Set();
const pending = new Set();
let debounceTimer = 0;
const fetchedAt = new Map();
let abort = null;

export function subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function notify(changed) { for (const fn of listeners) fn(changed); }

export function channelKey(siteName, channel) { return `${siteName}/${channel.id}`; }
export function channelHistory(key) { return history.get(key) || []; }

function recordThroughput(peers, now) {
  const seen = new Set();
  for (const peer of peers) {
    for (const ch of peer.channels || []) {
      const key = channelKey(peer.siteName, ch);
      seen.add(key);
      const list = history.get(key) || [];
      const prev = list[list.length - 1];
      // The first sample of a channel has no rate yet (null: not plotted).
      const sample = { t: now, sent: ch.bytesSent || 0, received: ch.bytesReceived || 0, txRate: null, rxRate: null };
      if (prev && now > prev.t) {
        const dt = (now - prev.t) / 1000;
        sample.txRate = Math.max(0, (sample.sent - prev.sent) / dt);
        sample.rxRate = Math.max(0, (sample.received - prev.received) / dt);
      }
      // Rates over at least MIN_SAMPLE_MS: counters may move in steps.
      if (!prev || now - prev.t >= MIN_SAMPLE_MS) list.push(sample);
      while (list.length && now - list[0].t > HISTORY_MS) list.shift();
      history.set(key, list);
    }
  }
  for (const key of history.keys()) if (!seen.has(key)) history.delete(key);
}

const lastText = new Map();
const RECENT_MS = 2 * 60 * 1000;

function familyOf(ch) {
  if (ch.family === 'ipv4' || ch.family === 'ipv6') return ch.family;
  const addr = String(ch.remoteAddress || ch.localAddress || '');
  return (addr.match(/:/g) || []).length > 1 ? 'ipv6' : 'ipv4';
}

/** One peer shape for the views, whichever field names the agent uses
 *  (channels|dataChannels, apps|exposedApps, sockets|tunnelSockets). */
export function normalizePeer(p) {
  const channels = (p.channels || p.dataChannels || []).map((c) => ({ ...c, family: familyOf(c) }));
  const apps = (p.apps || p.exposedApps || [])
    .map((a) => (typeof a === 'string' ? a : a && (a.name || a.appName)))
    .filter(Boolean);
  const sockets = (p.sockets || p.tunnelSockets || []).map((s) => ({
    address: s.address ?? s.publicAddress ?? '', port: s.port ?? s.publicPort ?? '', detected: Boolean(s.detected),
  }));
  const seen = Date.parse(p.lastSeen);
  const online = typeof p.online === 'boolean' ? p.online
    : channels.some((c) => c.state === 'up') || (isFinite(seen) && Date.now() - seen < RECENT_MS);
  return { ...p, channels, apps, sockets, online };
}

/** Stores a fetched resource; false when nothing changed (peers always
 *  count as changed: their throughput history moves on). */
function applyResource(name, data) {
  const text = JSON.stringify(data);
  if (name !== 'peers' && lastText.get(name) === text) return false;
  lastText.set(name, text);
  if (name === 'site') {
    state.site = data;
    state.siteMissing = false;
    if (data && data.status && data.status.broker) state.broker = data.status.broker;
  } else {
    state[name] = Array.isArray(data) ? data : (data && data.items) || [];
    if (name === 'peers') {
      state.peers = state.peers.map(normalizePeer);
      recordThroughput(state.peers, Date.now());
    }
  }
  return true;
}

/** Fetches the named resources (default: all) and notifies subscribers. */
export async function refresh(names = Object.keys(PATHS)) {
  const now = Date.now();
  for (const n of names) fetchedAt.set(n, now);
  const results = await Promise.allSettled(names.map((n) => api.get(PATHS[n])));
  const changed = [];
  let failed = 0;
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') { if (applyResource(names[i], r.value)) changed.push(names[i]); }
    else if (names[i] === 'site' && r.reason && r.reason.status === 404) {
      if (!state.siteMissing || state.site) { state.site = null; state.siteMissing = true; lastText.delete('site'); changed.push('site'); }
    } else { failed++; if (r.reason && r.reason.status !== 401) state.error = r.reason.message; }
  });
  if (!failed) state.error = '';
  if (changed.length) notify(changed);
  return results.every((r) => r.status === 'fulfilled');
}

function schedule(names) {
  for (const n of names) pending.add(n);
  if (debounceTimer) return;
  debounceTimer = setTimeout(() => {
    debounceTimer = 0;
    const names = [...pending];
    pending.clear();
    refresh(names).catch(() => {});
  }, DEBOUNCE_MS);
}

function handleEvent({ event, data }) {
  const kind = (data && data.kind) || event;
  if (kind === 'broker' && data && data.status) { state.broker = data.status; notify(['broker']); }
  schedule(EVENT_RESOURCES[kind] || Object.keys(PATHS));
}

function setLive(value) {
  if (state.live === value) return;
  state.live = value;
  notify(['live']);
}

async function eventLoop(signal) {
  let delay = 500;
  while (!signal.aborted) {
    try {
      await streamEvents({
        signal,
        onOpen: () => { delay = 500; setLive('live'); schedule(Object.keys(PATHS)); },
        onEvent: handleEvent,
      });
    } catch (err) {
      if (signal.aborted || (err && err.status === 401)) return;
    }
    setLive('reconnecting');
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 15000);
  }
}

/** Re-reads what no event refreshed lately: counters and peers move on
 *  without events when the agent sends no stats or peer events. */
function poll() {
  if (document.visibilityState !== 'visible' || !state.loaded) return;
  const now = Date.now();
  const stale = Object.keys(PATHS).filter((n) => now - (fetchedAt.get(n) || 0) >= POLL_MS - 100);
  if (stale.length) refresh(stale).catch(() => {});
}

/** Loads everything, then follows /events. Returns false on failure. */
export async function start() {
  stop();
  await refresh();
  if (!state.site && !state.siteMissing) return false;
  state.loaded = true;
  abort = new AbortController();
  eventLoop(abort.signal);
  const timer = setInterval(poll, POLL_MS);
  abort.signal.addEventListener('abort', () => clearInterval(timer));
  notify(['loaded']);
  return true;
}

export function stop() {
  if (abort) abort.abort();
  abort = null;
}
