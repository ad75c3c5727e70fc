// REST client for /api/v1: JSON in and out, credentials from sessionStorage,
// and a Server-Sent Events reader built on fetch() so it can send the
// Authorization header (EventSource cannot).

const BASE = '/api/v1';
const AUTH_KEY = 'wovenet.auth';

export class ApiError extends Error {
  constructor(status, body) {
    const err = (body && body.error) || {};
    super(err.message || `request failed (HTTP ${status})`);
    this.status = status;
    this.code = err.code || '';
    this.field = err.field || '';
  }
}

// Credentials travel only in our Authorization header. 'omit' also keeps the
// browser from popping its own Basic-auth dialog on a 401 challenge.
const FETCH_OPTS = { cache: 'no-store', credentials: 'omit' };

let unauthorizedHandler = () => {};

/** fn() is called whenever the API answers 401. */
export function onUnauthorized(fn) { unauthorizedHandler = fn; }

/** The Authorization header value kept for this tab only. */
export function getAuth() { return sessionStorage.getItem(AUTH_KEY) || ''; }
export function setBearer(token) { sessionStorage.setItem(AUTH_KEY, `Bearer ${token}`); }
export function setBasic(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  sessionStorage.setItem(AUTH_KEY, `Basic ${btoa(String.fromCharCode(...bytes))}`);
}
export function clearAuth() { sessionStorage.removeItem(AUTH_KEY); }

function headers(extra) {
  const out = { Accept: 'application/json', ...extra };
  const auth = getAuth();
  if (auth) out.Authorization = auth;
  return out;
}

async function readBody(res) {
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { error: { message: text.slice(0, 200) } }; }
}

/** body: a value sent as JSON, or {raw: text, type: 'application/yaml'};
 *  extra: more request headers (If-Match). */
export async function request(method, path, body, extra = {}) {
  const raw = body && typeof body === 'object' && 'raw' in body && 'type' in body;
  const type = body === undefined ? {} : { 'Content-Type': raw ? body.type : 'application/json' };
  const sent = getAuth();
  const init = { method, headers: headers({ ...type, ...extra }), ...FETCH_OPTS };
  if (body !== undefined) init.body = raw ? body.raw : JSON.stringify(body);
  const res = await fetch(BASE + path, init);
  // A 401 to credentials this tab has replaced since (the first token just
  // turned authentication on) is no reason to sign out.
  if (res.status === 401 && getAuth() === sent) unauthorizedHandler();
  if (res.status === 204) return null;
  const data = await readBody(res);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const api = {
  get: (path) => request('GET', path),
  post: (path, body) => request('POST', path, body),
  put: (path, body, extra) => request('PUT', path, body, extra),
  patch: (path, body) => request('PATCH', path, body),
  del: (path) => request('DELETE', path),
};

/** Parses one text/event-stream block into {event, data}. */
export function parseEventBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  if (!data.length) return null;
  const text = data.join('\n');
  try { return { event, data: JSON.parse(text) }; } catch { return { event, data: text }; }
}

/** Reads /events until the stream ends or signal aborts; calls onOpen()
 *  once connected and onEvent({event, data}) per event. */
export async function streamEvents({ onOpen, onEvent, signal }) {
  const sent = getAuth();
  const res = await fetch(`${BASE}/events`, {
    headers: headers({ Accept: 'text/event-stream' }), ...FETCH_OPTS, signal,
  });
  if (res.status === 401 && getAuth() === sent) { unauthorizedHandler(); throw new ApiError(401, null); }
  if (res.status === 401) throw new ApiError(503, null); // new credentials: reconnect with them
  if (!res.ok || !res.body) throw new ApiError(res.status, null);
  onOpen();
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    // Normalise CRLF/CR line ends unless a CR might still be followed by LF.
    const keep = buf.endsWith('\r') ? 1 : 0;
    buf = buf.slice(0, buf.length - keep).replace(/\r\n?/g, '\n') + buf.slice(buf.length - keep);
    let end;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const ev = parseEventBlock(buf.slice(0, end));
      buf = buf.slice(end + 2);
      if (ev) onEvent(ev);
    }
  }
}

export const enc = encodeURIComponent;
