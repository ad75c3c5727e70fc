// The mesh picture's labels with 1 to 8 peers, 2 channels each, every path
// kind, at desktop and phone widths (issue 23: "labels never covered"):
// no site's name or channel label is under an edge, a node or another
// label, and none is cut off at the picture's border. Against the mock
// (mock_api.mjs), whose peers the test sets.
import { startMock } from './mock_api.mjs';
import { test, assert, launch, newPage, open, run, onCleanup, meshOverlaps } from './harness.mjs';

const PATHS = ['direct', 'punched', 'mapped', 'relayed via beta'];

await run(async () => {
  const mock = await startMock({ port: 0, statsMs: 0 });
  onCleanup(() => mock.close());
  const browser = await launch();
  const page = await newPage(await browser.newContext({ viewport: { width: 1280, height: 900 } }));
  await open(page, mock.url, 'overview');
  for (let n = 1; n <= 8; n++) {
    if (n > 1) {
      mock.addPeer({ siteName: `site-with-a-long-name-${n}`, apps: ['x'], channels: [
        { id: 10 + n, direction: 'outbound', family: 'ipv4', path: PATHS[n % 4], state: 'up', rttMs: 3, bytesSent: 0, bytesReceived: 0, streams: 0 },
        { id: 20 + n, direction: 'inbound', family: 'ipv6', path: PATHS[(n + 1) % 4], state: n % 2 ? 'up' : 'handshaking', rttMs: 3, bytesSent: 0, bytesReceived: 0, streams: 0 }] });
    }
    await test(`${n} peer(s): every label free, at 1280, 800 and 390 px`, async () => {
      await page.waitForFunction((k) => document.querySelectorAll('[data-testid=mesh-node]').length === k, n);
      const visible = () => page.locator('[data-testid=edge-label]:not([display=none])').count();
      let desktop = 0;
      for (const width of [1280, 800, 390]) {
        await page.setViewportSize({ width, height: 900 });
        // The resize places the labels again: wait for that.
        await page.waitForFunction((w) => document.querySelector('[data-testid=mesh]').dataset.placedAt === String(w), width);
        const bad = await page.evaluate(meshOverlaps);
        assert(bad.length === 0, `at ${width} px: ${bad.join('; ')}`);
        const cut = await page.evaluate(() => {
          const svg = document.querySelector('[data-testid=mesh]');
          const [x, y, w, h] = svg.getAttribute('viewBox').split(' ').map(Number);
          return [...svg.querySelectorAll('text:not([display=none])')].map((t) => [t.textContent, t.getBBox()])
            .filter(([, b]) => b.x < x || b.y < y || b.x + b.width > x + w || b.y + b.height > y + h).map(([t]) => t);
        });
        assert(cut.length === 0, `at ${width} px cut at the border: ${cut.join(', ')}`);
        if (width === 1280) desktop = await visible();
      }
      // A crowded picture lets some labels give way, never most at desktop width.
      const channels = 2 * n;
      console.log(`       ${n} peer(s): ${desktop} of ${channels} channel labels shown at 1280 px, ${await visible()} at 390 px`);
      assert(n > 4 ? desktop >= channels / 2 : desktop === channels, `channel labels shown at 1280 px: ${desktop} of ${channels}`);
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.waitForFunction(() => document.querySelector('[data-testid=mesh]').dataset.placedAt === '1280');
      assert(await visible() === desktop, 'back at 1280 px, the hidden labels come back');
    });
  }
});
