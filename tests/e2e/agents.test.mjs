// The dashboard of issue 23 in Chromium against real agents, run by
// run_e2e.py: site siteAlpha7 under test, its peer siteBravo9 exposing an
// iperf3 server, a third site to stop and forget. Every case asserts what
// it is about; none is skipped (a case that cannot run fails).
//
// Environment (set by run_e2e.py): WOVENET_URL (alpha's dashboard),
// WOVENET_E2E_PEER_SITE and WOVENET_E2E_PEER_URL (bravo), WOVENET_E2E_IPERF_APP
// (bravo's app in front of iperf3 -s), WOVENET_E2E_FORGET_SITE and
// WOVENET_E2E_FORGET_PID (the site to stop and forget), WOVENET_E2E_OUT
// (screenshots), WOVENET_TOKEN (optional).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test, assert, freePort, watch, launch, newPage, open, apiCall, shotter, run, onCleanup, meshOverlaps } from './harness.mjs';
import { pickOrType } from './forms.mjs';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`agents.test.mjs needs ${name}: run it through tests/e2e/run_e2e.py`);
  return v;
}

/** iperf3 -c through a local port for secs seconds: its JSON result. */
function iperf(port, secs) {
  return new Promise((resolve, reject) => {
    const p = spawn('iperf3', ['-c', '127.0.0.1', '-p', String(port), '-t', String(secs), '-J'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.on('error', reject);
    p.on('close', (code) => {
      try {
        const j = JSON.parse(out);
        if (code !== 0 || j.error) reject(new Error(`iperf3 exited ${code}: ${j.error || ''}`));
        else resolve(j);
      } catch (e) { reject(new Error(`iperf3 exited ${code}, no JSON: ${out.slice(0, 200)}`)); }
    });
  });
}

const num = async (loc, attr) => Number(await loc.getAttribute(attr));

await run(async () => {
  let base = need('WOVENET_URL');
  if (!base.endsWith('/')) base += '/';
  const PEER = need('WOVENET_E2E_PEER_SITE');
  const PEER_URL = need('WOVENET_E2E_PEER_URL');
  const IPERF_APP = need('WOVENET_E2E_IPERF_APP');
  const GONE = need('WOVENET_E2E_FORGET_SITE');
  const GONE_PID = Number(need('WOVENET_E2E_FORGET_PID'));
  const GONE_URL = need('WOVENET_E2E_FORGET_URL');
  const GONE_CMD = need('WOVENET_E2E_FORGET_CMD');
  let gonePgid = 0;   // the site to forget, once started again by the test
  onCleanup(() => { if (gonePgid) { try { process.kill(-gonePgid, 'SIGTERM'); } catch { /* gone */ } } });
  const shot = shotter(path.resolve(process.env.WOVENET_E2E_OUT || 'e2e-out'));
  console.log(`issue 23 dashboard e2e against ${base}, peers ${PEER} and ${GONE}`);

  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await newPage(context);
  const site = (await apiCall(page, base, 'GET', '/site')).body;
  const appName = `${PEER}-${IPERF_APP}`;
  const localPort = await freePort();

  await test('remote-app form: the site picker lists the peers, the app picker the chosen peer\'s apps', async () => {
    const problems = watch(page);
    await open(page, base, 'apps');
    const form = page.locator('[data-testid=remote-app-form]');
    const values = (sel) => form.locator(`${sel} option`).evaluateAll((os) => os.map((o) => o.value).filter((v) => v && v !== '__other'));
    const sites = await values('[data-testid=pick-siteName]');
    assert(sites.includes(PEER) && sites.includes(GONE), `the site picker offers both peers (${sites})`);
    assert(await form.locator('[data-testid=input-siteName]').isHidden(), 'no free text while a known site can be picked');
    await form.locator('[data-testid=pick-siteName]').selectOption(PEER);
    const announced = (await apiCall(page, base, 'GET', `/peers/${PEER}`)).body.apps;
    const offered = await values('[data-testid=pick-appName]');
    assert(JSON.stringify(offered.slice().sort()) === JSON.stringify(announced.slice().sort()),
      `the app picker offers exactly ${PEER}'s apps (${offered} vs announced ${announced})`);
    // Free text stays possible: for a site not seen yet.
    await form.locator('[data-testid=pick-siteName]').selectOption('__other');
    assert(await form.locator('[data-testid=input-siteName]').isVisible(), '"another site" shows the text input');
    assert(await form.locator('[data-testid=input-appName]').isVisible(), 'and the app is typed too');
    await form.locator('[data-testid=pick-siteName]').selectOption(PEER);
    await form.locator('[data-testid=pick-appName]').selectOption(IPERF_APP);
    assert(await form.locator('[data-testid=input-name]').inputValue() === appName, 'the name is suggested from site and app');
    await form.locator('[data-testid=input-localSocket]').fill(`tcp:127.0.0.1:${localPort}`);
    await form.locator('[data-testid=remote-app-submit]').click();
    const row = page.locator(`[data-testid=remote-app-row][data-name="${appName}"]`);
    await row.waitFor();
    await page.waitForSelector(`[data-testid=remote-app-row][data-name="${appName}"][data-state=listening]`);
    const stored = (await apiCall(page, base, 'GET', `/remote-apps/${appName}`)).body;
    assert(stored.siteName === PEER && stored.appName === IPERF_APP, 'stored with the picked site and app');
    assert(problems.length === 0, `no console errors: ${problems.join('; ')}`);
  });

  let iperfResult = null;
  await test('overview: the site chart shows the transfer\'s rate during it and keeps it after a reload', async () => {
    const problems = watch(page);
    await open(page, base, 'overview');
    const transfer = iperf(localPort, 10);
    transfer.catch(() => {}); // awaited below; a failure must fail this case, not the process
    const chart = page.locator('[data-testid=site-chart]');
    // 1 MB/s = 8 Mbit/s: far below what loopback carries, far above idle.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=site-chart]').dataset.last) > 1e6, null, { timeout: 12000 });
    const rate = await page.textContent('[data-testid=count-rate] .stat-value');
    assert(/[MG]bit\/s$/.test(rate), `"throughput now" has a rate with units (${rate})`);
    await page.waitForTimeout(2500);
    await shot(page, 'overview-transfer');
    // The same transfer on the app's details: its chart and its connections.
    await open(page, base, 'apps');
    const row = page.locator(`[data-testid=remote-app-row][data-name="${appName}"]`);
    await row.locator('[data-testid=details]').click();
    const details = page.locator(`[data-testid=remote-app-details][data-name="${appName}"]`);
    await details.locator('[data-testid=connection-row]').first().waitFor({ timeout: 6000 });
    const conn = (await details.locator('[data-testid=connection-row]').first().locator('td').allTextContents());
    assert(/^127\.0\.0\.1:\d+$/.test(conn[0]), `a connection shows its local client (${conn[0]})`);
    assert(conn[1] === PEER && /^\d+$/.test(conn[5]), `its site and channel (${conn[1]}, ${conn[5]})`);
    await page.waitForFunction((n) => Number(document.querySelector(`[data-testid=remote-app-details][data-name="${n}"] [data-testid=app-chart]`).dataset.peak) > 1e6, appName);
    await shot(page, 'apps-connections');
    iperfResult = await transfer;
    const avg = iperfResult.end.sum_received.bytes / iperfResult.end.sum_received.seconds;
    // A reload: the page starts from nothing but the agent's history.
    await open(page, base, 'overview');
    await page.reload();
    await page.waitForSelector('html[data-ready="1"] [data-testid=site-chart]');
    const peak = await num(chart, 'data-peak');
    console.log(`       iperf3 ${(avg * 8 / 1e6).toFixed(0)} Mbit/s on average; the chart's peak second after a reload ${(peak * 8 / 1e6).toFixed(0)} Mbit/s`);
    assert(peak >= 0.5 * avg, `after the reload the chart still shows the transfer (peak ${peak} B/s, iperf3 ${avg.toFixed(0)} B/s)`);
    assert(await num(chart, 'data-points') > 10, 'and the seconds around it');
    await page.click('[data-testid=range-24h]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=site-chart]').dataset.peak) > 0);
    const minute = await num(chart, 'data-peak');
    assert(minute > 0 && minute <= peak * 1.01, `the 24 h view shows it in 1-minute steps (${minute} B/s)`);
    await page.click('[data-testid=range-15m]');
    assert(problems.length === 0, `no console errors: ${problems.join('; ')}`);
  });

  await test('peers: per-peer throughput and RTT charts from the agent, each channel\'s path, RTT in two digits', async () => {
    await open(page, base, 'peers');
    const card = page.locator(`[data-testid=peer][data-site="${PEER}"]`);
    await card.waitFor();
    assert(await num(card.locator('[data-testid=peer-chart]'), 'data-peak') > 1e6, 'the peer\'s chart has the transfer');
    await page.waitForFunction((s) => Number(document.querySelector(`[data-testid=peer][data-site="${s}"] [data-testid=peer-rtt-chart]`).dataset.last) > 0, PEER);
    const paths = await card.locator('[data-testid=channel-path]').allTextContents();
    assert(paths.length >= 2 && paths.every((p) => p === 'direct'), `every channel says its path (${paths})`);
    const rtts = await card.locator('[data-testid=channel-rtt]').allTextContents();
    assert(rtts.every((r) => /^(\d\.\d\d|\d\.\d|\d+)\u00a0ms$/.test(r)), `RTT shown as 0.26 ms, 2.6 ms or 26 ms (${rtts})`);
    assert(await card.locator('[data-testid=peer-state]').textContent() === 'reachable', 'a peer with up channels is "reachable"');
    await shot(page, 'peers-charts');
  });

  await test('events: channels up, the peer joining, config changes; new ones arrive live', async () => {
    await open(page, base, 'events');
    const texts = await page.locator('[data-testid=event-message]').allTextContents();
    assert(texts.some((t) => t.startsWith('channel ') && t.includes(`to ${PEER} up (IPv4, direct`)), `a channel up (${texts.slice(0, 8)})`);
    assert(texts.includes(`site ${PEER} joined the mesh`), 'the peer joining');
    assert(texts.includes(`created remote app ${appName}`), 'the remote app made in the form');
    await page.evaluate(() => { window.__same = true; });
    await apiCall(page, base, 'POST', '/exposed-apps', { name: 'liveE2e', appSocket: 'tcp:127.0.0.1:9' });
    await page.locator('[data-testid=event-message]', { hasText: 'created exposed app liveE2e' }).waitFor({ timeout: 4000 });
    assert(await page.evaluate(() => window.__same === true), 'without a reload');
    await apiCall(page, base, 'DELETE', '/exposed-apps/liveE2e');
    await shot(page, 'events', { fullPage: false });
  });

  await test('mesh: no label under an edge, a node or another label; every edge says its path', async () => {
    await open(page, base, 'overview');
    await page.locator(`[data-testid=mesh-node][data-site="${GONE}"]`).waitFor();
    const placed = (w) => page.waitForFunction((x) => document.querySelector('[data-testid=mesh]').dataset.placedAt === String(x), w);
    await placed(1280);
    const bad = await page.evaluate(meshOverlaps);
    assert(bad.length === 0, `covered labels: ${bad.join('; ')}`);
    const edges = await page.locator('[data-testid=mesh-edge]').evaluateAll((es) => es.map((e) => [e.dataset.path, e.querySelector('.edge-label').textContent]));
    assert(edges.length >= 4 && edges.every(([p, l]) => p === 'direct' && / · direct$/.test(l)), `edges: ${JSON.stringify(edges)}`);
    for (const width of [390, 800]) {
      await page.setViewportSize({ width, height: 900 });
      await placed(width);
      const again = await page.evaluate(meshOverlaps);
      assert(again.length === 0, `at ${width} px: ${again.join('; ')}`);
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await test('an app in error raises the banner and the toast says "saved, but ..."', async () => {
    await open(page, base, 'apps');
    const form = page.locator('[data-testid=remote-app-form]');
    const apiPort = new URL(base).port;
    await form.locator('[data-testid=input-name]').fill('brokenE2e');
    await pickOrType(form, 'siteName', PEER);
    await pickOrType(form, 'appName', 'db');
    await form.locator('[data-testid=input-localSocket]').fill(`tcp:127.0.0.1:${apiPort}`);
    await form.locator('[data-testid=remote-app-submit]').click();
    const notice = page.locator('[data-testid=notice]');
    await notice.waitFor({ state: 'visible' });
    const said = await notice.textContent();
    assert(await notice.getAttribute('data-kind') === 'warn' && said.includes('saved, but') && said.includes('address already in use'),
      `the toast warns (${said})`);
    await page.locator('[data-testid=remote-app-row][data-name=brokenE2e][data-state=error]').waitFor();
    await open(page, base, 'overview');
    const banner = page.locator('[data-testid=error-banner]');
    await banner.waitFor();
    const text = await banner.textContent();
    assert(text.includes('remote app brokenE2e') && text.includes('address already in use'), `the banner names it (${text})`);
    assert(await page.textContent('[data-testid=nav-problems]') === '1', 'the navigation counts 1 problem');
    assert((await page.textContent('[data-testid=count-apps-error]')).includes('1 in error'), 'the apps count says 1 in error');
    await shot(page, 'overview-error');
    await open(page, base, 'events');
    await page.locator('[data-testid=events-filter]').selectOption('error');
    const errs = await page.locator('[data-testid=event-row]').evaluateAll((rs) => rs.map((r) => [r.dataset.level, r.textContent]));
    assert(errs.length >= 1 && errs.every(([lv]) => lv === 'error') && errs.some(([, t]) => t.includes('brokenE2e')), `the error in the events (${errs})`);
    await open(page, base, 'apps');
    const row = page.locator('[data-testid=remote-app-row][data-name=brokenE2e]');
    await row.locator('[data-testid=delete]').click();
    await row.locator('[data-testid=confirm-delete]').click();
    await row.waitFor({ state: 'detached' });
    await open(page, base, 'overview');
    assert(await page.locator('[data-testid=error-banner]').count() === 0, 'the banner goes with the error');
    assert(await page.locator('[data-testid=nav-problems]').isHidden(), 'and the count');
  });

  await test('stale-data banner when the agent goes away, gone when it is back', async () => {
    // The dashboard of the site about to go: its agent really stops.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await newPage(ctx);
    await open(p, GONE_URL, 'overview');
    assert(await p.locator('[data-testid=stale-banner]').isHidden(), 'no banner while live');
    process.kill(GONE_PID, 'SIGTERM');
    await p.locator('[data-testid=stale-banner]').waitFor({ state: 'visible', timeout: 10000 });
    assert((await p.textContent('[data-testid=stale-banner]')).startsWith('Lost contact with the agent at '), 'the banner says since when');
    assert(await p.evaluate(() => document.getElementById('main').classList.contains('is-stale')), 'the old figures are greyed');
    assert(await p.textContent('[data-testid=live-state]') === 'reconnecting…', 'and the header says so');
    await shot(p, 'overview-stale', { fullPage: false });
    // Back: the banner goes by itself once the stream is up again (the
    // old process let go of its port first).
    for (let i = 0; i < 100; i++) {
      try { await p.request.get(new URL('healthz', GONE_URL).href, { timeout: 500 }); } catch { break; }
      await p.waitForTimeout(100);
    }
    const again = spawn('sh', ['-c', GONE_CMD], { stdio: 'ignore', detached: true });
    gonePgid = again.pid;
    await p.locator('[data-testid=stale-banner]').waitFor({ state: 'hidden', timeout: 30000 });
    assert(await p.textContent('[data-testid=live-state]') === 'live', 'live again');
    await ctx.close();
  });

  await test('a forgotten peer disappears (stopped, then forgotten in the peers view)', async () => {
    // It runs again after the stale-banner case: now it stops for good.
    if (gonePgid) process.kill(-gonePgid, 'SIGTERM');
    else process.kill(GONE_PID, 'SIGTERM');
    await open(page, base, 'peers');
    const card = page.locator(`[data-testid=peer][data-site="${GONE}"]`);
    await page.waitForFunction((s) => {
      const b = document.querySelector(`[data-testid=peer][data-site="${s}"] [data-testid=peer-state]`);
      return b && b.textContent === 'offline';
    }, GONE, { timeout: 15000 });
    await card.locator('[data-testid=forget]').click();
    await shot(page, 'peers-forget');
    await card.locator('[data-testid=confirm-forget]').click();
    await card.waitFor({ state: 'detached' });
    const peers = (await apiCall(page, base, 'GET', '/peers')).body.map((p) => p.siteName);
    assert(!peers.includes(GONE) && peers.includes(PEER), `the API forgot it (${peers})`);
    await open(page, base, 'overview');
    assert(await page.locator(`[data-testid=mesh-node][data-site="${GONE}"]`).count() === 0, 'gone from the mesh');
    const hist = (await apiCall(page, base, 'GET', `/history?kind=peer&name=${GONE}`)).body.series;
    assert(hist.length === 0, 'its history is dropped');
    await open(page, base, 'events');
    await page.locator('[data-testid=event-message]', { hasText: `forgot site ${GONE}` }).waitFor();
  });

  await test('config: download it, upload a changed copy, see the plan, apply it', async () => {
    await open(page, base, 'settings');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=config-download]')]);
    const doc = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
    assert(doc.site && doc.site.siteName === site.siteName && Array.isArray(doc.remoteApps), 'the download is the config document');
    assert(!JSON.stringify(doc).includes('networkKey"'), 'with no secret in it');
    doc.exposedApps.push({ name: 'uploadedE2e', mode: 'single', appSocket: 'tcp:127.0.0.1:9' });
    doc.remoteApps.find((a) => a.name === appName).maxConnections = 77;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'wv-e2e-')), 'changed.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    await page.setInputFiles('[data-testid=config-file]', file);
    const summary = page.locator('[data-testid=plan-summary]');
    await summary.waitFor();
    assert(await summary.textContent() === '1 to create, 1 to change, 0 to delete.', `the plan (${await summary.textContent()})`);
    const entries = await page.locator('[data-testid=plan-entry]').evaluateAll((es) => es.map((e) => `${e.dataset.verb} ${e.dataset.kind} ${e.dataset.name}: ${e.textContent}`));
    assert(entries.some((e) => e.startsWith('created exposedApps uploadedE2e')), `creates the app (${entries})`);
    assert(entries.some((e) => e.startsWith(`changed remoteApps ${appName}`) && e.includes('maxConnections') && e.includes('77')), `changes maxConnections to 77 (${entries})`);
    assert((await apiCall(page, base, 'GET', '/exposed-apps/uploadedE2e')).status === 404, 'nothing applied before the click');
    await shot(page, 'settings-plan');
    await page.click('[data-testid=config-apply]');
    await page.locator('[data-testid=notice]', { hasText: 'Configuration applied: 2 changes' }).waitFor();
    assert((await apiCall(page, base, 'GET', '/exposed-apps/uploadedE2e')).status === 200, 'the app exists now');
    assert((await apiCall(page, base, 'GET', `/remote-apps/${appName}`)).body.maxConnections === 77, 'and the change is made');
    // The same file again: nothing left to do.
    await page.setInputFiles('[data-testid=config-file]', file);
    await page.locator('[data-testid=plan-summary]', { hasText: 'No change' }).waitFor();
    assert(await page.locator('[data-testid=config-apply]').count() === 0, 'no apply button for an empty plan');
    await page.click('[data-testid=config-cancel]');
    await apiCall(page, base, 'DELETE', '/exposed-apps/uploadedE2e');
  });

  await test('settings: version, uptime, the fingerprint the peer pins, the public addresses', async () => {
    await open(page, base, 'settings');
    const st = (await apiCall(page, base, 'GET', '/site')).body.status.agent;
    assert(await page.textContent('[data-testid=agent-version]') === st.version, 'the version');
    const seen = (await apiCall(page, PEER_URL, 'GET', `/peers/${site.siteName}`)).body.fingerprint;
    assert(await page.textContent('[data-testid=agent-fingerprint]') === seen, 'the fingerprint that the peer pins');
    assert(/\d/.test(await page.textContent('[data-testid=agent-uptime]')), 'the uptime');
    assert((await page.textContent('[data-testid=agent-addresses]')).includes('127.0.0.1'), 'the public address of the tunnel socket');
  });

  await test('every view at desktop and phone widths: zero console errors, nothing wider than the screen', async () => {
    const views = ['overview', 'peers', 'apps', 'sockets', 'events', 'settings'];
    for (const [kind, opts] of [['desktop', { viewport: { width: 1280, height: 900 } }],
      ['phone', { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true }]]) {
      const ctx = await browser.newContext(opts);
      const p = await newPage(ctx);
      const problems = watch(p);
      for (const view of views) {
        await open(p, base, view);
        await p.waitForTimeout(1200);
        if (view === 'apps') await p.locator(`[data-testid=remote-app-row][data-name="${appName}"] [data-testid=details]`).click();
        const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert(overflow <= 1, `${kind} ${view}: ${overflow} px wider than the screen`);
        // The events list is long after all the cases: its first screen says it.
        await shot(p, `${kind}-${view}`, { fullPage: view !== 'events' });
      }
      assert(problems.length === 0, `${kind}: ${problems.join('; ')}`);
      await ctx.close();
    }
  });
});
