// Both halves together, through the pieces a user runs with scripts/run.sh: the real `hookline
// serve` binary serving the demo site (www/ + the built dist/), the real scripts/demo.mjs
// (provisions the demo app and its `message.push.*` event webhook, writes demo-config.json, runs
// the receiver), and the demo page in headless Chromium. A notification shown by the page's
// button and one from a real push (DevTools), a body click, a button click and a close go from the
// service worker to the server's bridge, become events, and the event webhook delivers them to
// demo.mjs's receiver: checked there (exact body), on the page (section 4, the delivery logs) and
// in the webhook's stats. For `cors: false` and `cors: true` (the form's checkbox).
// Needs the package built (scripts/build-package.sh) and the binary (`cargo build -p
// hookline-server`; HOOKLINE_BIN or CARGO_TARGET_DIR say where it is).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openDemo } from './chromium.mjs';
import { sleep } from './expect.mjs';
import { startHookline, startDemoScript, api } from './hookline-server.mjs';

const EVENTS = ['notification.displayed', 'notification.clicked', 'notification.dismissed'];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

let server;
let demoScript;
let browser;
before(async () => {
  server = await startHookline();
  demoScript = await startDemoScript(server);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await demoScript?.close();
  await server?.close();
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

/** The webhook's stats, once its all-time 2xx count is `n` (the attempts are recorded after the
 * receiver has answered, so this waits a little). */
async function statsWith2xx(n, timeout = 10000) {
  const { appId, webhookId, apiKey } = demoScript.config;
  const deadline = Date.now() + timeout;
  for (;;) {
    const stats = await api(server, 'GET', `/v1/apps/${appId}/webhooks/${webhookId}/stats`, apiKey);
    if (stats.all_time.counts['2xx'] === n && stats.deliveries.succeeded === n) return stats;
    if (Date.now() > deadline) {
      throw new Error(`stats never counted ${n} 2xx: ${JSON.stringify({ all_time: stats.all_time, deliveries: stats.deliveries })}`);
    }
    await sleep(100);
  }
}

for (const cors of [false, true]) {
  test(`cors ${cors}: the demo page's notifications reach the event webhook's receiver through the bridge`, async () => {
    const { appId, bridge } = demoScript.config;
    const demo = await openDemo(browser, server);
    const { page } = demo;
    // What the browser sent to the bridge (service-worker requests included).
    const toBridge = [];
    demo.context.on('request', (r) => {
      if (r.url() === bridge) toBridge.push(r);
    });
    try {
      // The page found demo-config.json: every webhook field is the bridge, the appId is the app's.
      await page.waitForFunction(({ events, bridge }) => {
        const form = document.querySelector('#init-form');
        return events.every((e) => form.elements[e].value === bridge);
      }, { events: EVENTS, bridge }, { timeout: 10000 });
      assert.equal(await page.inputValue('input[name="appId"]'), appId);
      assert.equal(await page.isVisible('#server-section'), true);
      if (cors) await page.check('input[name="cors"]');
      const status = await demo.init();
      const userId = /^saved; userId (\S+)$/.exec(status)?.[1];
      assert.ok(userId, status);

      // Tests run one at a time: what demo.mjs's receiver gets from now on comes from this page.
      const before = demoScript.requests.length;
      let checked = 0;
      /**
       * Waits for the next request at demo.mjs's receiver and checks it exactly: `POST
       * /events/<kind>`, a webhook-id, and the body the demo webhook's templates render.
       */
      async function nextDelivery(kind, notification, title, action, since) {
        const r = await demoScript.waitUntil(() => demoScript.requests[before + checked], 15000,
          `${kind} for ${notification}`);
        checked += 1;
        assert.equal(r.method, 'POST', r.line);
        assert.equal(r.url, `/events/${kind}`, r.line);
        assert.match(r.webhookId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, r.line);
        let at;
        assert.doesNotThrow(() => ({ at } = JSON.parse(r.body)), `a JSON body: ${r.line}`);
        assert.match(at, ISO, r.line);
        const t = Date.parse(at);
        assert.ok(t >= since - 2000 && t <= Date.now() + 2000, `at ${at} is not now: ${r.line}`);
        assert.equal(r.body, JSON.stringify({ kind, notification, user: userId, title, action, at }));
        return r;
      }
      /** Section 4 of the page lists the delivery, from the webhook's logs. */
      async function listedOnPage(r) {
        const head = `POST http://127.0.0.1:${demoScript.receiverPort}${r.url}  →  200 in `;
        await page.waitForFunction(({ head, body }) => [...document.querySelectorAll('#server-log li')]
          .some((li) => li.textContent.includes(head) && li.textContent.endsWith('\n' + body)),
        { head, body: r.body }, { timeout: 10000 }).catch(async (e) => {
          throw new Error(`#server-log does not list ${head}${r.body}: ${e.message}\n` +
            `it shows: ${await page.textContent('#server-log')}`);
        });
      }

      // 1. The page's "Show demo notification" (Hookline.demoPush: the worker's push handler).
      const payload = JSON.parse(await page.inputValue('#payload'));
      let since = Date.now();
      await page.click('#demo-push');
      await page.waitForFunction(() => document.querySelector('#push-status').textContent === 'shown',
        null, { timeout: 10000 });
      const displayed = await nextDelivery('message.push.displayed', payload.id, payload.heading, '', since);
      await listedOnPage(displayed);
      await statsWith2xx(before + 1);

      // 2. Real pushes, through DevTools.
      const pushed = (name) => ({
        id: `n-${name}-cors-${cors}`, heading: `Real push ${name}, cors ${cors}`, content: 'Through the bridge',
        url: `${server.url}/?opened=${name}`, buttons: [{ id: 'yes', text: 'Yes' }],
      });
      const toClick = pushed('click');
      const toClose = pushed('close');
      for (const n of [toClick, toClose]) {
        since = Date.now();
        await demo.push(JSON.stringify(n));
        await listedOnPage(await nextDelivery('message.push.displayed', n.id, n.heading, '', since));
      }
      const shown = await demo.notifications();
      assert.deepEqual(shown.map((n) => n.title).sort(), [payload.heading, toClick.heading, toClose.heading].sort());

      // 3. A click on the demo notification's "Like" button, a body click, a close (a click closes
      // its notification, so each on its own).
      since = Date.now();
      await notificationEvent(demo, 'notificationclick', payload.id, 'like');
      await listedOnPage(await nextDelivery('message.push.clicked', payload.id, payload.heading, 'like', since));
      await notificationEvent(demo, 'notificationclick', toClick.id, '');
      await listedOnPage(await nextDelivery('message.push.clicked', toClick.id, toClick.heading, '', since));
      await notificationEvent(demo, 'notificationclose', toClose.id);
      await listedOnPage(await nextDelivery('message.push.dismissed', toClose.id, toClose.heading, '', since));

      // Exactly these six, each once (distinct deliveries), and nothing else arrived meanwhile.
      await sleep(500);
      const got = demoScript.requests.slice(before);
      assert.deepEqual(got.map((r) => r.url), [
        '/events/message.push.displayed', '/events/message.push.displayed', '/events/message.push.displayed',
        '/events/message.push.clicked', '/events/message.push.clicked', '/events/message.push.dismissed',
      ], got.map((r) => r.line).join('\n'));
      assert.equal(new Set(got.map((r) => r.webhookId)).size, 6);
      const stats = await statsWith2xx(before + 6);
      for (const k of ['4xx', '5xx', 'timeout', 'network_error', 'render_error']) {
        assert.equal(stats.all_time.counts[k], 0, `${k}: ${JSON.stringify(stats.all_time)}`);
      }
      assert.deepEqual(stats.deliveries, { pending: 0, succeeded: before + 6, failed: 0, skipped: 0 });
      // The page charts the same stats: its totals line catches up, and this minute has a 2xx bar.
      await page.waitForFunction(
        (n) => document.querySelector('#server-totals').textContent.startsWith(`2xx ${n},`),
        before + 6, { timeout: 10000 });
      assert.ok(await page.$('#chart rect.k2xx'), 'the chart draws a 2xx bar');

      // The browser's side: one webhook per event, in the form `cors` asks for, each accepted.
      const posts = toBridge.filter((r) => r.method() === 'POST');
      assert.equal(posts.length, 6, posts.map((r) => r.postData()).join('\n'));
      for (const r of posts) {
        const headers = await r.allHeaders();
        const body = JSON.parse(r.postData());
        assert.equal(body.userId, userId);
        if (cors) {
          assert.equal(headers['content-type'], 'application/json');
          assert.equal(headers['x-onesignal-event'], body.event);
        } else {
          assert.equal(headers['content-type'], 'text/plain;charset=UTF-8');
          assert.equal(headers['x-onesignal-event'], undefined);
        }
        assert.equal((await r.response())?.status(), 202, `bridge answer to ${r.postData()}`);
      }
      assert.deepEqual(demo.logs.filter((l) => l.type === 'pageerror'), []);
    } catch (e) {
      const answer = (r) => Promise.race([r.response().then((res) => res?.status(), () => 'none'), sleep(2000)]);
      const sent = await Promise.all(toBridge.map(async (r) =>
        `${r.method()} ${r.postData()} → ${await answer(r)} ${r.failure()?.errorText ?? ''}`));
      e.message += `\nto the bridge:\n${sent.join('\n')}\nconsole: ${JSON.stringify(demo.logs)}` +
        `\n${demoScript.output()}\n${server.output()}`;
      throw e;
    } finally {
      await demo.context.close();
    }
  });
}
