// End to end in headless Firefox (firefox-esr through geckodriver). Firefox has no DevTools push,
// so the push comes from the demo page as a message the worker runs through its push handler;
// the notification is Firefox's own, and its body click and its close are real user actions on
// it (Firefox's notification window, clicked through Marionette's chrome context). That window
// has no action buttons, so button clicks are tested in Chromium only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSite, startReceiver } from '../../scripts/serve-demo.mjs';
import { startFirefox } from './firefox.mjs';
import { expectedBody, assertWebhook, assertPreflights, sleep } from './expect.mjs';

let site;
before(async () => { site = await startSite(); });
after(async () => { await site?.close(); });

async function until(what, fn, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

for (const cors of [false, true]) {
  test(`firefox, cors ${cors}: displayed, body click (opens or focuses the url) and close send the exact webhooks`, async () => {
    const rx = await startReceiver();
    const ff = await startFirefox();
    try {
      await ff.goto(`${site.url}/?hooks=${rx.url}/${cors ? '&cors=1' : ''}`);
      const status = await ff.run(async () => {
        document.querySelector('#init').click();
        for (let i = 0; i < 150; i++) {
          const text = document.querySelector('#init-status').textContent;
          if (/saved|hookline/.test(text)) return text;
          await new Promise((r) => setTimeout(r, 100));
        }
        return 'no answer';
      });
      const userId = /userId (\S+)/.exec(status)?.[1];
      assert.ok(userId, status);

      const ours = {
        id: 'ff-ours', heading: 'Firefox sale', content: 'Half price', url: `${site.url}/?opened=ff`,
        icon: `${site.url}/icon.svg`, data: { key1: 'value1' }, buttons: [{ id: 'like', text: 'Like' }],
      };
      await ff.run((p) => Hookline.demoPush(p), JSON.stringify(ours));
      const displayed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"ff-ours"'));
      assertWebhook(displayed, cors, 'notification.displayed', expectedBody('notification.displayed', ours, userId));
      const titles = await ff.run(async () => {
        const r = await navigator.serviceWorker.getRegistration('/dist/');
        return (await r.getNotifications()).map((n) => n.title);
      });
      assert.deepEqual(titles, ['Firefox sale']);

      // A real click on the notification's body.
      await ff.context('chrome');
      const alertFor = (title) => ff.run((title) => {
        const windows = Services.wm.getEnumerator('alert:alert');
        while (windows.hasMoreElements()) {
          const w = windows.getNext();
          if (w.document.getElementById('alertTitleLabel')?.value === title) return true;
        }
        return false;
      }, title);
      const act = (title, how) => ff.run((title, how) => {
        const windows = Services.wm.getEnumerator('alert:alert');
        while (windows.hasMoreElements()) {
          const w = windows.getNext();
          if (w.document.getElementById('alertTitleLabel')?.value === title) {
            if (how === 'click') w.document.getElementById('alertTextLabel').click();
            else w.document.getElementById('alert-close').click();
            return true;
          }
        }
        return false;
      }, title, how);
      await until('the Firefox notification window', () => alertFor('Firefox sale'));
      assert.ok(await act('Firefox sale', 'click'));
      const clicked = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('notification.clicked'));
      assertWebhook(clicked, cors, 'notification.clicked', expectedBody('notification.clicked', ours, userId, ''));
      // ... then the url opens in a tab.
      await until('the notification url in a tab', () => ff.run((url) => {
        const browser = Services.wm.getMostRecentWindow('navigator:browser');
        return browser.gBrowser.browsers.some((b) => b.currentURI.spec === url);
      }, ours.url));

      // A real close.
      const bare = { id: 'ff-bare', heading: 'Close me' };
      await ff.context('content');
      await ff.run((p) => Hookline.demoPush(p), JSON.stringify(bare));
      await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"ff-bare"'));
      await ff.context('chrome');
      await until('the second notification window', () => alertFor('Close me'));
      assert.ok(await act('Close me', 'close'));
      const dismissed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('notification.dismissed'));
      assertWebhook(dismissed, cors, 'notification.dismissed', expectedBody('notification.dismissed', bare, userId));

      assertPreflights(rx.requests, cors);
      // A click on a notification whose url is already open finds that tab and opens none (the
      // worker then focuses it; headless Firefox is not seen to switch tabs, so that is not checked).
      const tabs = () => ff.run(() => Services.wm.getMostRecentWindow('navigator:browser')
        .gBrowser.browsers.map((b) => b.currentURI.spec));
      const before = await tabs();
      const again = { id: 'ff-again', heading: 'Open again', url: ours.url };
      await ff.context('content');
      await ff.run((p) => Hookline.demoPush(p), JSON.stringify(again));
      await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"ff-again"'));
      await ff.context('chrome');
      await until('the third notification window', () => alertFor('Open again'));
      assert.ok(await act('Open again', 'click'));
      await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"ff-again"') && r.body.includes('notification.clicked'));
      await sleep(500);
      assert.deepEqual(await tabs(), before, 'no new tab');

      assert.equal(rx.requests.filter((r) => r.method === 'POST').length, 6);
    } finally {
      await ff.quit();
      await rx.close();
    }
  });
}
