// End-to-end tests of the dashboard in Debian's Chromium (playwright-core).
//   WOVENET_URL=http://127.0.0.1:18080/ node tests/e2e/dashboard.test.mjs
// Without WOVENET_URL the in-memory mock (mock_api.mjs) is started here.
// Optional: WOVENET_TOKEN (bearer token for an agent with auth; enables the
//   sign-in test against it), WOVENET_E2E_OUT (screenshot dir, default
//   ./e2e-out), and, against a real agent only: WOVENET_E2E_PEER_CMD +
//   WOVENET_E2E_PEER_SITE (a shell command that starts a second site, and
//   that site's name), WOVENET_E2E_TRAFFIC_PORT (the local socket of a remote
//   app of this site on the peer's echo app: the chart test moves bytes
//   through it), WOVENET_E2E_FRESH_URL + WOVENET_E2E_FRESH_TOKEN (an agent
//   with no site yet and a token: the first-run test).
// A test that cannot run without one of these reports a skip. Prints
// "N passed, N failed[, N skipped]" and exits 1 on a failure, else 77 (the
// suite's skip code) if a test skipped, else 0: a skip never passes.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test, assert, freePort, launch, run, onCleanup, TOKEN } from './harness.mjs';
import { startMock } from './mock_api.mjs';
import { pickOrType } from './forms.mjs';

const OUT = path.resolve(process.env.WOVENET_E2E_OUT || 'e2e-out');
/** Collects console errors, page errors and failed requests of a page. */
function watch(page) {
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    const why = req.failure() && req.failure().errorText;
    if (why !== 'net::ERR_ABORTED' || !req.url().endsWith('/api/v1/events')) problems.push(`request failed: ${req.url()} ${why}`);
  });
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`); });
  return problems;
}

async function newPage(context, base, token = TOKEN) {
  const page = await context.newPage();
  page.setDefaultTimeout(8000);
  if (token) await page.addInitScript((t) => sessionStorage.setItem('wovenet.auth', `Bearer ${t}`), token);
  return page;
}

async function open(page, base, view = 'overview') {
  await page.goto(`${base}#/${view}`);
  await page.waitForSelector('html[data-ready="1"]');
  await page.waitForSelector(`[data-testid="view-${view}"]`);
}

async function apiGet(page, base, p, token = TOKEN) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await page.request.get(new URL(`api/v1${p}`, base).href, { headers });
  return { status: res.status(), body: res.status() === 200 ? await res.json() : null };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
}

async function main() {
  fs.mkdirSync(OUT, { recursive: true });
  let base = process.env.WOVENET_URL || '';
  let mock = null;
  if (!base) {
    mock = await startMock({ port: 0 });
    onCleanup(() => mock.close());
    base = mock.url;
  }
  if (!base.endsWith('/')) base += '/';
  console.log(`dashboard e2e against ${mock ? 'mock ' : ''}${base}; screenshots in ${OUT}`);

  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await newPage(context, base);
  const site = (await apiGet(page, base, '/site')).body;

  await test('page loads with zero console errors and zero failed requests', async () => {
    const problems = watch(page);
    await open(page, base);
    await page.waitForFunction(() => document.querySelector('[data-testid=live-state]').textContent === 'live');
    await page.waitForTimeout(800);
    assert(problems.length === 0, `problems on load:\n${problems.join('\n')}`);
    const name = await page.textContent('[data-testid=site-name]');
    assert(name === site.siteName, `header names the site (got "${name}")`);
    assert(await page.locator('[data-testid=mesh] [data-testid=mesh-self]').count() === 1, 'mesh shows this site');
  });

  await test('screenshots of each view (desktop and phone width)', async () => {
    for (const view of ['overview', 'peers', 'apps', 'sockets', 'settings']) {
      await page.click(`[data-testid=nav-${view}]`);
      await page.waitForSelector(`[data-testid="view-${view}"]`);
      await shot(page, `desktop-${view}`);
    }
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    const p2 = await newPage(phone, base);
    for (const view of ['overview', 'peers', 'apps', 'sockets', 'settings']) {
      await open(p2, base, view);
      await shot(p2, `phone-${view}`);
      const overflow = await p2.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert(overflow <= 1, `${view} fits a phone width (overflow ${overflow}px)`);
    }
    await phone.close();
  });

  const appName = `e2e-web-${process.pid}`;
  const badName = `e2e-bad-${process.pid}`;
  const port = await freePort();
  const peers = (await apiGet(page, base, '/peers')).body || [];
  const target = peers[0] ? { site: peers[0].siteName, app: String(peers[0].apps && peers[0].apps[0] || 'web') } : { site: 'nowhere', app: 'web' };

  async function fillRemote(name, localSocket) {
    const form = page.locator('[data-testid=remote-app-form]');
    await form.locator('[data-testid=input-name]').fill(name);
    await pickOrType(form, 'siteName', target.site);
    await pickOrType(form, 'appName', target.app);
    await form.locator('[data-testid=input-localSocket]').fill(localSocket);
    await form.locator('[data-testid=remote-app-submit]').click();
  }

  await test('create a remote app through the form: it appears with a status badge', async () => {
    await open(page, base, 'apps');
    await fillRemote(appName, `tcp:127.0.0.1:${port}`);
    const row = page.locator(`[data-testid=remote-app-row][data-name="${appName}"]`);
    await row.waitFor();
    const state = await row.locator('[data-testid=status-badge]').textContent();
    assert(['listening', 'waiting-for-site'].includes(state), `status badge is listening or waiting-for-site (got "${state}")`);
    const stored = await apiGet(page, base, `/remote-apps/${appName}`);
    assert(stored.status === 200 && stored.body.localSocket === `tcp:127.0.0.1:${port}`, 'the API stored it');
    await shot(page, 'apps-created');
  });

  await test('edit the remote app through the form (local socket, max connections)', async () => {
    const port2 = await freePort();
    const row = page.locator(`[data-testid=remote-app-row][data-name="${appName}"]`);
    await row.locator('[data-testid=edit]').click();
    const form = page.locator('[data-testid=remote-app-form]');
    assert(await form.locator('[data-testid=input-name]').getAttribute('readonly') !== null, 'the name is read-only while editing');
    await form.locator('[data-testid=input-localSocket]').fill(`tcp:127.0.0.1:${port2}`);
    await form.locator('[data-testid=input-maxConnections]').fill('2000');
    await form.locator('[data-testid=remote-app-submit]').click();
    await row.locator(`text=tcp:127.0.0.1:${port2}`).waitFor();
    const stored = await apiGet(page, base, `/remote-apps/${appName}`);
    assert(stored.body.localSocket === `tcp:127.0.0.1:${port2}`, 'the API has the new local socket');
    assert(stored.body.maxConnections === 2000, 'the API has maxConnections 2000 as a number');
  });

  await test('pause the remote app from the form (enabled: false), then resume it', async () => {
    const row = page.locator(`[data-testid=remote-app-row][data-name="${appName}"]`);
    const form = page.locator('[data-testid=remote-app-form]');
    await row.locator('[data-testid=edit]').click();
    await form.locator('[data-testid=input-paused]').check();
    await form.locator('[data-testid=remote-app-submit]').click();
    await page.waitForFunction((n) => { const b = document.querySelector(`[data-testid=remote-app-row][data-name="${n}"] [data-testid=status-badge]`); return b && b.textContent === 'disabled'; }, appName);
    assert((await apiGet(page, base, `/remote-apps/${appName}`)).body.enabled === false, 'the API stored enabled: false');
    await row.locator('[data-testid=edit]').click();
    assert(await form.locator('[data-testid=input-paused]').isChecked(), 'editing shows it paused');
    await form.locator('[data-testid=input-paused]').uncheck();
    await form.locator('[data-testid=remote-app-submit]').click();
    await page.waitForFunction((n) => { const b = document.querySelector(`[data-testid=remote-app-row][data-name="${n}"] [data-testid=status-badge]`); return b && b.textContent !== 'disabled'; }, appName);
    assert(!('enabled' in (await apiGet(page, base, `/remote-apps/${appName}`)).body), 'resumed: enabled absent again (true)');
  });

  await test('an invalid port shows the API error next to the field and stores nothing', async () => {
    const before = (await apiGet(page, base, '/remote-apps')).body.length;
    await fillRemote(badName, 'tcp:127.0.0.1:70000');
    const err = page.locator('[data-testid=remote-app-form] [data-testid=field-error-localSocket]');
    await err.waitFor({ state: 'visible' });
    const text = (await err.textContent()).trim();
    assert(text.length > 0, 'an error message is shown under the local socket input');
    assert(await page.locator('[data-testid=remote-app-form] [data-testid=input-localSocket]').getAttribute('aria-invalid') === 'true', 'the input is marked invalid');
    assert(await page.locator(`[data-testid=remote-app-row][data-name="${badName}"]`).count() === 0, 'no row for the bad app');
    assert((await apiGet(page, base, `/remote-apps/${badName}`)).status === 404, 'GET the bad app answers 404');
    assert((await apiGet(page, base, '/remote-apps')).body.length === before, 'the list is unchanged');
    assert(await page.inputValue('[data-testid=remote-app-form] [data-testid=input-name]') === badName, 'the form keeps what was typed');
    await shot(page, 'apps-invalid-port');
  });

  await test('a remote app saved on a port in use: the toast says "saved, but ..."', async () => {
    const busyName = `e2e-busy-${process.pid}`;
    const apiPort = new URL(base).port;   // the agent's own API port is taken for sure
    await open(page, base, 'apps');
    await fillRemote(busyName, `tcp:127.0.0.1:${apiPort}`);
    const row = page.locator(`[data-testid=remote-app-row][data-name="${busyName}"]`);
    await row.waitFor();
    await page.waitForSelector('[data-testid=notice].notice-warn:not([hidden])');
    const toast = await page.textContent('[data-testid=notice]');
    assert(toast.includes('saved, but') && toast.includes('address already in use'), `the toast says saved, but ... (${toast})`);
    assert((await row.locator('[data-testid=status-badge]').textContent()) === 'error', 'the row shows the error state');
    await row.locator('[data-testid=delete]').click();
    await row.locator('[data-testid=confirm-delete]').click();
    await row.waitFor({ state: 'detached' });
  });

  await test('delete the remote app', async () => {
    await open(page, base, 'apps');
    const row = page.locator(`[data-testid=remote-app-row][data-name="${appName}"]`);
    await row.locator('[data-testid=delete]').click();
    await row.locator('[data-testid=confirm-delete]').click();
    await row.waitFor({ state: 'detached' });
    assert((await apiGet(page, base, `/remote-apps/${appName}`)).status === 404, 'GET after delete answers 404');
  });

  await test('a file-managed app is marked; saving it asks to take it over (409 otherwise)', async () => {
    const list = (await apiGet(page, base, '/exposed-apps')).body || [];
    const app = list.find((a) => a.origin === 'config' && (a.mode || 'single') === 'single');
    if (!app) return 'skip';
    await open(page, base, 'apps');
    const row = page.locator(`[data-testid=exposed-app-row][data-name="${app.name}"]`);
    await row.locator('[data-testid=origin-badge]').waitFor();
    assert(await row.getAttribute('data-origin') === 'config', 'the row says origin config');
    await row.locator('[data-testid=edit]').click();
    const form = page.locator('[data-testid=exposed-app-form]');
    const note = await form.locator('[data-testid=managed-note]').textContent();
    assert(note.includes(app.managedBy), `the form names the file (${note})`);
    await form.locator('[data-testid=exposed-app-submit]').click();
    const err = form.locator('[data-testid=exposed-app-form-error]');
    await err.waitFor({ state: 'visible' });
    assert((await err.textContent()).includes(app.managedBy), 'without take-over the 409 names the file');
    await form.locator('[data-testid=input-takeOver]').check();
    await form.locator('[data-testid=exposed-app-submit]').click();
    await page.waitForFunction((n) => { const r = document.querySelector(`[data-testid=exposed-app-row][data-name="${n}"]`); return r && r.dataset.origin === 'api'; }, app.name);
    const after = (await apiGet(page, base, `/exposed-apps/${app.name}`)).body;
    assert(after.origin === 'api' && after.appSocket === app.appSocket, 'taken over, unchanged otherwise');
  });

  await test('settings: create an API token (shown once), then revoke it', async () => {
    await open(page, base, 'settings');
    const tname = `e2e-tok-${process.pid}`;
    const tf = page.locator('[data-testid=token-form]');
    await tf.locator('[data-testid=input-tokenName]').fill(tname);
    await tf.locator('[data-testid=input-tokenScope]').selectOption('write');
    await tf.locator('[data-testid=token-submit]').click();
    const value = await page.locator('[data-testid=token-value]').textContent();
    assert(value.startsWith('wvt_'), 'the new token is shown once');
    const row = page.locator(`[data-testid=token-row][data-name="${tname}"]`);
    await row.waitFor();
    assert((await row.textContent()).includes('write'), 'the list shows its scope');
    // A first token turns authentication on: the tab keeps working with it.
    await page.waitForSelector('[data-testid=view-settings]');
    const auth = await page.evaluate(() => sessionStorage.getItem('wovenet.auth') || '');
    const res = await page.request.get(new URL('api/v1/tokens', base).href, { headers: auth ? { Authorization: auth } : {} });
    const listed = res.status() === 200 ? await res.json() : [];
    assert(listed.some((x) => x.name === tname) && !JSON.stringify(listed).includes(value), 'GET /tokens lists it without the token');
    await row.locator('[data-testid=revoke]').click();
    await row.locator('[data-testid=confirm-revoke]').click();
    await row.waitFor({ state: 'detached' });
    const after = await page.request.get(new URL('api/v1/tokens', base).href, { headers: auth ? { Authorization: auth } : {} });
    assert(after.status() === 200 && !(await after.json()).some((x) => x.name === tname), 'revoked');
  });

  await test('settings: API errors land next to the field; the network key is never shown', async () => {
    await open(page, base, 'settings');
    const form = page.locator('[data-testid=settings-form]');
    assert(await form.locator('[data-testid=input-networkKey]').inputValue() === '', 'the key input is empty');
    assert(await form.locator('[data-testid=input-networkKey]').getAttribute('type') === 'password', 'the key input is a password field');
    const brokers = await form.locator('[data-testid=input-brokers]').inputValue();
    await form.locator('[data-testid=input-brokers]').fill('not a url');
    await form.locator('[data-testid=settings-submit]').click();
    await form.locator('[data-testid=field-error-brokers]').waitFor({ state: 'visible' });
    const after = (await apiGet(page, base, '/site')).body;
    assert(JSON.stringify(after.messageChannel.brokers) === JSON.stringify(site.messageChannel.brokers), 'brokers unchanged in the API');
    await shot(page, 'settings-invalid-broker');
    await form.locator('[data-testid=input-brokers]').fill(brokers);
    const level = site.logger && site.logger.level || 'INFO';
    const other = level === 'DEBUG' ? 'INFO' : 'DEBUG';
    await form.locator('[data-testid=input-logLevel]').selectOption(other);
    await form.locator('[data-testid=settings-submit]').click();
    await page.waitForFunction(() => document.querySelector('[data-testid=field-error-brokers]').hidden);
    await page.waitForSelector('[data-testid=notice]:not([hidden])');
    const saved = (await apiGet(page, base, '/site')).body;
    assert(saved.logger.level === other, `log level saved (${saved.logger.level})`);
    assert(!('networkKey' in saved), 'GET /site never returns the key');
    await form.locator('[data-testid=input-logLevel]').selectOption(level);
    await form.locator('[data-testid=settings-submit]').click();
    await page.waitForFunction((lv) => fetch('/api/v1/site', { headers: sessionStorage.getItem('wovenet.auth') ? { Authorization: sessionStorage.getItem('wovenet.auth') } : {} })
      .then((r) => r.json()).then((s) => s.logger.level === lv), level);
  });

  await test('keyboard: Tab reaches the navigation and Enter opens a view', async () => {
    await open(page, base, 'overview');
    await page.keyboard.press('Tab');
    for (let i = 0; i < 8; i++) {
      if (await page.evaluate(() => document.activeElement.getAttribute('data-testid')) === 'nav-apps') break;
      await page.keyboard.press('Tab');
    }
    assert(await page.evaluate(() => document.activeElement.getAttribute('data-testid')) === 'nav-apps', 'Tab reaches the Apps link');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert(outline !== 'none', `the focused link shows a focus outline (${outline})`);
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=view-apps]');
    const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => !el.labels || !el.labels.length).map((el) => el.name));
    assert(unlabelled.length === 0, `every input has a label (${unlabelled.join(', ')})`);
  });

  await test('tunnel socket and exposed app: create through the forms, then delete', async () => {
    const sock = `e2e-sock-${process.pid}`;
    const app = `e2e-app-${process.pid}`;
    const udp = await freePort();
    await open(page, base, 'sockets');
    const sf = page.locator('[data-testid=tunnel-socket-form]');
    await sf.locator('[data-testid=input-name]').fill(sock);
    await sf.locator('[data-testid=input-mode]').selectOption('dedicated-address');
    await sf.locator('[data-testid=input-listenAddress]').fill('127.0.0.1');
    await sf.locator('[data-testid=input-listenPort]').fill(String(udp));
    await sf.locator('[data-testid=tunnel-socket-submit]').click();
    const srow = page.locator(`[data-testid=tunnel-socket-row][data-name="${sock}"]`);
    await srow.waitFor();
    await open(page, base, 'apps');
    const ef = page.locator('[data-testid=exposed-app-form]');
    await ef.locator('[data-testid=input-name]').fill(app);
    await ef.locator('[data-testid=input-mode]').selectOption('range');
    assert(await ef.locator('[data-testid=input-appSocket]').isHidden(), 'range mode hides the single app socket');
    await ef.locator('[data-testid=input-portRange]').fill('5900, 6000-6010');
    await ef.locator('[data-testid=input-addressRange]').fill('10.0.0.6\n10.0.2.0/24');
    await ef.locator('[data-testid=exposed-app-submit]').click();
    const erow = page.locator(`[data-testid=exposed-app-row][data-name="${app}"]`);
    await erow.waitFor();
    const stored = (await apiGet(page, base, `/exposed-apps/${app}`)).body;
    assert(stored && stored.mode === 'range' && stored.addressRange.length === 2 && stored.portRange.length === 2, 'range app stored with its lists');
    await erow.locator('[data-testid=delete]').click();
    await erow.locator('[data-testid=confirm-delete]').click();
    await erow.waitFor({ state: 'detached' });
    await open(page, base, 'sockets');
    await srow.locator('[data-testid=delete]').click();
    await srow.locator('[data-testid=confirm-delete]').click();
    await srow.waitFor({ state: 'detached' });
    assert((await apiGet(page, base, `/tunnel-sockets/${sock}`)).status === 404, 'socket gone');
    assert((await apiGet(page, base, `/exposed-apps/${app}`)).status === 404, 'app gone');
  });

  const peerSite = mock ? 'gamma' : process.env.WOVENET_E2E_PEER_SITE || '';
  await test('a new peer appears in the mesh within 5 s without a reload', async () => {
    if (!mock && !(process.env.WOVENET_E2E_PEER_CMD && peerSite)) return 'skip';
    await open(page, base, 'overview');
    await page.evaluate(() => { window.__e2eSamePage = true; });
    const t0 = Date.now();
    if (mock) {
      // The alternative field names of the draft OpenAPI peer schema
      // (dataChannels, exposedApps, tunnelSockets; no online, no family).
      mock.addPeer({ siteName: peerSite, online: undefined, exposedApps: [{ name: 'db' }], tunnelSockets: [{ publicAddress: '198.51.100.30', publicPort: 25890 }],
        dataChannels: [{ id: 'c7', direction: 'outbound', localAddress: '203.0.113.10:41001', remoteAddress: '198.51.100.30:25890', state: 'handshaking', rttMs: 0, bytesSent: 0, bytesReceived: 0, streams: 0 }] });
    } else {
      const child = spawn('sh', ['-c', process.env.WOVENET_E2E_PEER_CMD], { stdio: 'inherit', detached: true });
      onCleanup(() => { try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ } });
    }
    await page.waitForSelector(`[data-testid=mesh] [data-testid=mesh-node][data-site="${peerSite}"]`, { timeout: 5000 });
    console.log(`       peer ${peerSite} in the mesh after ${Date.now() - t0} ms`);
    assert(await page.evaluate(() => window.__e2eSamePage === true), 'the page was not reloaded');
    await shot(page, 'overview-new-peer');
  });

  await test('each data channel of the new peer is an edge labelled with its family (IPv4)', async () => {
    if (!mock && !(process.env.WOVENET_E2E_PEER_CMD && peerSite)) return 'skip';
    // The mock's peer has one channel of the draft schema (no family field,
    // an IPv4 address); the real peer's two channels run over 127.0.0.1 (one
    // dialed by each site). Wait until the picture shows every channel the
    // API lists, then compare edge by edge.
    const want = mock ? 1 : 2;
    const edges = page.locator(`[data-testid=mesh] [data-testid=mesh-edge][data-site="${peerSite}"]`);
    let api = [], drawn = [];
    const deadline = Date.now() + 15000;
    for (;;) {
      const peer = (await apiGet(page, base, `/peers/${peerSite}`)).body;
      api = (peer && (peer.channels || peer.dataChannels)) || [];
      drawn = await edges.evaluateAll((els) => els.map((e) => ({ id: e.dataset.channel, label: e.querySelector('.edge-label').textContent })));
      const same = api.length === want && drawn.length === want
        && api.every((c) => drawn.some((d) => d.id === String(c.id)));
      if (same && (mock || api.every((c) => c.state === 'up'))) break;
      if (Date.now() > deadline) throw new Error(`channels in the API ${JSON.stringify(api.map((c) => [c.id, c.state]))}, edges drawn ${JSON.stringify(drawn)}`);
      await page.waitForTimeout(200);
    }
    for (const c of api) {
      const d = drawn.find((x) => x.id === String(c.id));
      if (!mock) assert(c.family === 'ipv4' && /^127\.0\.0\.1:/.test(c.remoteAddress), `channel ${c.id} is IPv4 over loopback in the API (${c.family} ${c.remoteAddress})`);
      assert(d.label === 'IPv4 · direct', `the edge of channel ${c.id} is labelled with its family and path (got ${d.label})`);
    }
  });

  /** The first peer with apps and channels, waited for (the real peer is
   *  announced and dialed after its start). */
  async function peerWithAppsAndChannels() {
    let list = [];
    const deadline = Date.now() + 20000;
    for (;;) {
      list = (await apiGet(page, base, '/peers')).body || [];
      const peer = list.find((p) => (p.apps || []).length && (p.channels || []).some((c) => c.state === 'up'));
      if (peer) return peer;
      if (Date.now() > deadline) throw new Error(`no peer with apps and an up channel within 20 s: ${JSON.stringify(list.map((p) => [p.siteName, p.apps, (p.channels || []).map((c) => c.state)]))}`);
      await page.waitForTimeout(250);
    }
  }

  await test('peers view names the site, the peer and its app, with a chart', async () => {
    const peer = await peerWithAppsAndChannels();
    await open(page, base, 'peers');
    const card = page.locator(`[data-testid=peer][data-site="${peer.siteName}"]`);
    await card.waitFor();
    const app = typeof peer.apps[0] === 'string' ? peer.apps[0] : peer.apps[0].name;
    await card.locator(`[data-testid=peer-app][data-app="${app}"]`).waitFor();
    // Issue 17: the identity key peers pin, and the membership state.
    const key = (await card.locator('[data-testid=identity-key]').innerText()).replace(/\s+/g, '');
    assert(key === peer.identityKey && /^[0-9a-f]{64}$/.test(key), `the card shows the pinned identity key (${key})`);
    assert(await card.locator('[data-testid=membership]').innerText() === 'trusted', 'the peer is trusted');
    assert(await card.locator('[data-testid=revoke-peer]').count() === 1, 'a revoke button is offered');
    assert(await card.locator('[data-testid=peer-chart]').count() === 1, 'a throughput chart for the peer');
    assert(await card.locator('[data-testid=peer-rtt-chart]').count() === 1, 'an RTT chart for the peer');
    assert((await page.textContent('[data-testid=site-name]')) === site.siteName, 'the site is named');
    await card.locator(`[data-testid=peer-app][data-app="${app}"] [data-testid=use-app]`).click();
    await page.waitForSelector('[data-testid=view-apps]');
    const form = page.locator('[data-testid=remote-app-form]');
    assert(await form.locator('[data-testid=input-siteName]').inputValue() === peer.siteName, '"use this app here" pre-fills the site');
    assert(await form.locator('[data-testid=input-appName]').inputValue() === app, '"use this app here" pre-fills the app');
  });

  await test('the throughput chart grows while bytes move over a channel', async () => {
    // Mock: its counters grow every second. Real agent: bytes echoed through
    // this site's remote app on the peer's app (WOVENET_E2E_TRAFFIC_PORT).
    const trafficPort = Number(process.env.WOVENET_E2E_TRAFFIC_PORT || 0);
    if (!mock && !trafficPort) return 'skip';
    const peer = await peerWithAppsAndChannels();
    let stopTraffic = () => {};
    let echoed = 0;
    if (!mock) {
      const sock = net.connect(trafficPort, '127.0.0.1');
      sock.on('data', (d) => { echoed += d.length; });
      sock.on('error', () => {});
      const chunk = Buffer.alloc(64 << 10, 0x5a);
      const timer = setInterval(() => sock.write(chunk), 100);
      stopTraffic = () => { clearInterval(timer); sock.destroy(); };
      onCleanup(stopTraffic);
    }
    try {
      await open(page, base, 'peers');
      // A point above the chart's axis (its zero line) is a non-zero
      // received rate; two points make a line.
      await page.waitForFunction((s) => [...document.querySelectorAll(`[data-testid=peer][data-site="${s}"] [data-testid=peer-chart] [data-testid=line-rx]`)]
        .some((line) => {
          const axis = Number(line.closest('svg').querySelector('line.axis').getAttribute('y1'));
          const pts = line.getAttribute('points').split(' ').filter(Boolean).map((p) => Number(p.split(',')[1]));
          return pts.length >= 2 && pts.some((y) => y < axis - 0.5);
        }), peer.siteName, { timeout: 12000 });
      await shot(page, 'peers-throughput');
    } finally {
      stopTraffic();
    }
    if (!mock) assert(echoed > 0, `the traffic went through the tunnel (${echoed} bytes echoed)`);
  });

  await test('first run: no site yet -> set it up in Settings', async () => {
    let url, token = '';
    if (mock) {
      const fresh = await startMock({ port: 0, statsMs: 0, withSite: false });
      onCleanup(() => fresh.close());
      url = fresh.url;
    } else if (process.env.WOVENET_E2E_FRESH_URL) {
      url = process.env.WOVENET_E2E_FRESH_URL;
      token = process.env.WOVENET_E2E_FRESH_TOKEN || '';
    } else {
      return 'skip';
    }
    if (!url.endsWith('/')) url += '/';
    const broker = process.env.WOVENET_E2E_FRESH_BROKER || 'mqtt://127.0.0.1:1883';
    const ctx = await browser.newContext();
    const p = await newPage(ctx, url, token);
    const problems = watch(p);
    await open(p, url, 'overview');
    assert((await apiGet(p, url, '/site', token)).status === 404, 'the agent has no site yet (404)');
    await p.click('[data-testid=hint-site] a');
    await p.waitForSelector('[data-testid=view-settings]');
    const form = p.locator('[data-testid=settings-form]');
    await form.locator('[data-testid=input-siteName]').fill('first');
    await form.locator('[data-testid=input-brokers]').fill(broker);
    await form.locator('[data-testid=input-networkKey]').fill('short');
    await form.locator('[data-testid=settings-submit]').click();
    await form.locator('[data-testid=field-error-networkKey]').waitFor({ state: 'visible' });
    assert((await apiGet(p, url, '/site', token)).status === 404, 'nothing stored after the error');
    await form.locator('[data-testid=input-networkKey]').fill('a-long-enough-Key-42');
    await form.locator('[data-testid=settings-submit]').click();
    await p.waitForFunction(() => document.querySelector('[data-testid=site-name]').textContent === 'first');
    assert(await form.locator('[data-testid=input-networkKey]').inputValue() === '', 'the key input is cleared after saving');
    const stored = (await apiGet(p, url, '/site', token)).body;
    assert(stored.siteName === 'first' && stored.networkKeySet === true && !('networkKey' in stored), 'the site is stored, the key set and not shown');
    assert(JSON.stringify(stored.messageChannel.brokers) === JSON.stringify([broker]), `the broker is stored (${JSON.stringify(stored.messageChannel.brokers)})`);
    // The 404s of GET /site before the site exists and the 422 of the short
    // key are expected (each also logged by Chromium as a failed resource
    // load); nothing else.
    const expected = problems.filter((x) => /^HTTP (404|422): .*\/api\/v1\/site$/.test(x)).length;
    let logged = 0;
    const other = problems.filter((x) => !/^HTTP (404|422): .*\/api\/v1\/site$/.test(x)
      && !(/^console: Failed to load resource: the server responded with a status of (404|422)\b/.test(x) && ++logged <= expected));
    assert(expected >= 2 && other.length === 0, `no other problem (${expected} expected 404/422 on /site): ${other.join('; ')}`);
    await shot(p, 'first-run-done');
    await ctx.close();
  });

  await test('sign-in form when the API answers 401; the token is kept for the tab only', async () => {
    let url = base, token = TOKEN;
    if (mock) {
      token = 'e2e-secret-token';
      const locked = await startMock({ port: 0, token, statsMs: 0 });
      onCleanup(() => locked.close());
      url = locked.url;
    } else if (!TOKEN) {
      return 'skip';
    }
    const ctx = await browser.newContext();
    const p = await ctx.newPage();
    p.setDefaultTimeout(8000);
    const answers = [];
    p.on('response', (res) => { if (new URL(res.url()).pathname.startsWith('/api/v1/')) answers.push(`${res.status()} ${res.request().headers().authorization ? 'auth' : 'none'}`); });
    await p.goto(url);
    await p.waitForSelector('[data-testid=login]:not([hidden])');
    assert(answers.includes('401 none'), `the API answered 401 to the request without credentials (${answers.join(', ')})`);
    await p.fill('[data-testid=login-token]', 'wrong-token');
    await p.click('[data-testid=login-submit]');
    await p.waitForSelector('[data-testid=login-error]:not([hidden])');
    assert(answers.includes('401 auth'), `the API answered 401 to the wrong token (${answers.join(', ')})`);
    const before = answers.length;
    await p.fill('[data-testid=login-token]', token);
    await p.click('[data-testid=login-submit]');
    await p.waitForSelector('html[data-ready="1"] [data-testid=view-overview]');
    const after = answers.slice(before);
    assert(after.length > 0 && after.every((a) => a === '200 auth'), `with the token every API call answers 200 (${after.join(', ')})`);
    assert(await p.textContent('[data-testid=site-name]') === (await apiGet(p, url, '/site', token)).body.siteName, 'the signed-in page names the site');
    await shot(p, 'login-done');
    assert(await p.evaluate(() => localStorage.length === 0), 'nothing kept in localStorage');
    assert(await p.evaluate(() => (sessionStorage.getItem('wovenet.auth') || '').startsWith('Bearer ')), 'the token is in sessionStorage');
    await ctx.close();
  });
}

await run(main);
