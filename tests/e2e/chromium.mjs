// Drives the demo in headless Chromium (playwright-core, the system's Chromium) and delivers real
// pushes through DevTools (`ServiceWorker.deliverPushMessage`).
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    timeout: 30000,
  });
}

/**
 * A fresh profile on the demo site with notifications allowed, DevTools' ServiceWorker domain on,
 * and every console line of page and worker collected in `logs`.
 */
export async function openDemo(browser, site, query = '') {
  const context = await browser.newContext();
  await context.grantPermissions(['notifications'], { origin: site.url });
  const logs = [];
  context.on('console', (m) => logs.push({ type: m.type(), text: m.text() }));
  const page = await context.newPage();
  page.on('pageerror', (e) => logs.push({ type: 'pageerror', text: String(e) }));
  const cdp = await context.newCDPSession(page);
  const registrations = new Map();
  const versions = new Map();
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => {
    for (const r of e.registrations) registrations.set(r.registrationId, r);
  });
  cdp.on('ServiceWorker.workerVersionUpdated', (e) => {
    for (const v of e.versions) versions.set(v.versionId, v);
  });
  await cdp.send('ServiceWorker.enable');
  await page.goto(`${site.url}/${query}`);
  const demo = {
    context, page, cdp, logs, versions,
    registrationId() {
      const r = [...registrations.values()].find((r) => !r.isDeleted && r.scopeURL.startsWith(site.url));
      if (!r) throw new Error('no service-worker registration seen');
      return r.registrationId;
    },
    /** Fills and submits the demo's init form; resolves with the status line. */
    async init() {
      await page.click('#init');
      await page.waitForFunction(() => {
        const s = document.querySelector('#init-status');
        return /saved|hookline/.test(s.textContent);
      }, null, { timeout: 15000 });
      return page.textContent('#init-status');
    },
    /** A real push, through DevTools, to the demo's service worker. */
    async push(data) {
      await cdp.send('ServiceWorker.deliverPushMessage', {
        origin: site.url, registrationId: demo.registrationId(), data,
      });
    },
    worker() {
      const [sw] = context.serviceWorkers();
      if (!sw) throw new Error('no service worker running');
      return sw;
    },
    /** The notifications the worker's registration currently shows. */
    notifications() {
      return page.evaluate(async () => {
        const r = await navigator.serviceWorker.getRegistration('/dist/');
        return (await r.getNotifications()).map((n) => ({
          title: n.title, body: n.body, icon: n.icon, data: n.data,
          actions: n.actions.map((a) => ({ action: a.action, title: a.title })),
        }));
      });
    },
    /** Waits for a console line matching `re`. */
    async waitLog(re, timeout = 10000) {
      const deadline = Date.now() + timeout;
      while (Date.now() < deadline) {
        const hit = logs.find((l) => re.test(l.text));
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no console line matching ${re}; got ${JSON.stringify(logs)}`);
    },
  };
  return demo;
}
