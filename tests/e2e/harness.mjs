// The e2e harness of agents.test.mjs: test cases that pass or fail (there
// is no skip: a case that cannot run fails and says why), page watchers,
// screenshots, REST helpers. Chromium is Debian's, driven by playwright-core.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const TOKEN = process.env.WOVENET_TOKEN || '';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const results = { passed: 0, failed: 0 };
const cleanups = [];

export function onCleanup(fn) { cleanups.push(fn); }

/** Runs one case: "ok" when fn returns, FAIL when it throws. */
export async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.passed++;
    console.log(`  ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.failed++;
    console.log(`  FAIL ${name}\n       ${String(err && err.stack || err).split('\n').slice(0, 5).join('\n       ')}`);
  }
}

export function assert(cond, what) { if (!cond) throw new Error(what); }

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

/** Collects console errors, page errors, failed requests and HTTP errors. */
export function watch(page) {
  const problems = [];
  page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => {
    const why = req.failure() && req.failure().errorText;
    // ERR_ABORTED is the page cancelling its own request: the event stream
    // and any fetch in flight when it navigates or reloads. No failure.
    if (why !== 'net::ERR_ABORTED') problems.push(`request failed: ${req.url()} ${why}`);
  });
  page.on('response', (res) => { if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`); });
  return problems;
}

export async function launch() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
  onCleanup(() => browser.close());
  return browser;
}

export async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  if (TOKEN) await page.addInitScript((t) => sessionStorage.setItem('wovenet.auth', `Bearer ${t}`), TOKEN);
  return page;
}

export async function open(page, base, view = 'overview') {
  await page.goto(`${base}#/${view}`);
  await page.waitForSelector('html[data-ready="1"]');
  await page.waitForSelector(`[data-testid="view-${view}"]`);
  await page.waitForFunction(() => document.querySelector('[data-testid=live-state]').textContent === 'live');
}

/** GET/POST/... on an agent's API (not through the page). */
export async function apiCall(page, base, method, p, body) {
  const headers = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};
  const res = await page.request.fetch(new URL(`api/v1${p}`, base).href, { method, headers, data: body });
  const text = await res.text();
  return { status: res.status(), body: text ? JSON.parse(text) : null };
}

export function shotter(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return async (page, name, opts = {}) => {
    // No toast in a picture: it is news of a moment, not the view.
    await page.evaluate(() => { const n = document.getElementById('notice'); if (n) n.hidden = true; });
    await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: opts.fullPage !== false });
  };
}

/** Runs main, then every cleanup; prints the summary and exits 1 on failure. */
export async function run(main) {
  try {
    await main();
  } catch (err) {
    results.failed++;
    console.log(`  FAIL setup: ${err && err.stack || err}`);
  } finally {
    for (const fn of cleanups.reverse()) { try { await fn(); } catch { /* best effort */ } }
  }
  console.log(`${results.passed} passed, ${results.failed} failed`);
  process.exit(results.failed || !results.passed ? 1 : 0);
}
