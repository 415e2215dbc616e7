// End to end in headless Chromium: the www demo, real pushes through DevTools, real
// notifications, clicks and closes, and the webhooks as a receiver on loopback sees them.
// Run: node --test tests/e2e/ (after scripts/build-package.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSite, startReceiver } from '../../scripts/serve-demo.mjs';
import { launch, openDemo } from './chromium.mjs';
import { expectedBody, assertWebhook, assertPreflights, sleep } from './expect.mjs';

let site;
let browser;
before(async () => {
  site = await startSite();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await site?.close();
});

/** Dispatches a notification event for the notification with hookline id `id`, in the worker. */
function notificationEvent(demo, type, id, action) {
  return demo.worker().evaluate(async ({ type, id, action }) => {
    const all = await self.registration.getNotifications();
    const notification = all.find((n) => n.data && n.data.hookline && n.data.hookline.id === id);
    if (!notification) throw new Error(`notification ${id} is not shown`);
    const init = { notification };
    if (action !== undefined) init.action = action;
    self.dispatchEvent(new NotificationEvent(type, init));
  }, { type, id, action });
}

for (const cors of [false, true]) {
  test(`cors ${cors}: displayed, body click, button click and close send the exact webhooks`, async () => {
    const rx = await startReceiver();
    const demo = await openDemo(browser, site, `?hooks=${rx.url}/${cors ? '&cors=1' : ''}`);
    try {
      const status = await demo.init();
      const userId = /userId (\S+)/.exec(status)?.[1];
      assert.ok(userId, status);

      // hookline's documented format, with buttons and custom data.
      const ours = {
        id: 'n-ours', heading: 'Sale', content: 'Half price today', url: `${site.url}/?opened=ours`,
        icon: `${site.url}/icon.svg`, data: { key1: 'value1', nested: { n: 2 } },
        buttons: [{ id: 'like', text: 'Like' }, { id: 'later', text: 'Later' }],
      };
      await demo.push(JSON.stringify(ours));
      const displayed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"n-ours"'));
      assertWebhook(displayed, cors, 'notification.displayed', expectedBody('notification.displayed', ours, userId));
      const shown = (await demo.notifications()).find((n) => n.data?.hookline?.id === 'n-ours');
      assert.equal(shown.title, 'Sale');
      assert.equal(shown.body, 'Half price today');
      assert.deepEqual(shown.actions, [{ action: 'like', title: 'Like' }, { action: 'later', title: 'Later' }]);

      // A body click: action "".
      await notificationEvent(demo, 'notificationclick', 'n-ours', '');
      const bodyClick = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('notification.clicked'));
      assertWebhook(bodyClick, cors, 'notification.clicked', expectedBody('notification.clicked', ours, userId, ''));
      // The webhook went out first; then the worker tried to open the url (a script-made click
      // has no user activation, so Chromium refuses the window: logged, not thrown).
      await demo.waitLog(/hookline: could not open the notification's url/);

      // OneSignal's minified format, and a click on its button.
      const oneSignal = {
        custom: { i: 'n-onesignal', u: `${site.url}/?opened=os`, a: { campaign: 'x' } },
        title: 'OS title', alert: 'OS alert', icon: `${site.url}/icon.svg`,
        o: [{ i: 'b1', n: 'Button one', p: `${site.url}/icon.svg` }],
      };
      const asOurs = {
        id: 'n-onesignal', heading: 'OS title', content: 'OS alert', url: `${site.url}/?opened=os`,
        icon: `${site.url}/icon.svg`, data: { campaign: 'x' },
      };
      await demo.push(JSON.stringify(oneSignal));
      const osDisplayed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"n-onesignal"'));
      assertWebhook(osDisplayed, cors, 'notification.displayed', expectedBody('notification.displayed', asOurs, userId));
      await notificationEvent(demo, 'notificationclick', 'n-onesignal', 'b1');
      const buttonClick = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"action":"b1"'));
      assertWebhook(buttonClick, cors, 'notification.clicked', expectedBody('notification.clicked', asOurs, userId, 'b1'));

      // A close, with only some fields: absent fields stay absent.
      const bare = { id: 'n-bare', content: 'Only content' };
      await demo.push(JSON.stringify(bare));
      await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"n-bare"'));
      await notificationEvent(demo, 'notificationclose', 'n-bare');
      const dismissed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('notification.dismissed'));
      assertWebhook(dismissed, cors, 'notification.dismissed', expectedBody('notification.dismissed', bare, userId));

      assertPreflights(rx.requests, cors);
      const posts = rx.requests.filter((r) => r.method === 'POST');
      assert.equal(posts.length, 6, JSON.stringify(posts.map((p) => p.body)));
      assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
    } finally {
      await demo.context.close();
      await rx.close();
    }
  });
}

test('bad input shows a notification, sends nothing, throws nothing and logs why', async () => {
  const rx = await startReceiver();
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/`);
  try {
    await demo.init();
    const count = async () => (await demo.notifications()).length;

    await demo.push('this is not json');
    await demo.waitLog(/hookline: showing a generic notification: push payload is not a JSON object/);
    await demo.push('{"heading": 42}');
    await demo.waitLog(/hookline: showing a generic notification: push payload has a field that should be a string/);
    // A push without data (script-made: DevTools always sends data).
    await demo.worker().evaluate(() => self.dispatchEvent(new PushEvent('push')));
    await demo.waitLog(/hookline: showing a generic notification: push has no data/);
    await sleep(300);
    assert.equal(await count(), 3);
    for (const n of await demo.notifications()) assert.equal(n.title, new URL(site.url).host);

    // A notification shown by other code (no hookline data): a click sends nothing.
    await demo.worker().evaluate(async () => {
      await self.registration.showNotification('not ours', { data: { mine: true } });
      const n = (await self.registration.getNotifications()).find((n) => n.title === 'not ours');
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n, action: '' }));
    });
    await demo.waitLog(/hookline: notification has no hookline data/);

    // A config written by an older version: the notification shows, no webhook, a reason.
    await demo.page.evaluate(() => new Promise((resolve, reject) => {
      const open = indexedDB.open('hookline', 1);
      open.onsuccess = () => {
        const tx = open.result.transaction('kv', 'readwrite');
        tx.objectStore('kv').put({ appId: 'old', userId: 'kept-user', hooks: 'x' }, 'config');
        tx.oncomplete = () => { open.result.close(); resolve(); };
        tx.onerror = () => reject(tx.error);
      };
      open.onerror = () => reject(open.error);
    }));
    await demo.push(JSON.stringify({ id: 'n-old-config', heading: 'still shown' }));
    await demo.waitLog(/hookline: saved config was written by another version of hookline/);
    assert.ok((await demo.notifications()).some((n) => n.title === 'still shown'));
    // init again: the older config's userId is kept.
    const status = await demo.init();
    assert.match(status, /userId kept-user$/);

    await sleep(500);
    assert.deepEqual(rx.requests, [], 'no webhook for bad input');
    assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
    assert.ok(!demo.logs.some((l) => /Uncaught/.test(l.text)), JSON.stringify(demo.logs));
  } finally {
    await demo.context.close();
    await rx.close();
  }
});

/**
 * Polls the shown notifications until `done(all)` holds, at most every 300 ms: Chromium leaves
 * some out of `getNotifications()` when asked faster.
 */
async function waitNotifications(demo, done, timeout = 15000) {
  const deadline = Date.now() + timeout;
  let all = [];
  while (Date.now() < deadline) {
    all = await demo.notifications();
    if (done(all)) return all;
    await sleep(300);
  }
  throw new Error(`not the notifications expected; got ${JSON.stringify(all).slice(0, 1000)}`);
}

// What hookline keeps on a notification is at most the sum of its field bounds (README: id 256
// bytes, heading 2 KB, content, url and icon 4 KB each, data 8 KB as JSON) and its key.
const KEPT_BOUND = 24 * 1024;
const MiB = 1024 * 1024;

test('hostile pushes: past the bounds a push still shows a notification, keeps little, and its webhooks fire', async () => {
  const rx = await startReceiver();
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/`);
  try {
    const status = await demo.init();
    const userId = /userId (\S+)/.exec(status)[1];
    const host = new URL(site.url).host;

    // Past Chromium's 1 MiB for notification data, and past the payload's bound: not read at all,
    // a generic notification instead, and no webhook (there is nothing to report it with).
    // One at a time, each until its notification shows: a busy machine takes a while to hand a
    // push of megabytes to the worker.
    await demo.push(JSON.stringify({ id: 'n-big-data', heading: 'Big data', data: { blob: 'x'.repeat(2 * MiB) } }));
    await waitNotifications(demo, (all) => all.length >= 1, 45000);
    await demo.push(JSON.stringify({ id: 'n-big-text', heading: 'Big text', content: 'y'.repeat(3 * MiB) }));
    const generic = await waitNotifications(demo, (all) => all.length >= 2, 45000);
    await demo.waitLog(/hookline: showing a generic notification: push payload is over/);
    for (const n of generic) {
      assert.equal(n.title, host);
      assert.ok(JSON.stringify(n.data ?? null).length < KEPT_BOUND, 'nothing large is kept');
    }

    // Within the payload's bound, fields past theirs: a heading and a content cut at a character
    // (`é` is 2 bytes), a url, a button id and data dropped. What is left is shown and reported.
    const hostile = (id) => ({
      id, heading: 'H'.repeat(3000), content: 'é'.repeat(3000),
      url: `${site.url}/?pad=${'u'.repeat(5000)}`, icon: `${site.url}/icon.svg`,
      data: { pad: 'z'.repeat(20000) },
      buttons: [{ id: 'ok', text: 'OK' }, { id: 'b'.repeat(300), text: 'Dropped' }],
    });
    const bounded = (id) => ({ id, heading: 'H'.repeat(2048), content: 'é'.repeat(2048), icon: `${site.url}/icon.svg` });
    await demo.push(JSON.stringify(hostile('n-bounded')));
    const displayed = await rx.waitFor((r) => r.body.includes('"n-bounded"'));
    assertWebhook(displayed, false, 'notification.displayed', expectedBody('notification.displayed', bounded('n-bounded'), userId));
    await demo.waitLog(/hookline: push payload field over its bound, cut: heading/);
    await demo.waitLog(/hookline: push payload field over its bound, dropped: data/);
    const [shown] = (await waitNotifications(demo, (all) => all.some((n) => n.data?.hookline), 45000))
      .filter((n) => n.data?.hookline);
    assert.equal(shown.title, 'H'.repeat(2048));
    assert.deepEqual(shown.actions, [{ action: 'ok', title: 'OK' }]);
    const kept = JSON.stringify(shown.data.hookline).length;
    assert.ok(kept < KEPT_BOUND, `kept ${kept} characters`);

    await notificationEvent(demo, 'notificationclick', 'n-bounded', 'ok');
    const clicked = await rx.waitFor((r) => r.body.includes('notification.clicked'));
    assertWebhook(clicked, false, 'notification.clicked', expectedBody('notification.clicked', bounded('n-bounded'), userId, 'ok'));
    await demo.push(JSON.stringify(hostile('n-bounded-2')));
    await rx.waitFor((r) => r.body.includes('"n-bounded-2"'));
    await notificationEvent(demo, 'notificationclose', 'n-bounded-2');
    const dismissed = await rx.waitFor((r) => r.body.includes('notification.dismissed'));
    assertWebhook(dismissed, false, 'notification.dismissed', expectedBody('notification.dismissed', bounded('n-bounded-2'), userId));

    await sleep(300);
    assert.equal(rx.requests.length, 4, JSON.stringify(rx.requests.map((r) => r.body.slice(0, 80))));
    assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
  } finally {
    await demo.context.close();
    await rx.close();
  }
});

test('a notification showNotification refuses is replaced by a generic one, and says why', async () => {
  const rx = await startReceiver();
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/`);
  try {
    await demo.init();
    // As Chromium refuses notification data past its limit, for any notification with data.
    await demo.worker().evaluate(() => {
      const proto = ServiceWorkerRegistration.prototype;
      const show = proto.showNotification;
      proto.showNotification = function (title, options) {
        if (options && options.data) {
          return Promise.reject(new TypeError('The notification data exceeds the maximum allowed size.'));
        }
        return show.call(this, title, options);
      };
    });
    await demo.push(JSON.stringify({ id: 'n-refused', heading: 'refused' }));
    const shown = await waitNotifications(demo, (all) => all.length === 1);
    await demo.waitLog(/hookline: could not show the notification, showing a generic one/);
    assert.equal(shown[0].title, new URL(site.url).host);
    // The generic notification carries no hookline data: no webhook reports it.
    await sleep(500);
    assert.deepEqual(rx.requests, []);
    assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
  } finally {
    await demo.context.close();
    await rx.close();
  }
});

test('init validates in the worker, names the field, saves nothing when refused; userId is kept', async () => {
  const rx = await startReceiver();
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/`);
  try {
    const first = await demo.init();
    const userId = /userId (\S+)/.exec(first)[1];
    const result = await demo.page.evaluate(async (hooks) => {
      const sw = '/dist/hookline-sw.js';
      const tryInit = (options) => Hookline.init({ serviceWorkerPath: sw, ...options })
        .then((r) => ({ ok: r.userId }), (e) => ({ field: e.field, message: e.message }));
      const saved = () => new Promise((resolve) => {
        const open = indexedDB.open('hookline', 1);
        open.onsuccess = () => {
          const get = open.result.transaction('kv').objectStore('kv').get('config');
          get.onsuccess = () => { open.result.close(); resolve(get.result); };
        };
      });
      const before = await saved();
      const refused = [
        await tryInit({ appId: 'a', webhooks: { 'notification.opened': hooks } }),
        await tryInit({ appId: 'a', webhooks: { 'notification.clicked': 'http://example.com/hook' } }),
        await tryInit({ appId: 'a', webhooks: { 'notification.clicked': 'https://' } }),
        await tryInit({ appId: 'a', webhooks: { cors: 'yes' } }),
        await tryInit({ appId: 'a', webhooks: { 'notification.displayed': 5 } }),
        await tryInit({ webhooks: {} }),
      ];
      const unchanged = JSON.stringify(await saved()) === JSON.stringify(before);
      const accepted = [
        await tryInit({ appId: 'b', webhooks: { 'notification.clicked': 'http://localhost:9/h', 'notification.displayed': 'http://[::1]:9/h', 'notification.dismissed': 'https://example.com/h' } }),
        await tryInit({ appId: 'b', userId: 'site-user' }),
      ];
      // The queued form, as a site writes it before hookline.js has loaded.
      await new Promise((resolve) => {
        Hookline.push(['init', { appId: 'queued', serviceWorkerPath: sw }]);
        setTimeout(resolve, 500);
      });
      return { refused, unchanged, accepted, after: await saved() };
    }, `${rx.url}/x`);
    assert.deepEqual(result.refused.map((r) => r.field), [
      'webhooks.notification.opened', 'webhooks.notification.clicked', 'webhooks.notification.clicked',
      'webhooks.cors', 'webhooks.notification.displayed', 'appId',
    ]);
    for (const r of result.refused) assert.match(r.message, new RegExp(`^hookline: ${r.field.replace(/\./g, '\\.')} `));
    assert.ok(result.unchanged, 'a refused init saves nothing');
    assert.deepEqual(result.accepted, [{ ok: userId }, { ok: 'site-user' }]);
    assert.deepEqual(result.after, { v: 1, appId: 'queued', userId: 'site-user', cors: false, webhooks: {} });
  } finally {
    await demo.context.close();
    await rx.close();
  }
});

test('a webhook that fails on the network is kept and sent on a later event', async () => {
  const probe = await startReceiver();
  const port = probe.port;
  await probe.close(); // nothing listens there now: the first webhook fails on the network
  const demo = await openDemo(browser, site, `?hooks=http://127.0.0.1:${port}/`);
  let rx;
  try {
    const status = await demo.init();
    const userId = /userId (\S+)/.exec(status)[1];
    const first = { id: 'n-lost', heading: 'first' };
    await demo.push(JSON.stringify(first));
    await demo.waitLog(/hookline: webhook failed, kept to send again/);
    assert.ok((await demo.notifications()).some((n) => n.title === 'first'), 'shown despite the failure');
    const queued = await demo.page.evaluate(() => new Promise((resolve) => {
      const open = indexedDB.open('hookline', 1);
      open.onsuccess = () => {
        const get = open.result.transaction('queue').objectStore('queue').getAll();
        get.onsuccess = () => { open.result.close(); resolve(get.result); };
      };
    }));
    assert.equal(queued.length, 1);
    assert.equal(queued[0].event, 'notification.displayed');
    assert.equal(queued[0].body, expectedBody('notification.displayed', first, userId));

    rx = await startReceiver({ port });
    const second = { id: 'n-next', heading: 'second' };
    await demo.push(JSON.stringify(second));
    const resent = await rx.waitFor((r) => r.body.includes('"n-lost"'), 10000, 'the kept webhook');
    assertWebhook(resent, false, 'notification.displayed', expectedBody('notification.displayed', first, userId));
    await rx.waitFor((r) => r.body.includes('"n-next"'));
    await sleep(300);
    assert.equal(rx.requests.filter((r) => r.body.includes('"n-lost"')).length, 1, 'sent again exactly once');
  } finally {
    await demo.context.close();
    await rx?.close();
  }
});

test("importScripts adds hookline to a site's own worker, whose own listeners keep working", async () => {
  const siteWorker = `
    self.addEventListener('message', (e) => { if (e.data === 'ping') e.source.postMessage('pong from the site'); });
    self.HOOKLINE_WASM_URL = '/dist/hookline-sw.wasm';
    importScripts('/dist/hookline-sw.js');
  `;
  const own = await startSite({ extra: { '/site-sw.js': siteWorker } });
  const rx = await startReceiver();
  const demo = await openDemo(browser, own);
  try {
    const result = await demo.page.evaluate(async (hook) => {
      const { userId } = await Hookline.init({
        appId: 'site', serviceWorkerPath: '/site-sw.js', webhooks: { 'notification.displayed': hook },
      });
      const registration = await navigator.serviceWorker.getRegistration('/');
      const pong = await new Promise((resolve) => {
        navigator.serviceWorker.addEventListener('message', (e) => resolve(e.data), { once: true });
        registration.active.postMessage('ping');
      });
      return { userId, pong, scope: registration.scope };
    }, `${rx.url}/notification.displayed`);
    assert.equal(result.pong, 'pong from the site');
    assert.equal(result.scope, `${own.url}/`);
    const n = { id: 'n-imported', heading: 'From the site worker' };
    await demo.push(JSON.stringify(n));
    const displayed = await rx.waitFor((r) => r.body.includes('"n-imported"'));
    assertWebhook(displayed, false, 'notification.displayed', expectedBody('notification.displayed', n, result.userId));
    const shown = await demo.page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration('/');
      return (await r.getNotifications()).map((x) => x.title);
    });
    assert.deepEqual(shown, ['From the site worker']);
  } finally {
    await demo.context.close();
    await rx.close();
    await own.close();
  }
});

test('the demo as a user runs it: its own receiver, a demo notification, the log panel', async () => {
  const demoSite = await startSite({ hooks: true });
  const demo = await openDemo(browser, demoSite);
  try {
    // The form's defaults point at the demo server's own receiver.
    assert.equal(await demo.page.inputValue('input[name="notification.clicked"]'), `${demoSite.url}/hooks/notification.clicked`);
    assert.match(await demo.init(), /^saved; userId /);
    await demo.page.click('#demo-push');
    await demo.page.waitForFunction(() => document.querySelector('#push-status').textContent === 'shown');
    await demo.page.waitForFunction(() => document.querySelectorAll('#log li').length === 1, null, { timeout: 5000 });
    const entry = await demo.page.textContent('#log li');
    assert.match(entry, /POST \/hooks\/notification\.displayed/);
    assert.match(entry, /content-type: text\/plain;charset=UTF-8 {3}x-onesignal-event: -/);
    assert.match(entry, /"event":"notification\.displayed","id":"demo-[^"]+","userId":"[^"]+","heading":"Hello from hookline"/);
    assert.equal(demoSite.log.length, 1);
    assert.deepEqual((await demo.notifications()).map((n) => n.actions.map((a) => a.action)), [['like', 'later']]);
  } finally {
    await demo.context.close();
    await demoSite.close();
  }
});

test('a worker whose wasm cannot load still shows a notification for a push, and says why', async () => {
  const broken = await startSite({
    extra: { '/broken-sw.js': "self.HOOKLINE_WASM_URL = '/no-such.wasm'; importScripts('/dist/hookline-sw.js');" },
  });
  const demo = await openDemo(browser, broken);
  try {
    await demo.page.evaluate(async () => {
      await navigator.serviceWorker.register('/broken-sw.js');
      await navigator.serviceWorker.ready;
    });
    await demo.push(JSON.stringify({ id: 'n-x', heading: 'lost' }));
    await demo.waitLog(/hookline: module failed to load or run:/);
    const titles = await demo.page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration('/');
      for (let i = 0; i < 50; i++) {
        const shown = await r.getNotifications();
        if (shown.length) return shown.map((n) => n.title);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return [];
    });
    assert.deepEqual(titles, [new URL(broken.url).host]);
    assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
  } finally {
    await demo.context.close();
    await broken.close();
  }
});
