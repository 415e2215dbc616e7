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

/** Presses the demo page's init button (notifications allowed, hookline initialised) and returns
 * the userId the page shows, waiting up to 20 s. */
async function initDemo(ff) {
  const status = await ff.run(async () => {
    document.querySelector('#init').click();
    for (let i = 0; i < 200; i++) {
      const text = document.querySelector('#init-status').textContent;
      if (/saved|hookline/.test(text)) return text;
      await new Promise((r) => setTimeout(r, 100));
    }
    return 'no answer';
  });
  const userId = /userId (\S+)/.exec(status)?.[1];
  assert.ok(userId, status);
  return userId;
}

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
      const userId = await initDemo(ff);

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

/** Whether Firefox shows a notification window titled `title` (chrome context). */
function alertFor(ff, title) {
  return ff.run((title) => {
    const windows = Services.wm.getEnumerator('alert:alert');
    while (windows.hasMoreElements()) {
      if (windows.getNext().document.getElementById('alertTitleLabel')?.value === title) return true;
    }
    return false;
  }, title);
}

/** A real click on the body of the notification window titled `title` (chrome context). */
function clickAlert(ff, title) {
  return ff.run((title) => {
    const windows = Services.wm.getEnumerator('alert:alert');
    while (windows.hasMoreElements()) {
      const w = windows.getNext();
      if (w.document.getElementById('alertTitleLabel')?.value === title) {
        w.document.getElementById('alertTextLabel').click();
        return true;
      }
    }
    return false;
  }, title);
}

/** Whether a tab shows `url` (chrome context). */
function tabOpen(ff, url) {
  return ff.run((url) => Services.wm.getMostRecentWindow('navigator:browser')
    .gBrowser.browsers.some((b) => b.currentURI.spec === url), url);
}

test('firefox: a click on a stopped worker opens its url while the module is still loading, and with the module missing', async () => {
  // Every .wasm answer takes 2.5 s: past the second Firefox allows a worker to open a window in,
  // after a click.
  const slow = await startSite({ wasmDelay: 2500 });
  const broken = await startSite({
    extra: { '/broken-sw.js': "self.HOOKLINE_WASM_URL = '/no-such.wasm'; importScripts('/dist/hookline-sw.js');" },
  });
  const rx = await startReceiver();
  const ff = await startFirefox();
  try {
    await ff.goto(`${slow.url}/?hooks=${rx.url}/`);
    const userId = await initDemo(ff);
    const n = { id: 'ff-cold', heading: 'Cold click', url: `${slow.url}/?opened=ff-cold` };
    await ff.run((p) => Hookline.demoPush(p), JSON.stringify(n));
    await rx.waitFor((r) => r.body.includes('"ff-cold"'));

    // Stop the worker, as the browser does to an idle one; the click starts it again.
    await ff.context('chrome');
    const stopped = await ff.run(async (origin) => {
      const swm = Cc['@mozilla.org/serviceworkers/manager;1'].getService(Ci.nsIServiceWorkerManager);
      const all = swm.getAllRegistrations();
      let count = 0;
      for (let i = 0; i < all.length; i++) {
        const r = all.queryElementAt(i, Ci.nsIServiceWorkerRegistrationInfo);
        if (r.scope.startsWith(origin) && r.activeWorker) {
          await r.activeWorker.terminateWorker();
          count++;
        }
      }
      return count;
    }, slow.url);
    assert.equal(stopped, 1);
    await until('the Firefox notification window', () => alertFor(ff, 'Cold click'));
    assert.ok(await clickAlert(ff, 'Cold click'));
    await until('the notification url in a tab', () => tabOpen(ff, n.url), 5000);
    const clicked = await rx.waitFor((r) => r.body.includes('notification.clicked'), 15000);
    assertWebhook(clicked, false, 'notification.clicked', expectedBody('notification.clicked', n, userId, ''));

    // A worker whose module cannot load at all: a click on a notification hookline showed still
    // opens its url.
    await ff.context('content');
    await ff.goto(`${broken.url}/`);
    const url = `${broken.url}/?opened=ff-broken`;
    await ff.run(async (url) => {
      await navigator.serviceWorker.register('/broken-sw.js');
      const r = await navigator.serviceWorker.ready;
      await r.showNotification('Module missing', { data: { hookline: { id: 'ff-broken', url, key: 'k' } } });
    }, url);
    await ff.context('chrome');
    await until('the notification window', () => alertFor(ff, 'Module missing'));
    assert.ok(await clickAlert(ff, 'Module missing'));
    await until('the notification url in a tab', () => tabOpen(ff, url), 5000);
  } finally {
    await ff.quit();
    await rx.close();
    await slow.close();
    await broken.close();
  }
});

test('firefox: OneSignal v16 sites get the v16 webhooks for a display and a real click', async () => {
  const rx = await startReceiver();
  const ff = await startFirefox();
  try {
    await ff.goto(`${site.url}/`);
    const userId = await ff.run((webhooks) => Hookline.init({
      appId: 'v16', serviceWorkerPath: '/dist/hookline-sw.js', webhooks,
    }).then((r) => r.userId), {
      format: 'v16',
      'notification.willDisplay': `${rx.url}/notification.willDisplay`,
      'notification.clicked': `${rx.url}/notification.clicked`,
    });
    const push = {
      custom: { i: 'ff-v16', u: `${site.url}/?opened=ff-v16`, a: { plan: 'pro' } },
      title: 'Firefox v16', alert: 'Body', o: [{ i: 'b1', n: 'Open b1', u: `${site.url}/?opened=b1` }],
    };
    const v16 = (event, extra) => JSON.stringify({
      event, notificationId: 'ff-v16', heading: 'Firefox v16', content: 'Body',
      additionalData: { plan: 'pro' }, url: push.custom.u, subscriptionId: userId, ...extra,
    });
    await ff.run((p) => Hookline.demoPush(p), JSON.stringify(push));
    const displayed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"ff-v16"'));
    assert.equal(displayed.url, '/notification.willDisplay');
    assert.equal(displayed.body, v16('notification.willDisplay'));
    await ff.context('chrome');
    await until('the Firefox notification window', () => alertFor(ff, 'Firefox v16'));
    assert.ok(await clickAlert(ff, 'Firefox v16'));
    const clicked = await rx.waitFor((r) => r.method === 'POST' && r.url === '/notification.clicked');
    assert.equal(clicked.body, v16('notification.clicked', { actionId: '' }));
    await until('the notification url in a tab', () => tabOpen(ff, push.custom.u));
  } finally {
    await ff.quit();
    await rx.close();
  }
});
