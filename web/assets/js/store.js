// Client-side copy of the agent's state, kept fresh from /events: every
// event re-fetches the resources it touches (debounced), "log" events feed
// the recent-events list, and a slow poll keeps counters moving and pulls
// the newest steps of the agent's history (the agent keeps the history:
// a reload shows the same charts).

import { api, streamEvents } from './api.js';

const PATHS = {
  site: '/site',
  peers: '/peers',
  remoteApps: '/remote-apps',
  exposedApps: '/exposed-apps',
  tunnelSockets: '/tunnel-sockets',
  connections: '/connections',
};

// Which resources to re-fetch for each event kind.
const EVENT_RESOURCES = {
  site: ['site'],
  broker: ['site'],
  peers: ['peers', 'remoteApps'],
  channels: ['peers', 'connections'],
  tunnelSockets: ['tunnelSockets'],
  exposedApps: ['exposedApps', 'connections'],
  remoteApps: ['remoteApps', 'connections'],
  stats: ['peers', 'remoteApps', 'exposedApps', 'connections'],
};

const DEBOUNCE_MS = 150;
const POLL_MS = 2000;
const FINE_STEPS = 900;        // the agent's 1 s ring: 15 min
const COARSE_EVERY_MS = 30000; // the 24 h view re-reads its 1 min steps this often
const MAX_EVENTS = 256;

export const state = {
  site: null,
  siteMissing: false,    // the agent has no site yet (GET /site answered 404)
  peers: [],
  remoteApps: [],
  exposedApps: [],
  tunnelSockets: [],
  connections: [],       // open app connections (GET /connections)
  events: [],            // the recent-events log, oldest first
  broker: null,          // {state, error} from site.status.broker or a broker event
  live: 'connecting',    // connecting | live | reconnecting
  staleSince: 0,         // ms: when the event stream dropped (0 while live)
  range: '15m',          // charts: '15m' (1 s steps) or '24h' (1 min steps)
  loaded: false,
  error: '',
};

/** The agent's time series: key "kind/name" -> {kind, name, start, step,
 *  rx[], tx[], rttMs[], active[]}; now: the agent's clock (s). */
export const history = { fine: new Map(), coarse: new Map(), now: 0, coarseAt: 0, fineLoaded: false };

const listeners = new Set();
const pending = new Set();
let debounceTimer = 0;
const fetchedAt = new Map();
let abort = null;
let lastEventId = 0;

export function subscribe(fn) { listeners.add(fn); return () => listeners.delete(fn); }
function notify(changed) { for (const fn of listeners) fn(changed); }

export function seriesKey(kind, name) { return `${kind}/${name}`; }

/** The series shown for the current range, or null. */
export function series(kind, name) {
  const map = state.range === '24h' ? history.coarse : history.fine;
  return map.get(seriesKey(kind, name)) || null;
}

/** The newest step of a 1 s series as rates: {rx, tx} in bytes/s, or null. */
export function lastRate(kind, name) {
  const s = history.fine.get(seriesKey(kind, name));
  if (!s || !s.rx.length) return null;
  // The agent samples just after each second: its newest step is whole.
  const i = s.rx.length - 1;
  return { rx: s.rx[i], tx: s.tx[i] };
}

export function setRange(range) {
  if (state.range === range) return;
  state.range = range;
  if (range === '24h') refreshCoarse().catch(() => {});
  notify(['history', 'range']);
}

const lastText = new Map();

function familyOf(ch) {
  if (ch.family === 'ipv4' || ch.family === 'ipv6') return ch.family;
  const addr = String(ch.remoteAddress || ch.localAddress || '');
  return (addr.match(/:/g) || []).length > 1 ? 'ipv6' : 'ipv4';
}

/** One peer shape for the views, whichever field names the agent uses
 *  (channels|dataChannels, apps|exposedApps, sockets|tunnelSockets). */
export function normalizePeer(p) {
  const channels = (p.channels || p.dataChannels || []).map((c) => ({ ...c, family: familyOf(c), path: c.path || 'direct' }));
  const apps = (p.apps || p.exposedApps || [])
    .map((a) => (typeof a === 'string' ? a : a && (a.name || a.appName)))
    .filter(Boolean);
  const sockets = (p.sockets || p.tunnelSockets || []).map((s) => ({
    address: s.address ?? s.publicAddress ?? '', port: s.port ?? s.publicPort ?? '', detected: Boolean(s.detected),
  }));
  const reachable = typeof p.reachable === 'boolean' ? p.reachable : channels.some((c) => c.state === 'up');
  const online = typeof p.online === 'boolean' ? p.online : reachable;
  return { ...p, channels, apps, sockets, online, reachable };
}

/** Stores a fetched resource; false when nothing changed. */
function applyResource(name, data) {
  const text = JSON.stringify(data);
  if (lastText.get(name) === text) return false;
  lastText.set(name, text);
  if (name === 'site') {
    state.site = data;
    state.siteMissing = false;
    if (data && data.status && data.status.broker) state.broker = data.status.broker;
  } else if (name === 'connections') {
    state.connections = (data && data.connections) || [];
  } else {
    state[name] = Array.isArray(data) ? data : (data && data.items) || [];
    if (name === 'peers') state.peers = state.peers.map(normalizePeer);
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
  const hadError = Boolean(state.error);
  if (!failed) state.error = '';
  if (hadError !== Boolean(state.error)) changed.push('error');
  if (changed.length) notify(changed);
  return results.every((r) => r.status === 'fulfilled');
}

/* --- History ---------------------------------------------------------------- */

function toSeries(s, step) {
  return { kind: s.kind, name: s.name, step, start: s.start, rx: s.rx, tx: s.tx, rttMs: s.rttMs, active: s.active };
}

/** Adds the newer steps of s to the kept series (the newest kept step may
 *  have grown since: it is replaced). false when they do not join up. */
function merge(map, s, step, keep) {
  const key = seriesKey(s.kind, s.name);
  const old = map.get(key);
  if (!old || s.start < old.start) { map.set(key, toSeries(s, step)); return true; }
  const at = (s.start - old.start) / step;
  if (at > old.rx.length) return false;
  for (const f of ['rx', 'tx', 'rttMs', 'active']) old[f] = old[f].slice(0, at).concat(s[f]);
  const extra = old.rx.length - keep;
  if (extra > 0) {
    for (const f of ['rx', 'tx', 'rttMs', 'active']) old[f] = old[f].slice(extra);
    old.start += extra * step;
  }
  return true;
}

/** The 1 s steps: all of them once, then the newest few at every poll. */
export async function refreshHistory() {
  const since = history.fineLoaded ? Math.max(0, history.now - 2) : 0;
  const data = await api.get(`/history?step=1s${since ? `&since=${since}` : ''}`);
  if (!since) history.fine.clear();
  let joined = true;
  for (const s of data.series) joined = merge(history.fine, s, 1, FINE_STEPS) && joined;
  history.now = data.now;
  history.fineLoaded = joined;   // a gap (a poll missed): read it all again next time
  notify(['history']);
}

async function refreshCoarse() {
  const data = await api.get('/history?step=1m');
  history.coarse.clear();
  for (const s of data.series) history.coarse.set(seriesKey(s.kind, s.name), toSeries(s, 60));
  history.coarseAt = Date.now();
  if (state.range === '24h') notify(['history']);
}

/* --- Recent events ------------------------------------------------------------ */

function addLog(entries) {
  let added = false;
  for (const e of entries) {
    if (!e || typeof e.id !== 'number' || e.id <= lastEventId) continue;
    lastEventId = e.id;
    state.events.push(e);
    added = true;
  }
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  if (added) notify(['events']);
}

async function refreshEvents() {
  const data = await api.get(`/events/recent?after=${lastEventId}&limit=${MAX_EVENTS}`);
  // A restarted agent starts its log over: start over with it.
  if (data.lastId < lastEventId) { lastEventId = 0; state.events = []; return refreshEvents(); }
  addLog(data.events || []);
  return true;
}

/* --- The event stream and the poll ------------------------------------------- */

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
  if (event === 'log') { addLog([data]); return; }
  const kind = (data && data.kind) || event;
  if (kind === 'broker' && data && data.name) { state.broker = { state: data.name }; notify(['broker']); }
  schedule(EVENT_RESOURCES[kind] || Object.keys(PATHS));
}

function setLive(value) {
  if (state.live === value) return;
  state.live = value;
  if (value === 'live') state.staleSince = 0;
  else if (!state.staleSince && state.loaded) state.staleSince = Date.now();
  notify(['live']);
}

async function eventLoop(signal) {
  let delay = 500;
  while (!signal.aborted) {
    try {
      await streamEvents({
        signal,
        onOpen: () => {
          delay = 500;
          setLive('live');
          schedule(Object.keys(PATHS));
          refreshEvents().catch(() => {});
          refreshHistory().catch(() => {});
        },
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

/** Re-reads what no event refreshed lately, and the newest history steps. */
function poll() {
  if (document.visibilityState !== 'visible' || !state.loaded) return;
  const now = Date.now();
  const stale = Object.keys(PATHS).filter((n) => now - (fetchedAt.get(n) || 0) >= POLL_MS - 100);
  if (stale.length) refresh(stale).catch(() => {});
  refreshHistory().catch(() => {});
  if (state.range === '24h' && now - history.coarseAt >= COARSE_EVERY_MS) refreshCoarse().catch(() => {});
}

/** Loads everything, then follows /events. Returns false on failure. */
export async function start() {
  stop();
  await refresh();
  if (!state.site && !state.siteMissing) return false;
  await Promise.allSettled([refreshHistory(), refreshEvents()]);
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
