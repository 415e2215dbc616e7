// End to end in headless Chromium: the www demo, real pushes through DevTools, real
// notifications, clicks and closes, and the webhooks as a receiver on loopback sees them.
// Run: node --test tests/e2e/ (after scripts/build-package.sh).
import { test, before, after } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
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
    await demo.waitLog(/hookline: webhook kept to send again/);
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
    await sleep(1100); // a kept webhook is due again a second after it failed
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

test('a worker whose wasm cannot load still shows a notification for a push, says why, and a click still opens its url', async () => {
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
    // A notification hookline showed earlier (when its module loaded) is clicked: its url opens.
    const url = `${broken.url}/?opened=broken`;
    const opened = await clickRecordingOpens(demo.worker(), { id: 'n-earlier', url }, 1000);
    assert.deepEqual(opened, [url]);
    await demo.waitLog(/hookline: could not open the notification's url/);
    assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
  } finally {
    await demo.context.close();
    await broken.close();
  }
});

/**
 * In the worker: records the URLs `clients.openWindow` is called with (and still calls it), shows
 * a notification carrying hookline's copy `kept` unless one with its id is shown, dispatches a
 * click on it and gives the URLs opened within `ms`. A script-made click has no user activation,
 * so Chromium then refuses the window (the worker logs it): what is checked is that and when the
 * worker asks for it.
 */
function clickRecordingOpens(worker, kept, ms, action = '') {
  return worker.evaluate(async ({ kept, ms, action }) => {
    const calls = [];
    const proto = Clients.prototype;
    const open = proto.openWindow;
    proto.openWindow = function (url) { calls.push(url); return open.call(this, url); };
    const find = async () => (await self.registration.getNotifications()).find((x) => x.data?.hookline?.id === kept.id);
    if (!await find()) await self.registration.showNotification('earlier', { data: { hookline: { ...kept, key: 'k' } } });
    self.dispatchEvent(new NotificationEvent('notificationclick', { notification: await find(), action }));
    await new Promise((r) => setTimeout(r, ms));
    return calls;
  }, { kept, ms, action });
}

test('a click on a stopped worker opens its url at once, while the module is still loading', async () => {
  const slow = await startSite({ wasmDelay: 3000 });
  const rx = await startReceiver();
  const demo = await openDemo(browser, slow, `?hooks=${rx.url}/`);
  try {
    const status = await demo.init();
    const userId = /userId (\S+)/.exec(status)[1];
    const n = { id: 'n-cold', heading: 'cold', url: `${slow.url}/?opened=cold` };
    await demo.push(JSON.stringify(n));
    await rx.waitFor((r) => r.body.includes('"n-cold"'));
    const running = () => [...demo.versions.values()].filter((v) => v.runningStatus === 'running');
    const [version] = running();
    await demo.worker().evaluate(() => { self.warm = true; });
    await demo.cdp.send('ServiceWorker.stopWorker', { versionId: version.versionId });
    await until('the worker stopped', () => running().length === 0);
    // Started again, the worker evaluates its script and starts loading its module, 3 s away.
    await demo.cdp.send('ServiceWorker.startWorker', { scopeURL: `${slow.url}/dist/` });
    await until('the worker started', () => running().length === 1);
    assert.equal(await demo.worker().evaluate(() => self.warm), undefined, 'a new instance of the worker');
    const opened = await clickRecordingOpens(demo.worker(), n, 1000);
    assert.deepEqual(opened, [n.url], 'the url is asked for within a second, before the module loads');
    // The click's webhook follows once the module has loaded.
    const clicked = await rx.waitFor((r) => r.body.includes('notification.clicked'), 15000);
    assertWebhook(clicked, false, 'notification.clicked', expectedBody('notification.clicked', n, userId, ''));
  } finally {
    await demo.context.close();
    await rx.close();
    await slow.close();
  }
});

/** The retry queue's entries, read from the page (the worker's origin). */
function queued(demo) {
  return demo.page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('hookline', 1);
    open.onsuccess = () => {
      const get = open.result.transaction('queue').objectStore('queue').getAll();
      get.onsuccess = () => { open.result.close(); resolve(get.result); };
      get.onerror = () => reject(get.error);
    };
    open.onerror = () => reject(open.error);
  }));
}

async function until(what, fn, timeout = 10000, every = 200) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(every);
  }
}

test('retry queue: one failure is one try, a try is counted before it is made, requests time out, and a receiver that never answers holds up no other', async () => {
  const hang = await startReceiver({ hang: true });
  const probe = await startReceiver();
  const port = probe.port;
  await probe.close(); // nothing listens there for now: the click's webhook fails on the network
  const demo = await openDemo(browser, site);
  let rx;
  try {
    const userId = await demo.page.evaluate((webhooks) => Hookline.init({
      appId: 'queue', serviceWorkerPath: '/dist/hookline-sw.js', webhooks,
    }).then((r) => r.userId), {
      'notification.displayed': `${hang.url}/notification.displayed`,
      'notification.clicked': `http://127.0.0.1:${port}/notification.clicked`,
    });
    const n = { id: 'n-hang', heading: 'hanging receiver' };
    await demo.push(JSON.stringify(n));
    await hang.waitFor((r) => r.body.includes('"n-hang"'));
    await notificationEvent(demo, 'notificationclick', 'n-hang', '');
    await until('the click kept', async () => (await queued(demo)).some((e) => e.event === 'notification.clicked'));
    await sleep(500);
    // The flush that ran with the click did not send the entry it had just stored again.
    const afterClick = await queued(demo);
    assert.deepEqual(afterClick.map((e) => [e.event, e.tries]), [['notification.clicked', 1]], 'one failure is one try');

    // The hanging request ends at its timeout (10 s) and is kept.
    const timedOut = await until('the hanging webhook kept after its timeout',
      async () => (await queued(demo)).find((e) => e.event === 'notification.displayed'), 15000, 500);
    assert.equal(timedOut.tries, 1);
    assert.equal(timedOut.body, expectedBody('notification.displayed', n, userId));

    // The click's receiver comes up; the next event sends both kept webhooks side by side: the
    // one to the hanging receiver hangs again, and holds up neither the click's nor the push's.
    rx = await startReceiver({ port });
    await sleep(1100); // due again a second after they failed
    const started = Date.now();
    await demo.push(JSON.stringify({ id: 'n-next', heading: 'next' }));
    const clicked = await rx.waitFor((r) => r.body.includes('notification.clicked'), 5000, 'the kept click');
    assert.ok(clicked.t - started < 5000);
    assertWebhook(clicked, false, 'notification.clicked', expectedBody('notification.clicked', n, userId, ''));
    await hang.waitFor((r) => r.body.includes('"n-next"'));
    await until('the kept webhook sent to the hanging receiver again',
      () => hang.requests.filter((r) => r.body.includes('"n-hang"')).length === 2);
    // The receiver has the click; the worker drops it from the queue once the answer is in.
    await until('the delivered click dropped from the queue',
      async () => !(await queued(demo)).some((e) => e.event === 'notification.clicked'));
    // Its try was counted before the request started: stopping the worker now loses no count.
    await demo.cdp.send('ServiceWorker.stopAllWorkers');
    const left = await queued(demo);
    assert.deepEqual(left.map((e) => [e.event, e.tries]), [['notification.displayed', 2]]);
    assert.equal(rx.requests.filter((r) => r.body.includes('notification.clicked')).length, 1);
  } finally {
    await demo.context.close();
    await rx?.close();
    await hang.close();
  }
});

test('cors true: a receiver that takes the POST but answers it without CORS headers gets each webhook once', async () => {
  const rx = await startReceiver({ postCors: false });
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/&cors=1`);
  try {
    const status = await demo.init();
    const userId = /userId (\S+)/.exec(status)[1];
    const first = { id: 'n-once', heading: 'once' };
    await demo.push(JSON.stringify(first));
    const displayed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"n-once"'));
    assertWebhook(displayed, true, 'notification.displayed', expectedBody('notification.displayed', first, userId));
    // Later events, past the retry delay: nothing is sent again.
    for (const id of ['n-two', 'n-three']) {
      await sleep(1200);
      await demo.push(JSON.stringify({ id, heading: id }));
      await rx.waitFor((r) => r.method === 'POST' && r.body.includes(`"${id}"`));
    }
    await sleep(1000);
    const posts = rx.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body).id);
    assert.deepEqual(posts.sort(), ['n-once', 'n-three', 'n-two']);
    assert.deepEqual(await queued(demo), []);
    assertPreflights(rx.requests, true);
    await demo.waitLog(/hookline: receiver answered without CORS headers.*not sent again/);
  } finally {
    await demo.context.close();
    await rx.close();
  }
});

/**
 * The package of a next build, made from `dist`: its wasm has one more (custom) section, so its
 * SHA-256 differs; its worker script carries that build id. `mismatched` pairs this build's script
 * with the next build's wasm, as a site half-way through an update (or an HTTP cache) serves them.
 */
function nextBuild(dist, dir, { mismatched = false } = {}) {
  fs.mkdirSync(dir, { recursive: true });
  const wasm = fs.readFileSync(path.join(dist, 'hookline-sw.wasm'));
  const name = Buffer.from('hookline-next-build');
  const payload = Buffer.from(String(Date.now()));
  const next = Buffer.concat([wasm, Buffer.from([0, 1 + name.length + payload.length, name.length]), name, payload]);
  const id = (b) => crypto.createHash('sha256').update(b).digest().subarray(0, 8).join('.');
  const script = fs.readFileSync(path.join(dist, 'hookline-sw.js'), 'utf8');
  assert.ok(script.includes(`"${id(wasm)}"`), 'the worker script carries its wasm build id');
  fs.writeFileSync(path.join(dir, 'hookline-sw.wasm'), next);
  fs.writeFileSync(path.join(dir, 'hookline-sw.js'), mismatched ? script : script.replace(`"${id(wasm)}"`, `"${id(next)}"`));
  for (const f of ['hookline.js', 'hookline.d.ts']) fs.copyFileSync(path.join(dist, f), path.join(dir, f));
}

test('an update: the old worker, still in control, runs its own wasm (offline too); the new one installs only with its own', async () => {
  const dist = path.resolve('dist');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-update-'));
  const served = path.join(tmp, 'served');
  fs.cpSync(dist, served, { recursive: true });
  const site = await startSite({ dist: served });
  const rx = await startReceiver();
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/`);
  try {
    await demo.init();
    const pushed = async (id) => {
      await demo.push(JSON.stringify({ id, heading: id }));
      await rx.waitFor((r) => r.body.includes(`"${id}"`), 10000, `the webhook of ${id}`);
      await waitNotifications(demo, (all) => all.some((n) => n.title === id));
    };
    await pushed('n-first');
    const stopAll = async () => {
      await demo.cdp.send('ServiceWorker.stopAllWorkers');
      await until('the workers stopped', () => ![...demo.versions.values()].some((v) => v.runningStatus !== 'stopped'));
    };

    // Offline: the wasm is gone from the server; a cold worker starts from its cache.
    fs.rmSync(path.join(served, 'hookline-sw.wasm'));
    await stopAll();
    await pushed('n-offline');

    // The site updates to the next build; the new worker installs and waits, the old one stays in
    // control of the page and, started cold, runs its own wasm from its cache.
    nextBuild(dist, served);
    const state = await demo.page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration('/dist/');
      await r.update();
      const w = r.installing || r.waiting;
      if (w && w.state !== 'installed') {
        await new Promise((resolve) => w.addEventListener('statechange', () => w.state !== 'installing' && resolve()));
      }
      return { waiting: !!r.waiting, controlled: !!navigator.serviceWorker.controller };
    });
    assert.deepEqual(state, { waiting: true, controlled: false });
    fs.rmSync(path.join(served, 'hookline-sw.wasm')); // the new worker kept its own at install
    await stopAll();
    await pushed('n-old-worker');

    // The new build takes over and runs (offline: from what it kept at install); the old build's
    // cache is gone.
    await demo.cdp.send('ServiceWorker.skipWaiting', { scopeURL: `${site.url}/dist/` });
    await until('the new worker active', () => demo.page.evaluate(async () => {
      const r = await navigator.serviceWorker.getRegistration('/dist/');
      return !r.waiting && r.active && r.active.state === 'activated';
    }));
    await pushed('n-new-worker');
    const caches = await demo.page.evaluate(() => self.caches.keys());
    assert.equal(caches.length, 1, JSON.stringify(caches));
  } finally {
    await demo.context.close();
    await rx.close();
    await site.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test("a worker script never runs another build's wasm: such an update does not install, and says why", async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-mismatch-'));
  nextBuild(path.resolve('dist'), tmp, { mismatched: true });
  const site = await startSite({ dist: tmp });
  const demo = await openDemo(browser, site);
  try {
    const state = await demo.page.evaluate(async () => {
      const r = await navigator.serviceWorker.register('/dist/hookline-sw.js', { scope: '/dist/' });
      const w = r.installing || r.waiting || r.active;
      for (let i = 0; i < 100 && !['redundant', 'activated'].includes(w.state); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return w.state;
    });
    assert.equal(state, 'redundant');
    await demo.waitLog(/hookline-sw\.wasm is from another build/);
  } finally {
    await demo.context.close();
    await site.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('after a trap the worker runs the next event on a fresh instance of its module', async () => {
  const rx = await startReceiver();
  const demo = await openDemo(browser, site, `?hooks=${rx.url}/`);
  try {
    await demo.init();
    await demo.push(JSON.stringify({ id: 'n-before', heading: 'before' }));
    await rx.waitFor((r) => r.body.includes('"n-before"'));
    // The next call the module makes to Date.now traps (a RuntimeError unwinding the module, as
    // an `unreachable` does); instances made from then on are counted.
    await demo.worker().evaluate(() => {
      const now = Date.now;
      Date.now = () => { Date.now = now; throw new WebAssembly.RuntimeError('unreachable'); };
      self.instancesMade = 0;
      const instantiate = WebAssembly.instantiate;
      WebAssembly.instantiate = function (...args) { self.instancesMade++; return instantiate.apply(this, args); };
    });
    await demo.push(JSON.stringify({ id: 'n-trap', heading: 'trap' }));
    await demo.waitLog(/hookline: module failed to load or run: RuntimeError/);
    await demo.push(JSON.stringify({ id: 'n-after', heading: 'after' }));
    await rx.waitFor((r) => r.body.includes('"n-after"'));
    assert.equal(await demo.worker().evaluate(() => self.instancesMade), 1);
  } finally {
    await demo.context.close();
    await rx.close();
  }
});

test('OneSignal v16 sites: notification.willDisplay, format v16, and a button that opens its own url', async () => {
  const rx = await startReceiver();
  const demo = await openDemo(browser, site);
  try {
    const userId = await demo.page.evaluate((webhooks) => Hookline.init({
      appId: 'v16', serviceWorkerPath: '/dist/hookline-sw.js', webhooks,
    }).then((r) => r.userId), {
      cors: true,
      format: 'v16',
      'notification.willDisplay': `${rx.url}/notification.willDisplay`,
      'notification.clicked': `${rx.url}/notification.clicked`,
    });
    const push = {
      custom: { i: 'os-v16', u: `${site.url}/?opened=v16`, a: { plan: 'pro' } },
      title: 'V16', alert: 'Body', icon: `${site.url}/icon.svg`,
      o: [{ i: 'b1', n: 'Open b1', u: `${site.url}/?opened=b1` }, { i: 'b2', n: 'No url' }],
    };
    const v16 = (event, extra) => JSON.stringify({
      event, notificationId: 'os-v16', heading: 'V16', content: 'Body', additionalData: { plan: 'pro' },
      url: push.custom.u, subscriptionId: userId, ...extra,
    });
    await demo.push(JSON.stringify(push));
    const displayed = await rx.waitFor((r) => r.method === 'POST' && r.body.includes('"os-v16"'));
    assert.equal(displayed.url, '/notification.willDisplay');
    assert.equal(displayed.headers['x-onesignal-event'], 'notification.willDisplay');
    assert.equal(displayed.headers['content-type'], 'application/json');
    assert.equal(displayed.body, v16('notification.willDisplay'));

    // A click on the button with a URL of its own opens that one, and the webhook says so.
    const opened = await clickRecordingOpens(demo.worker(), { id: 'os-v16' }, 500, 'b1');
    assert.deepEqual(opened, [`${site.url}/?opened=b1`]);
    const clicked = await rx.waitFor((r) => r.method === 'POST' && r.url === '/notification.clicked');
    assert.equal(clicked.headers['x-onesignal-event'], 'notification.clicked');
    assert.equal(clicked.body, v16('notification.clicked', { url: `${site.url}/?opened=b1`, actionId: 'b1' }));
    assertPreflights(rx.requests, true);
    assert.equal(rx.requests.filter((r) => r.method === 'POST').length, 2);
  } finally {
    await demo.context.close();
    await rx.close();
  }
});
