// Creates objects through the dashboard's forms in headless Chromium, as a
// person would: used by tests/system/test_origin_restart.py to show that
// what the dashboard makes survives a restart of the agent.
//   node create_objects.mjs URL '{"remote": {...}, "exposed": {...}}'
// remote: {name, siteName, appName, localSocket}; exposed: {name, appSocket}.
// Optional env WOVENET_TOKEN. Exits 0 when every object shows in its list.
import { chromium } from 'playwright-core';
import { pickOrType } from './forms.mjs';

const [url, spec] = process.argv.slice(2);
const want = JSON.parse(spec);
const TOKEN = process.env.WOVENET_TOKEN || '';
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
let code = 1;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(8000);
  if (TOKEN) await page.addInitScript((t) => sessionStorage.setItem('wovenet.auth', `Bearer ${t}`), TOKEN);
  await page.goto(`${url}#/apps`);
  await page.waitForSelector('html[data-ready="1"] [data-testid=view-apps]');
  if (want.remote) {
    const f = page.locator('[data-testid=remote-app-form]');
    await f.locator('[data-testid=input-name]').fill(want.remote.name);
    await pickOrType(f, 'siteName', want.remote.siteName);
    await pickOrType(f, 'appName', want.remote.appName);
    await f.locator('[data-testid=input-localSocket]').fill(want.remote.localSocket);
    await f.locator('[data-testid=remote-app-submit]').click();
    await page.locator(`[data-testid=remote-app-row][data-name="${want.remote.name}"]`).waitFor();
    console.log(`created remote app ${want.remote.name} in the dashboard`);
  }
  if (want.exposed) {
    const f = page.locator('[data-testid=exposed-app-form]');
    await f.locator('[data-testid=input-name]').fill(want.exposed.name);
    await f.locator('[data-testid=input-mode]').selectOption('single');
    await f.locator('[data-testid=input-appSocket]').fill(want.exposed.appSocket);
    await f.locator('[data-testid=exposed-app-submit]').click();
    await page.locator(`[data-testid=exposed-app-row][data-name="${want.exposed.name}"]`).waitFor();
    console.log(`created exposed app ${want.exposed.name} in the dashboard`);
  }
  code = 0;
} catch (err) {
  console.log(`dashboard: ${err && err.stack || err}`);
} finally {
  await browser.close();
}
process.exit(code);
