// The e2e harness of agents.test.mjs, mesh.test.mjs and dashboard.test.mjs:
// test cases that pass or fail, page watchers, screenshots, REST helpers.
// A case skips only by returning 'skip' (dashboard.test.mjs, for what its
// environment does not provide); the agents' cases never do: one that
// cannot run fails and says why. Chromium is Debian's, driven by
// playwright-core.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const TOKEN = process.env.WOVENET_TOKEN || '';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

// The suite's skip code: a run in which a case skipped and none failed.
const SKIP_CODE = 77;
const results = { passed: 0, failed: 0, skipped: 0 };
const cleanups = [];

export function onCleanup(fn) { cleanups.push(fn); }

/** Runs one case: "ok" when fn returns, SKIP when it returns 'skip', FAIL
 * when it throws. */
export async function test(name, fn) {
  const t0 = Date.now();
  try {
    if ((await fn()) === 'skip') { results.skipped++; console.log(`  SKIP ${name}`); return; }
    results.passed++;
    console.log(`  ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    results.failed++;
    console.log(`  FAIL ${name}\n       ${String(err && err.stack || err).split('\n').slice(0, 12).join('\n       ')}`);
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

/** Runs main, then every cleanup; prints the summary and exits 1 on a
 * failure (or when no case passed or skipped), else SKIP_CODE if a case
 * skipped, else 0: a skip never passes. */
export async function run(main) {
  try {
    await main();
  } catch (err) {
    results.failed++;
    console.log(`  FAIL setup: ${err && err.stack || err}`);
  } finally {
    for (const fn of cleanups.reverse()) { try { await fn(); } catch { /* best effort */ } }
  }
  console.log(`${results.passed} passed, ${results.failed} failed${results.skipped ? `, ${results.skipped} skipped` : ''}`);
  process.exit(results.failed || !(results.passed || results.skipped) ? 1 : results.skipped ? SKIP_CODE : 0);
}

/** Node and edge labels of the mesh that an edge or another label covers. */
// Runs in the page (page.evaluate(meshOverlaps)): self-contained.
export function meshOverlaps() {
  const svg = document.querySelector('[data-testid=mesh]');
  const labels = [...svg.querySelectorAll('[data-testid=node-label], [data-testid=edge-label]')]
    .filter((t) => t.getAttribute('display') !== 'none')
    .map((t) => ({ text: t.textContent, b: t.getBBox(), el: t }));
  const paths = [...svg.querySelectorAll('[data-testid=edge-path]')];
  const inside = (b, x, y) => x >= b.x - 1 && x <= b.x + b.width + 1 && y >= b.y - 1 && y <= b.y + b.height + 1;
  const bad = [];
  for (const l of labels) {
    for (const p of paths) {
      let hit = false;
      if (p.tagName === 'line') {
        const [x1, y1, x2, y2] = ['x1', 'y1', 'x2', 'y2'].map((a) => Number(p.getAttribute(a)));
        for (let k = 0; k <= 100 && !hit; k++) hit = inside(l.b, x1 + ((x2 - x1) * k) / 100, y1 + ((y2 - y1) * k) / 100);
      } else {
        const len = p.getTotalLength();
        for (let d = 0; d <= len && !hit; d += 1.5) { const pt = p.getPointAtLength(d); hit = inside(l.b, pt.x, pt.y); }
      }
      if (hit) bad.push(`label "${l.text}" under an edge`);
    }
    for (const c of svg.querySelectorAll('circle')) {
      const cx = Number(c.getAttribute('cx')), cy = Number(c.getAttribute('cy')), r = Number(c.getAttribute('r'));
      const nx = Math.max(l.b.x, Math.min(cx, l.b.x + l.b.width)), ny = Math.max(l.b.y, Math.min(cy, l.b.y + l.b.height));
      if (Math.hypot(nx - cx, ny - cy) < r) bad.push(`label "${l.text}" under a node`);
    }
    for (const o of labels) {
      if (o === l) continue;
      const a = l.b, b = o.b;
      if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) bad.push(`labels "${l.text}" and "${o.text}" overlap`);
    }
  }
  return [...new Set(bad)];
}
