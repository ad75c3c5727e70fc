// A small in-memory imitation of the agent's REST API (/api/v1) that also
// serves the web/ files with the agent's Content-Security-Policy. Used to
// develop and test the dashboard without the agent:
//   node tests/e2e/mock_api.mjs [port]        (prints the URL)
// or in-process: const mock = await startMock({port: 0}); mock.addPeer(...)

import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB = path.resolve(HERE, '../../web');
const CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml',
};
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;

class Invalid extends Error {
  constructor(field, message, status = 422, code = 'invalid') { super(message); this.field = field; this.status = status; this.code = code; }
}

// ---------- validation (a subset of the agent's rules) ----------

function isIPv4(s) {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}
function isIPv6(s) { return /^[0-9A-Fa-f:.]+$/.test(s) && s.includes(':') && s.split('::').length <= 2; }
function isIP(s) { return isIPv4(s) || isIPv6(s); }

function checkPort(v, field, { allowZero = false } = {}) {
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1) || v > 65535) {
    throw new Invalid(field, `port ${JSON.stringify(v)} out of range (${allowZero ? 0 : 1}..65535)`);
  }
}

function checkSocket(v, field) {
  if (typeof v !== 'string' || !v) throw new Invalid(field, 'required (tcp:IP:PORT or unix:/path)');
  let s = v;
  if (s.startsWith('unix:')) {
    if (!s.slice(5).startsWith('/') || s.length - 5 > 107) throw new Invalid(field, 'unix socket path must be absolute, at most 107 bytes');
    return s;
  }
  if (s.startsWith('tcp:')) s = s.slice(4);
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) || /^([^:]+):(\d+)$/.exec(s);
  if (!m) throw new Invalid(field, `invalid socket "${v}" (tcp:IP:PORT, tcp:[v6]:PORT or unix:/path)`);
  if (!isIP(m[1])) throw new Invalid(field, `invalid IP address "${m[1]}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Invalid(field, `port ${port} out of range (1..65535)`);
  return `tcp:${s}`;
}

function checkName(v, field) {
  if (typeof v !== 'string' || !NAME_RE.test(v)) throw new Invalid(field, 'must be 1..255 of [A-Za-z0-9._-], starting with a letter or digit');
}

function onlyFields(body, allowed) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Invalid('', 'body must be a JSON object');
  delete body.status;
  // Read-only views; "origin" is looked at by the caller (take-over).
  delete body.origin;
  delete body.managedBy;
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw new Invalid(k, 'unknown field');
}

const KINDS = {
  remoteApps: {
    path: 'remote-apps',
    validate(b) {
      onlyFields(b, ['name', 'siteName', 'appName', 'localSocket', 'appSocket', 'maxConnections', 'enabled']);
      checkName(b.name, 'name');
      checkName(b.siteName, 'siteName');
      checkName(b.appName, 'appName');
      const out = { name: b.name, siteName: b.siteName, appName: b.appName, localSocket: checkSocket(b.localSocket, 'localSocket') };
      if (b.enabled === false) out.enabled = false;
      if (b.appSocket) out.appSocket = checkSocket(b.appSocket, 'appSocket');
      if (b.maxConnections !== undefined) {
        if (!Number.isInteger(b.maxConnections)) throw new Invalid('maxConnections', 'expected an integer');
        if (b.maxConnections < 1 || b.maxConnections > 65536) throw new Invalid('maxConnections', 'out of range (1..65536)');
        out.maxConnections = b.maxConnections;
      }
      return out;
    },
  },
  exposedApps: {
    path: 'exposed-apps',
    validate(b) {
      onlyFields(b, ['name', 'mode', 'appSocket', 'portRange', 'addressRange', 'enabled', 'healthCheck']);
      checkName(b.name, 'name');
      const mode = b.mode || 'single';
      const off = b.enabled === false ? { enabled: false } : {};
      if (mode === 'single') return { name: b.name, mode, appSocket: checkSocket(b.appSocket, 'appSocket'), ...off };
      if (mode !== 'range') throw new Invalid('mode', `unsupported value "${mode}" (single, range)`);
      for (const k of ['portRange', 'addressRange']) {
        if (!Array.isArray(b[k]) || !b[k].length) throw new Invalid(k, 'needs 1..256 entries');
      }
      b.portRange.forEach((p, i) => { if (!/^\d+(-\d+)?$/.test(String(p))) throw new Invalid(`portRange[${i}]`, `invalid port range "${p}"`); });
      b.addressRange.forEach((a, i) => { if (!isIP(String(a).split('/')[0])) throw new Invalid(`addressRange[${i}]`, `invalid address "${a}"`); });
      return { name: b.name, mode, portRange: b.portRange.map(String), addressRange: b.addressRange.map(String) };
    },
  },
  tunnelSockets: {
    path: 'tunnel-sockets',
    validate(b) {
      onlyFields(b, ['name', 'mode', 'transportProtocol', 'publicAddress', 'publicPort', 'listenAddress', 'listenPort', 'httpDetector', 'stunServers', 'enabled']);
      checkName(b.name, 'name');
      const out = { name: b.name, mode: b.mode, transportProtocol: 'quic', publicAddress: b.publicAddress || '',
        publicPort: b.publicPort ?? 0, listenAddress: b.listenAddress || '', listenPort: b.listenPort ?? 0 };
      if (!['dedicated-address', 'port-forwarding', 'nat-traversal'].includes(out.mode)) throw new Invalid('mode', `unsupported value "${out.mode}" (dedicated-address, port-forwarding, nat-traversal)`);
      checkPort(out.publicPort, 'publicPort', { allowZero: true });
      checkPort(out.listenPort, 'listenPort', { allowZero: true });
      const auto = ['autoHttpDetect', 'autoStunDetect'].includes(out.publicAddress);
      if (out.publicAddress && !auto && !isIP(out.publicAddress)) throw new Invalid('publicAddress', `invalid address "${out.publicAddress}"`);
      if (out.listenAddress && !isIP(out.listenAddress)) throw new Invalid('listenAddress', `invalid address "${out.listenAddress}"`);
      if (out.mode === 'port-forwarding') {
        if (!out.publicAddress) throw new Invalid('publicAddress', 'required for port-forwarding');
        checkPort(out.publicPort, 'publicPort');
        checkPort(out.listenPort, 'listenPort');
      } else {
        if (!out.publicAddress && !out.listenAddress) throw new Invalid('publicAddress', 'dedicated-address needs publicAddress or listenAddress');
        if (!out.listenPort && !out.publicPort) throw new Invalid('listenPort', 'listenPort or publicPort required');
        out.listenPort ||= out.publicPort;
        out.publicPort ||= out.listenPort;
      }
      if (out.publicAddress === 'autoHttpDetect') {
        const d = b.httpDetector || {};
        if (!/^https?:\/\/.+/.test(d.url || '')) throw new Invalid('httpDetector.url', 'http(s) URL required');
        out.httpDetector = { url: d.url, interval: d.interval ?? 60 };
      }
      if (out.publicAddress === 'autoStunDetect') {
        if (!Array.isArray(b.stunServers) || !b.stunServers.length) throw new Invalid('stunServers', 'needs 1..8 HOST:PORT entries');
        out.stunServers = b.stunServers;
      }
      return out;
    },
  },
};

function validateSite(b, current) {
  onlyFields(b, ['siteName', 'networkKey', 'networkKeySet', 'messageChannel', 'logger']);
  const site = structuredClone(current);
  if (b.siteName !== undefined) { checkName(b.siteName, 'siteName'); site.siteName = b.siteName; }
  if (b.networkKey !== undefined) {
    if (typeof b.networkKey !== 'string' || b.networkKey.length < 8 || b.networkKey.length > 255) throw new Invalid('networkKey', 'must be 8..255 bytes');
    site.networkKey = b.networkKey;
  }
  const mc = b.messageChannel;
  if (mc !== undefined) {
    for (const k of Object.keys(mc)) {
      if (!['protocol', 'brokers', 'topic', 'username', 'password', 'passwordSet', 'caFile'].includes(k)) throw new Invalid(`messageChannel.${k}`, 'unknown field');
    }
    if (mc.brokers !== undefined) {
      if (!Array.isArray(mc.brokers) || mc.brokers.length < 1 || mc.brokers.length > 8) throw new Invalid('messageChannel.brokers', 'needs 1..8 broker URLs');
      mc.brokers.forEach((u, i) => {
        if (!/^(mqtt|mqtts|ssl|tcp|ws|wss):\/\/[^/:]+(:\d{1,5})?\/?$/.test(u)) throw new Invalid(`messageChannel.brokers[${i}]`, `invalid broker URL "${u}"`);
      });
      site.messageChannel.brokers = mc.brokers;
    }
    if (mc.topic !== undefined) {
      if (/[+#\0]/.test(mc.topic) || mc.topic.length > 200) throw new Invalid('messageChannel.topic', "must not contain '+', '#' and be at most 200 bytes");
      site.messageChannel.topic = mc.topic || 'wovenet/0123456789abcdef0123456789abcdef';
    }
    if (mc.username !== undefined) site.messageChannel.username = mc.username;
    if (mc.password) site.messageChannel.password = mc.password;
  }
  if (b.logger !== undefined) {
    const level = String(b.logger.level || 'INFO').toUpperCase();
    if (!['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level)) throw new Invalid('logger.level', `unsupported value "${b.logger.level}" (DEBUG, INFO, WARN, ERROR)`);
    site.logger = { ...site.logger, ...b.logger, level };
  }
  return site;
}

// ---------- state ----------

const EMPTY_SITE = {
  siteName: '', networkKey: '',
  messageChannel: { protocol: 'mqtt', brokers: [], topic: '', username: '', password: '', caFile: '' },
  logger: { level: 'INFO', file: '', format: 'text' },
};

function seed() {
  return {
    revision: 1,
    site: {
      siteName: 'alpha', networkKey: 'seed-network-key',
      messageChannel: { protocol: 'mqtt', brokers: ['mqtt://127.0.0.1:1883'], topic: 'wovenet/5e1f0c1b2a3d4e5f60718293a4b5c6d7', username: '', password: '', caFile: '' },
      logger: { level: 'INFO', file: '', format: 'text' },
    },
    broker: { state: 'connected', error: '' },
    tunnelSockets: [{ name: 'public-v4', mode: 'dedicated-address', transportProtocol: 'quic', publicAddress: '203.0.113.10', publicPort: 25890, listenAddress: '', listenPort: 25890 }],
    exposedApps: [{ name: 'web', mode: 'single', appSocket: 'tcp:127.0.0.1:8080' }],
    remoteApps: [],
    peers: [{
      siteName: 'beta', online: true, reachable: true, lastSeen: new Date().toISOString(), fingerprint: 'c0ffee'.repeat(10) + 'abcd',
      identityKey: '5b2f0c7e'.repeat(8), membership: 'trusted',
      sockets: [{ address: '198.51.100.20', port: 25890, protocol: 'quic', detected: false }, { address: '2001:db8::20', port: 25890, protocol: 'quic', detected: false }],
      apps: ['iperf', 'ssh'],
      channels: [
        { id: 1, direction: 'outbound', localAddress: '203.0.113.10:41000', remoteAddress: '198.51.100.20:25890', family: 'ipv4', path: 'direct', state: 'up', rttMs: 12.3456, cwnd: 14720, bytesSent: 0, bytesReceived: 0, streams: 1 },
        { id: 2, direction: 'inbound', localAddress: '[2001:db8::10]:25890', remoteAddress: '[2001:db8::20]:50000', family: 'ipv6', path: 'direct', state: 'up', rttMs: 0.260456, cwnd: 14720, bytesSent: 0, bytesReceived: 0, streams: 0 },
      ],
    }],
    counters: new Map(),   // remote app name -> {connections, activeConnections, bytesIn, bytesOut}
    fromFile: new Set(['exposedApps/web']),   // objects the config file manages
    tokens: [],            // {name, scope, created, expires, lastUsed, expired}
    started: Date.now(),
    series: new Map(),     // "kind/name" -> {kind, name, start, rx, tx, rttMs, active}: 1 s steps
    log: [],               // the recent-events log
    logId: 0,
  };
}

function remoteStatus(db, app) {
  const c = db.counters.get(app.name) || { connections: 0, activeConnections: 0, bytesIn: 0, bytesOut: 0 };
  if (app.enabled === false) return { state: 'disabled', ...c };
  const clash = db.remoteApps.find((o) => o !== app && o.localSocket === app.localSocket && db.remoteApps.indexOf(o) < db.remoteApps.indexOf(app));
  if (clash || app.localSocket === `tcp:127.0.0.1:${db.ownPort}`) return { state: 'error', error: `cannot listen on ${app.localSocket}: address already in use`, ...c };
  const peer = db.peers.find((p) => p.siteName === app.siteName && p.online !== false);
  return { state: peer ? 'listening' : 'waiting-for-site', error: '', ...c };
}

const CONFIG_FILE = '/etc/wovenet/config.yaml';

function origin(db, kind, name) {
  return db.fromFile.has(`${kind}/${name}`) ? { origin: 'config', managedBy: CONFIG_FILE } : { origin: 'api' };
}

function view(db, kind, item) {
  const o = origin(db, kind, item.name);
  if (kind === 'remoteApps') return { ...item, ...o, status: remoteStatus(db, item) };
  if (kind === 'exposedApps') return { ...item, ...o, status: { connections: 0, bytesIn: 0, bytesOut: 0 } };
  if (kind === 'tunnelSockets') return { ...item, ...o, status: { state: 'listening', error: '', publicAddress: isIP(item.publicAddress) ? item.publicAddress : '203.0.113.10' } };
  return item;
}

/** Like the agent: a write answered with an object whose state is error says so. */
function saved(db, kind, item) {
  const v = view(db, kind, item);
  if (v.status && v.status.state === 'error') v.warning = `saved, but ${v.status.error}`;
  return v;
}

/** Like the agent: a write to a file-managed object needs "origin": "api". */
function guard(db, kind, name, body, method) {
  const key = `${kind}/${name}`;
  if (!db.fromFile.has(key)) return;
  if (method !== 'DELETE' && body && body.origin === 'api') { db.fromFile.delete(key); return; }
  throw new Invalid('origin', `${kind} "${name}" is managed by the config file ${CONFIG_FILE}: change it there, or take it over with "origin": "api" in the request`, 409, 'managed_by_config');
}

function siteView(db) {
  const { networkKey, ...site } = db.site;
  const { password, ...mc } = site.messageChannel;
  const agent = { version: '0.1.0-mock', startedAt: new Date(db.started).toISOString().replace(/\.\d+Z$/, 'Z'), uptimeSeconds: Math.round((Date.now() - db.started) / 1000), fingerprint: 'ab12'.repeat(16) };
  return { ...site, networkKeySet: Boolean(networkKey), messageChannel: { ...mc, passwordSet: Boolean(password) },
    status: { broker: db.broker, agent, history: { series: db.series.size, bytes: db.series.size * 49080 } } };
}

// ---------- history, like the agent's (1 s steps, 15 min; 1 min steps computed) ----------

function record(db, kind, name, t, rx, tx, rtt, active) {
  const key = `${kind}/${name}`;
  let s = db.series.get(key);
  if (!s) { s = { kind, name, start: t, rx: [], tx: [], rttMs: [], active: [] }; db.series.set(key, s); }
  const at = t - s.start;
  if (at < s.rx.length) { s.rx[at] += rx; s.tx[at] += tx; return; }
  while (s.rx.length < at) { s.rx.push(0); s.tx.push(0); s.rttMs.push(null); s.active.push(0); }
  s.rx.push(rx); s.tx.push(tx); s.rttMs.push(rtt); s.active.push(active);
  if (s.rx.length > 900) { for (const f of ['rx', 'tx', 'rttMs', 'active']) s[f].shift(); s.start++; }
}

function historyView(db, q) {
  const step = q.get('step') === '1m' ? 60 : 1;
  const since = Number(q.get('since') || 0);
  const out = [];
  for (const s of [...db.series.values()].sort((a, b) => (a.kind + a.name).localeCompare(b.kind + b.name))) {
    if (q.get('kind') && s.kind !== q.get('kind')) continue;
    if (q.get('name') !== null && s.name !== q.get('name')) continue;
    let v = { kind: s.kind, name: s.name, start: s.start, rx: s.rx, tx: s.tx, rttMs: s.rttMs, active: s.active };
    if (step === 60) {
      const m0 = Math.floor(s.start / 60);
      const m = { kind: s.kind, name: s.name, start: m0 * 60, rx: [], tx: [], rttMs: [], active: [] };
      s.rx.forEach((_, i) => {
        const k = Math.floor((s.start + i) / 60) - m0;
        while (m.rx.length <= k) { m.rx.push(0); m.tx.push(0); m.rttMs.push(null); m.active.push(0); }
        m.rx[k] += s.rx[i]; m.tx[k] += s.tx[i]; m.active[k] = Math.max(m.active[k], s.active[i]);
        if (s.rttMs[i] !== null) m.rttMs[k] = s.rttMs[i];
      });
      v = m;
    }
    const skip = Math.max(0, Math.ceil((since - v.start) / step));
    if (skip >= v.rx.length) continue;
    out.push({ ...v, start: v.start + skip * step, rx: v.rx.slice(skip), tx: v.tx.slice(skip), rttMs: v.rttMs.slice(skip), active: v.active.slice(skip) });
  }
  return { step, now: Math.floor(Date.now() / 1000), series: out };
}

// ---------- HTTP ----------

function send(res, status, body, headers = {}) {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(text);
}
function fail(res, status, code, message, field = '', headers) {
  send(res, status, { error: { code, message, field } }, headers);
}

async function readJSON(req) {
  const chunks = [];
  let size = 0;
  for await (const c of req) { size += c.length; if (size > 1 << 20) throw new Invalid('', 'body over 1 MiB', 413, 'too-large'); chunks.push(c); }
  if (!/^application\/json\b/.test(req.headers['content-type'] || '')) throw new Invalid('', 'Content-Type must be application/json', 415, 'unsupported-media-type');
  try { return JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { throw new Invalid('', 'malformed JSON', 400, 'malformed'); }
}

async function serveStatic(req, res, pathname) {
  const rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
  const file = path.resolve(WEB, rel);
  const type = TYPES[path.extname(file)];
  // Like the agent: "/", "/<file>" and anything under "/assets/".
  const routable = !rel.includes('/') || rel.startsWith('assets/');
  if (!routable || !file.startsWith(WEB + path.sep) || !type) return fail(res, 404, 'not-found', 'no such file');
  try {
    const data = await fs.readFile(file);
    res.writeHead(200, { 'Content-Type': type, 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
    res.end(req.method === 'HEAD' ? undefined : data);
  } catch {
    fail(res, 404, 'not-found', 'no such file');
  }
}

export async function startMock({ port = 0, host = '127.0.0.1', token = '', statsMs = 1000, withSite = true } = {}) {
  const db = seed();
  if (!withSite) db.site = null;
  const clients = new Set();

  function emit(kind, name = '', action = 'changed', status = null) {
    const text = `event: ${kind}\ndata: ${JSON.stringify({ kind, name, action, status })}\n\n`;
    for (const res of clients) res.write(text);
  }
  const NOUN = { remoteApps: 'remote app', exposedApps: 'exposed app', tunnelSockets: 'tunnel socket', site: 'the site settings' };
  /** Like the agent's recent-events log: kept, and sent as a "log" event. */
  function log(level, kind, name, action, message) {
    const e = { id: ++db.logId, time: new Date().toISOString(), level, kind, name: name || null, action, message };
    db.log.push(e);
    if (db.log.length > 256) db.log.shift();
    const text = `event: log\ndata: ${JSON.stringify(e)}\n\n`;
    for (const res of clients) res.write(text);
  }
  function changed(kind, name, action, status) {
    db.revision++;
    emit(kind, name, action, status);
    log('info', kind, name, action, kind === 'site' ? `${action} the site settings` : `${action} ${NOUN[kind]} ${name}`);
    if (status && status.state === 'error') log('error', kind, name, 'state', `${NOUN[kind]} ${name}: error: ${status.error}`);
  }

  function collection(req, res, kind, name, body) {
    const list = db[kind];
    const idx = name === undefined ? -1 : list.findIndex((x) => x.name === name);
    if (name === undefined) {
      if (req.method === 'GET') return send(res, 200, list.map((x) => view(db, kind, x)));
      if (req.method !== 'POST') return fail(res, 405, 'method-not-allowed', 'use GET or POST', '', { Allow: 'GET, POST' });
      const item = KINDS[kind].validate(body);
      if (list.some((x) => x.name === item.name)) throw new Invalid('name', `"${item.name}" exists`, 409, 'conflict');
      list.push(item);
      changed(kind, item.name, 'created', view(db, kind, item).status);
      return send(res, 201, saved(db, kind, item), { Location: `/api/v1/${KINDS[kind].path}/${encodeURIComponent(item.name)}` });
    }
    if (req.method === 'GET') return idx < 0 ? fail(res, 404, 'not-found', `no ${KINDS[kind].path} "${name}"`) : send(res, 200, view(db, kind, list[idx]));
    if (req.method === 'DELETE') {
      if (idx < 0) return fail(res, 404, 'not-found', `no ${KINDS[kind].path} "${name}"`);
      guard(db, kind, name, null, 'DELETE');
      list.splice(idx, 1);
      db.counters.delete(name);
      changed(kind, name, 'deleted');
      return send(res, 204);
    }
    if (req.method === 'PUT' || req.method === 'PATCH') {
      let input = body;
      if (req.method === 'PATCH') {
        if (idx < 0) return fail(res, 404, 'not-found', `no ${KINDS[kind].path} "${name}"`);
        input = { ...list[idx], ...body };
      }
      if (input && typeof input === 'object' && input.name === undefined) input.name = name;
      if (idx >= 0) guard(db, kind, name, body, req.method);
      const item = KINDS[kind].validate(input);
      if (item.name !== name) throw new Invalid('name', 'must match the name in the URL');
      if (idx < 0) list.push(item); else list[idx] = item;
      changed(kind, name, idx < 0 ? 'created' : 'changed', view(db, kind, item).status);
      return send(res, idx < 0 ? 201 : 200, saved(db, kind, item));
    }
    return fail(res, 405, 'method-not-allowed', 'method not allowed', '', { Allow: 'GET, PUT, PATCH, DELETE' });
  }

  function events(req, res) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': wovenet mock events\n\n');
    clients.add(res);
    req.on('close', () => clients.delete(res));
  }

  async function api(req, res, rest) {
    if (token && req.headers.authorization !== `Bearer ${token}`) {
      return fail(res, 401, 'unauthorized', 'credentials required', '', { 'WWW-Authenticate': 'Basic realm="wovenet", Bearer realm="wovenet"' });
    }
    const [top, name, extra] = rest.split('/').map(decodeURIComponent);
    if (extra !== undefined) return fail(res, 404, 'not-found', 'no such resource');
    const needsBody = ['POST', 'PUT', 'PATCH'].includes(req.method);
    const body = needsBody ? await readJSON(req) : undefined;
    const kind = Object.keys(KINDS).find((k) => KINDS[k].path === top);
    if (kind) return collection(req, res, kind, name, body);
    if (top === 'site' && name === undefined) {
      if (req.method === 'GET') return db.site ? send(res, 200, siteView(db)) : fail(res, 404, 'not_found', 'no site configured yet (PUT one)');
      if (req.method !== 'PUT' && req.method !== 'PATCH') return fail(res, 405, 'method-not-allowed', 'use GET, PUT or PATCH', '', { Allow: 'GET, PUT, PATCH' });
      if (!db.site && req.method === 'PATCH') return fail(res, 404, 'not_found', 'no site configured yet (PUT one)');
      if (req.method === 'PUT' && (!body || typeof body.siteName !== 'string')) throw new Invalid('siteName', 'required');
      const next = validateSite(body, req.method === 'PUT' ? EMPTY_SITE : db.site);
      if (!next.messageChannel.brokers.length) throw new Invalid('messageChannel.brokers', 'needs 1..8 broker URLs');
      db.site = next;
      changed('site', db.site.siteName, 'changed');
      return send(res, 200, siteView(db));
    }
    if (top === 'peers' && req.method === 'DELETE' && name !== undefined) {
      if (!db.peers.some((p) => p.siteName === name)) return fail(res, 404, 'not_found', 'no such peer site');
      removePeer(name);
      for (const k of [...db.series.keys()]) if (k === `peer/${name}` || k.startsWith(`channel/${name}/`)) db.series.delete(k);
      return send(res, 204);
    }
    if (top === 'history' && req.method === 'GET' && name === undefined) {
      const q = new URL(req.url, 'http://x').searchParams;
      if (q.get('kind') && !['site', 'peer', 'channel', 'remoteApp', 'exposedApp'].includes(q.get('kind'))) return fail(res, 400, 'bad_request', 'kind must be site, peer, channel, remoteApp or exposedApp', 'kind');
      if (q.get('step') && !['1s', '1m'].includes(q.get('step'))) return fail(res, 400, 'bad_request', 'step must be 1s or 1m', 'step');
      return send(res, 200, historyView(db, q));
    }
    if (top === 'connections' && req.method === 'GET' && name === undefined) return send(res, 200, { connections: [], total: 0, truncated: false });
    if (top === 'events' && name === 'recent' && req.method === 'GET') {
      const after = Number(new URL(req.url, 'http://x').searchParams.get('after') || 0);
      return send(res, 200, { events: db.log.filter((e) => e.id > after), lastId: db.logId });
    }
    if (top === 'config' && req.method === 'PUT' && name === undefined) return putConfig(req, res, body);
    if (top === 'peers' && req.method === 'GET') {
      if (name === undefined) return send(res, 200, db.peers);
      const peer = db.peers.find((p) => p.siteName === name);
      return peer ? send(res, 200, peer) : fail(res, 404, 'not-found', `no peer "${name}"`);
    }
    if (top === 'config' && req.method === 'GET' && name === undefined) {
      const strip = (kind) => db[kind].map((x) => ({ ...x }));
      const { status, ...site } = siteView(db);
      return send(res, 200, { revision: db.revision, site, tunnelSockets: strip('tunnelSockets'), exposedApps: strip('exposedApps'), remoteApps: strip('remoteApps') });
    }
    if (top === 'events' && req.method === 'GET' && name === undefined) return events(req, res);
    if (top === 'tokens') {
      if (req.method === 'GET' && name === undefined) return send(res, 200, db.tokens);
      if (req.method === 'POST' && name === undefined) {
        checkName(body && body.name, 'name');
        const scope = body.scope || 'write';
        if (!['write', 'read', 'metrics'].includes(scope)) throw new Invalid('scope', 'unsupported value (write, read, metrics)');
        if (db.tokens.some((x) => x.name === body.name)) throw new Invalid('name', `a token named "${body.name}" exists`, 409, 'exists');
        const t = { name: body.name, scope, created: new Date().toISOString(), expires: null, lastUsed: null, expired: false };
        db.tokens.push(t);
        return send(res, 201, { ...t, token: `wvt_mock${Math.random().toString(36).slice(2)}` });
      }
      if (req.method === 'DELETE' && name !== undefined) {
        const before = db.tokens.length;
        db.tokens = db.tokens.filter((x) => x.name !== name);
        return before === db.tokens.length ? fail(res, 404, 'not_found', `no token named "${name}"`) : send(res, 204);
      }
    }
    return fail(res, 404, 'not-found', 'no such resource');
  }

  /** PUT /config: a plan by names (created, changed, deleted), then the apply. */
  function putConfig(req, res, doc) {
    const dry = new URL(req.url, 'http://x').searchParams.get('dryRun') === 'true';
    const match = req.headers['if-match'];
    if (match && match !== '*' && match !== `"${db.revision}"`) return fail(res, 412, 'precondition_failed', 'the revision changed (If-Match does not match the ETag)');
    if (!doc || typeof doc !== 'object' || !doc.site) throw new Invalid('site', 'required');
    const plan = { created: [], changed: [], deleted: [], warnings: [], dryRun: dry };
    const next = {};
    for (const kind of Object.keys(KINDS)) {
      const list = (doc[kind] || []).map((o, i) => { try { return KINDS[kind].validate({ ...o }); } catch (e) { e.field = `${kind}[${i}].${e.field}`; throw e; } });
      next[kind] = list;
      for (const o of list) {
        const cur = db[kind].find((x) => x.name === o.name);
        if (!cur) plan.created.push({ kind, name: o.name });
        else if (JSON.stringify(cur) !== JSON.stringify(o)) {
          plan.changed.push({ kind, name: o.name, fields: Object.keys({ ...cur, ...o }).filter((k) => JSON.stringify(cur[k]) !== JSON.stringify(o[k])).map((k) => ({ field: k, from: cur[k], to: o[k] })) });
        }
      }
      for (const cur of db[kind]) if (!list.some((o) => o.name === cur.name)) plan.deleted.push({ kind, name: cur.name });
    }
    const n = plan.created.length + plan.changed.length + plan.deleted.length;
    plan.revision = db.revision + (n ? 1 : 0);
    if (!dry && n) {
      for (const kind of Object.keys(KINDS)) db[kind] = next[kind];
      db.revision++;
      for (const [verb, list] of [['created', plan.created], ['changed', plan.changed], ['deleted', plan.deleted]]) {
        for (const e of list) { emit(e.kind, e.name, verb); log('info', e.kind, e.name, verb, `${verb} ${NOUN[e.kind]} ${e.name}`); }
      }
    }
    return send(res, 200, plan, { ETag: `"${db.revision}"` });
  }

  async function mockControl(req, res, rest) {
    // Test hooks: POST /__mock/peers {peer}, DELETE /__mock/peers/<site>.
    const [top, name] = rest.split('/').map(decodeURIComponent);
    if (top === 'peers' && req.method === 'POST') { addPeer(JSON.parse(await readBodyText(req))); return send(res, 204); }
    if (top === 'peers' && req.method === 'DELETE') { removePeer(name); return send(res, 204); }
    return fail(res, 404, 'not-found', 'no such hook');
  }

  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    try {
      if (pathname.startsWith('/api/v1/')) return await api(req, res, pathname.slice('/api/v1/'.length));
      if (pathname === '/healthz') return send(res, 200, { status: 'ok' });
      if (pathname === '/metrics') { res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }); return res.end('# HELP wovenet_up 1 if up\n# TYPE wovenet_up gauge\nwovenet_up 1\n'); }
      if (pathname.startsWith('/__mock/')) return await mockControl(req, res, pathname.slice('/__mock/'.length));
      if (req.method !== 'GET' && req.method !== 'HEAD') return fail(res, 405, 'method-not-allowed', 'GET only', '', { Allow: 'GET, HEAD' });
      return await serveStatic(req, res, pathname);
    } catch (err) {
      if (err instanceof Invalid) return fail(res, err.status, err.code, err.message, err.field);
      return fail(res, 500, 'internal', String(err && err.message));
    }
  });

  // Node closes an idle keep-alive connection after 5 s; a client that
  // reuses it in that moment gets ECONNRESET (Playwright's request context
  // does not retry: e2e.dashboard_mock failed so once). Keep them longer
  // than any pause of the tests.
  server.keepAliveTimeout = 120000;
  server.headersTimeout = 121000;

  function addPeer(peer) {
    const full = { online: true, lastSeen: new Date().toISOString(), ...peer };
    if (!full.dataChannels) { full.sockets ||= []; full.apps ||= []; full.channels ||= []; }
    if (full.online === undefined) delete full.online;
    db.peers = db.peers.filter((p) => p.siteName !== full.siteName).concat(full);
    emit('peers', full.siteName, 'joined');
    log('info', 'peers', full.siteName, 'joined', `site ${full.siteName} joined the mesh`);
  }
  function removePeer(name) {
    db.peers = db.peers.filter((p) => p.siteName !== name);
    emit('peers', name, 'deleted');
    log('info', 'peers', name, 'deleted', `forgot site ${name}`);
  }

  function tick() {
    const t = Math.floor(Date.now() / 1000);
    let srx = 0, stx = 0;
    for (const peer of db.peers) {
      let prx = 0, ptx = 0, up = 0, best = null;
      for (const ch of peer.channels || peer.dataChannels || []) {
        if (ch.state !== 'up') continue;
        const tx = Math.round(20000 + Math.random() * 80000), rx = Math.round(50000 + Math.random() * 200000);
        ch.bytesSent += tx;
        ch.bytesReceived += rx;
        ch.rttMs = Math.max(0.05, ch.rttMs * (0.9 + Math.random() * 0.2));
        record(db, 'channel', `${peer.siteName}/${ch.id}`, t, rx, tx, ch.rttMs, ch.streams || 0);
        prx += rx; ptx += tx; up++;
        best = best === null ? ch.rttMs : Math.min(best, ch.rttMs);
      }
      record(db, 'peer', peer.siteName, t, prx, ptx, best, up);
      srx += prx; stx += ptx;
    }
    for (const a of db.remoteApps) record(db, 'remoteApp', a.name, t, 0, 0, null, 0);
    for (const a of db.exposedApps) record(db, 'exposedApp', a.name, t, 0, 0, null, 0);
    record(db, 'site', '', t, srx, stx, null, 0);
    emit('stats');
  }
  const timer = statsMs > 0 ? setInterval(tick, statsMs) : null;

  await new Promise((resolve) => server.listen(port, host, resolve));
  db.ownPort = server.address().port;
  const url = `http://${host}:${server.address().port}/`;
  return {
    url, db, emit, addPeer, removePeer,
    close() {
      if (timer) clearInterval(timer);
      for (const res of clients) res.end();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

async function readBodyText(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const mock = await startMock({ port: Number(process.argv[2] || process.env.PORT || 0), token: process.env.MOCK_TOKEN || '' });
  console.log(`mock wovenet API and dashboard at ${mock.url}`);
}
