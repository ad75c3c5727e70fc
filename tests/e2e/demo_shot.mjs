// Takes the README's picture: site local's overview of scripts/demo while
// iperf3 runs through it (demo_shot.py starts both).
//   node demo_shot.mjs URL OUT.png
import { test, assert, watch, launch, newPage, open, run } from './harness.mjs';

const [url, out] = process.argv.slice(2);

await run(async () => {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, deviceScaleFactor: 1 });
  const page = await newPage(context);
  await test('site local\'s overview during the demo\'s transfer, as the README shows it', async () => {
    const problems = watch(page);
    await open(page, url, 'overview');
    assert(await page.textContent('[data-testid=site-name]') === 'local', 'the demo\'s site local');
    await page.locator('[data-testid=mesh-node][data-site=aws]').waitFor();
    await page.waitForFunction(() => Number(document.querySelector('[data-testid=site-chart]').dataset.last) > 1e6, null, { timeout: 15000 });
    // Some seconds of history: a line, not a dot.
    await page.waitForTimeout(20000);
    assert(Number(await page.getAttribute('[data-testid=site-chart]', 'data-last')) > 1e6, 'still flowing when the picture is taken');
    assert(await page.locator('[data-testid=error-banner]').count() === 0, 'nothing in error');
    assert(await page.locator('[data-testid=notice]').isHidden(), 'no toast in the picture');
    await page.screenshot({ path: out, fullPage: false });
    assert(problems.length === 0, `no console errors: ${problems.join('; ')}`);
    console.log(`       wrote ${out}`);
  });
});
