// The dashboard (served by the binary at /dashboard/, no --site) in headless Chromium, against the
// real `hookline serve` on 127.0.0.1 with a temporary database and a real receiver on loopback:
// sign-in (a wrong key, the admin key, an app created and its key shown once, the app key), the
// webhook form (searchable triggers, a secret header, a Liquid error at its field, the live cURL
// preview), a test send, real deliveries, the stats chart with its hover, the logs (masked
// secrets), deliveries, disable/enable, the browser snippet and sign-out; at 1440 px and at a
// phone's width, with no console error. Screenshots go to
// ${CARGO_TARGET_DIR:-target}/dashboard-screenshots/ (never into the repository).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { launch } from './chromium.mjs';
import { api, root, startHookline } from './hookline-server.mjs';

const shots = path.resolve(root, process.env.CARGO_TARGET_DIR || 'target', 'dashboard-screenshots');
let server;
let receiver;
let browser;
const received = [];

before(async () => {
  fs.mkdirSync(shots, { recursive: true });
  receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body });
      res.writeHead(req.url.includes('fail') ? 500 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ received: true }));
    });
  });
  await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
  // One quick retry: a delivery to the failing receiver fails permanently within the test.
  server = await startHookline({ site: false, env: { HOOKLINE_RETRY_SCHEDULE: '100ms', HOOKLINE_RETRY_JITTER: 'none' } });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
  await new Promise((r) => (receiver ? receiver.close(r) : r()));
});

/** A page at `width`, with every console error and page error collected. */
async function open(width, height) {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  return { context, page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

async function signIn(page, key) {
  await page.fill('#sign-in input[name=key]', key);
  await page.click('#sign-in button[type=submit]');
}

/**
 * Chromium logs every failed fetch ("Failed to load resource: … 401"): after a step that asks for
 * one on purpose, those (and only those) are dropped.
 */
function expectedFailures(errors, status) {
  const unexpected = errors.filter((e) => !e.includes(`status of ${status}`));
  assert.deepEqual(unexpected, [], 'no console errors');
  errors.length = 0;
}

async function noHorizontalScroll(page) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(scroll <= client + 1, `the page scrolls sideways: ${scroll} > ${client}`);
}

test('the dashboard, end to end, at 1440 px and at a phone width', { timeout: 150000 }, async () => {
  const { page, errors, context } = await open(1440, 1000);
  try {
    await walkThrough(page, errors);
  } catch (e) {
    await shot(page, 'failure').catch(() => {});
    throw new Error(`${e.stack}\n(the page at failure: ${path.join(shots, 'failure.png')})\n${server.output()}`, { cause: e });
  } finally {
    await context.close();
  }
});

async function walkThrough(page, errors) {
  const target = `http://127.0.0.1:${receiver.address().port}/hooks/{{ event.external_id }}`;
  await page.goto(`${server.url}/dashboard`);

  // Before sign-in: the form and nothing else.
  await page.waitForSelector('#sign-in');
  assert.equal(await page.locator('#nav a').count(), 0);
  await shot(page, '01-sign-in');

  // A wrong key: a clear message (the browser logs the 401 itself: not counted below).
  await signIn(page, 'hk_admin_wrong');
  await page.waitForSelector('#sign-in-error:not([hidden])');
  assert.match(await page.textContent('#sign-in-error'), /opens nothing/);
  expectedFailures(errors, 401);

  // The admin key: no apps yet; create one, its key shown once.
  await signIn(page, server.adminKey);
  await page.waitForSelector('.empty');
  assert.match(await page.textContent('main'), /No apps yet/);
  await page.fill('input[name=name]', 'shop');
  await page.click('form.card button[type=submit]');
  await page.waitForSelector('#new-key');
  const appKey = (await page.textContent('#new-key code')).trim();
  const appId = (await page.locator('#new-key code').nth(1).textContent()).trim();
  assert.match(appKey, /^hk_/);
  assert.match(appId, /^app_/);
  await shot(page, '02-apps');
  // The key lives in sessionStorage, never in the URL.
  assert.ok(!page.url().includes(server.adminKey));
  assert.ok((await page.evaluate(() => sessionStorage.getItem('hookline.session'))).includes(server.adminKey));

  // Sign out; sign in with the app key.
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('hookline.session')), null);
  await signIn(page, appKey);
  await page.waitForSelector('.empty a.button');
  assert.match(await page.textContent('main'), /No webhooks yet/);
  await page.click('.empty a.button');

  // The form: triggers searched and chosen with the keyboard, a custom pattern, a secret header.
  await page.waitForSelector('#hook-form');
  await page.waitForFunction(() => /Enter the URL/.test(document.querySelector('#curl').textContent));
  await page.fill('input[name=name]', 'to my CRM');
  await page.fill('input[name=url]', target);
  const search = page.locator('input[name=events-search]');
  await search.fill('push.click');
  await page.waitForSelector('.options li');
  await search.press('ArrowDown');
  await search.press('Enter');
  await search.fill('message.sms.*');
  await search.press('Enter');
  const chips = await page.locator('.picker .chip').allTextContents();
  assert.deepEqual(chips.map((c) => c.replace('×', '')), ['message.push.sent', 'message.push.clicked', 'message.sms.*']);
  await page.click('text=Add header');
  const header = page.locator('.header-rows .pair').last();
  await header.locator('input[aria-label="Header name"]').fill('X-Partner-Token');
  await header.locator('input[aria-label="Header value"]').fill('s3cret-partner-value');
  await header.locator('input[aria-label=Secret]').check();
  // The live preview follows the typing (debounced): the URL rendered for the sample event.
  await page.waitForFunction(() => document.querySelector('#curl').textContent.includes('/hooks/user-42'));
  assert.match(await page.textContent('#curl'), /X-Partner-Token: \*\*\*\*\*\*\*\*/);
  // A Liquid error shows at its field, with line and column, as the user types.
  const value = page.locator('.rows .pair.two input[aria-label="Body value (Liquid)"]').first();
  await value.fill('{{ event.id ');
  await page.waitForSelector('.pair.two .error:not([hidden])');
  assert.match(await page.textContent('.pair.two .error:not([hidden])'), /line 1, column 1/);
  assert.equal(await value.getAttribute('aria-invalid'), 'true');
  await shot(page, '03-form-error');
  await value.fill('{{ event.id }}');
  await page.waitForFunction(() => !document.querySelector('.pair.two .error:not([hidden])'));
  expectedFailures(errors, 400); // the preview refused the broken template
  // The sample event is editable: the preview renders the edited one.
  const sample = JSON.parse(await page.inputValue('textarea[name=sample-event]'));
  sample.external_id = 'edited-7';
  await page.fill('textarea[name=sample-event]', JSON.stringify(sample, null, 2));
  await page.waitForFunction(() => document.querySelector('#curl').textContent.includes('/hooks/edited-7'));
  // Body: pairs to custom JSON and back.
  await page.selectOption('select[name=body-mode]', 'custom');
  assert.match(await page.inputValue('textarea[name=body-custom]'), /"id": "\{\{ event.id \}\}"/);
  await page.selectOption('select[name=body-mode]', 'pairs');
  await shot(page, '04-form');
  // Every control of the form has a label (its own <label>, or aria-label for a row's cells).
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#hook-form input, #hook-form select, #hook-form textarea')]
    .filter((e) => !e.labels?.length && !e.getAttribute('aria-label')).map((e) => e.outerHTML));
  assert.deepEqual(unlabelled, [], 'inputs without a label');

  await page.click('#save');
  await page.waitForFunction(() => /\/w\/wh_[^/]+\/edit$/.test(location.hash));
  const hookId = page.url().match(/\/w\/(wh_[^/]+)\//)[1];
  const stored = await api(server, 'GET', `/v1/apps/${appId}/webhooks/${hookId}`, appKey);
  assert.deepEqual(stored.events, ['message.push.sent', 'message.push.clicked', 'message.sms.*']);
  assert.equal(stored.headers['X-Partner-Token'], '********');

  // Send test: the full request and the full response.
  await page.waitForSelector('#send-test:not([disabled])');
  await page.click('#send-test');
  await page.waitForSelector('#test-result .exchange');
  const result = await page.textContent('#test-result');
  assert.match(result, /Delivered/);
  assert.match(result, /Response: 200/);
  assert.match(result, /"received": true/);
  assert.ok(!result.includes('s3cret-partner-value'), 'the secret is masked');
  assert.equal(received.at(-1).headers['x-partner-token'], 's3cret-partner-value');
  await shot(page, '05-test-send');

  // Real traffic: three events delivered; their attempts show in the stats and the logs.
  const before = received.length;
  for (let i = 0; i < 3; i++) {
    await api(server, 'POST', `/v1/apps/${appId}/events`, appKey, {
      id: `7a1b2c3d-0000-4000-8000-00000000000${i}`, kind: 'message.push.clicked',
      external_id: `user-${i}`, timestamp: 1708559416, message: { title: 'Hello' },
    });
  }
  for (let t = 0; received.length < before + 3; t++) {
    assert.ok(t < 200, 'the deliveries did not arrive');
    await new Promise((r) => setTimeout(r, 50));
  }

  await page.click('.tabs a:text("Stats")');
  await page.waitForSelector('#chart svg');
  assert.equal(await page.textContent('.stats .stat .n'), '3', 'all-time attempts');
  assert.ok(await page.locator('#chart svg rect[fill="var(--ok)"]').count() >= 1, 'a 2xx bar');
  await page.locator('#chart svg rect[fill=transparent]').hover({ position: { x: 1000, y: 50 } });
  await page.waitForSelector('.tip:not([hidden])');
  assert.match(await page.textContent('.tip'), /2xx: \d+/);
  // The same values from the keyboard: focus the chart, step with the arrow keys.
  await page.mouse.move(0, 0);
  await page.waitForSelector('.tip', { state: 'hidden' });
  await page.focus('#chart svg rect[fill=transparent]');
  await page.keyboard.press('ArrowLeft');
  await page.waitForSelector('.tip:not([hidden])');
  assert.match(await page.textContent('.tip'), /latency p50/);
  // The range picker redraws the chart.
  await page.selectOption('select[name=range]', '24h');
  await page.waitForSelector('#chart svg');
  await page.selectOption('select[name=range]', '1h');
  await page.waitForSelector('#chart svg');
  await shot(page, '06-stats');

  await page.click('.tabs a:text("Logs")');
  await page.waitForSelector('#logs .log');
  assert.equal(await page.locator('#logs .log').count(), 3);
  assert.equal(await page.isVisible('text=Load more'), false, 'fewer than a page: nothing more to load');
  await page.locator('#logs .log summary').first().click();
  const log = await page.textContent('#logs .log details[open]');
  assert.match(log, /X-Partner-Token: \*\*\*\*\*\*\*\*/);
  assert.match(log, /Response: 200/);
  assert.ok(!log.includes('s3cret-partner-value'));
  await page.selectOption('select[name=outcome]', '5xx');
  assert.equal(await page.locator('#logs .log').count(), 0);
  await page.selectOption('select[name=outcome]', '');
  await shot(page, '07-logs');

  await page.click('.tabs a:text("Deliveries")');
  await page.waitForSelector('.empty, #deliveries');
  assert.match(await page.textContent('main'), /No failed deliveries/);

  // Disable (the reason shown), then enable again.
  await page.click('.hook-head button:text("Disable")');
  await page.waitForSelector('.hook-head .notice.warn');
  assert.match(await page.textContent('.hook-head'), /disabled by a user/);
  // While disabled, an event is recorded as skipped: listed with its state, and replayed.
  await api(server, 'POST', `/v1/apps/${appId}/events`, appKey, {
    id: '7a1b2c3d-0000-4000-8000-000000000009', kind: 'message.push.sent', timestamp: 1708559416,
  });
  await page.reload();
  await page.waitForFunction(() => /1 skipped/.test(document.querySelector('#held')?.textContent));
  await shot(page, '08-disabled');
  await page.selectOption('select[name=state]', 'skipped');
  await page.waitForSelector('#deliveries li');
  assert.equal(await page.locator('#deliveries li').count(), 1);
  await page.click('#deliveries button:text("Replay")');
  await page.waitForSelector('.empty');
  assert.match(await page.textContent('main'), /No skipped deliveries/);
  await page.click('.hook-head button:text("Enable")');
  await page.waitForSelector('.hook-head button:text("Disable")');
  for (let t = 0; received.length < before + 4; t++) {
    assert.ok(t < 200, 'the replayed delivery did not arrive');
    await new Promise((r) => setTimeout(r, 50));
  }

  // The list: name, triggers, host, status, 24 h volume.
  await page.click('#nav a:text("Webhooks")');
  await page.waitForSelector('.hook .spark');
  const row = await page.textContent('.hook');
  assert.match(row, /to my CRM/);
  assert.match(row, /message\.sms\.\*/);
  assert.match(row, /Enabled/);
  await page.waitForFunction(() => /100% ok · 4 in 24 h/.test(document.querySelector('.hook').textContent));

  // A second webhook whose receiver answers 500: failing now, in the list.
  await api(server, 'POST', `/v1/apps/${appId}/webhooks`, appKey, {
    name: 'flaky partner', events: ['message.sms.*'], url: `http://127.0.0.1:${receiver.address().port}/fail`,
  });
  await api(server, 'POST', `/v1/apps/${appId}/events`, appKey, {
    id: '7a1b2c3d-0000-4000-8000-000000000010', kind: 'message.sms.sent', timestamp: 1708559416,
  });
  for (let t = 0; !received.some((r) => r.url === '/fail'); t++) {
    assert.ok(t < 200, 'the failing delivery was not attempted');
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.reload();
  await page.waitForFunction(() => [...document.querySelectorAll('.hook')].some((e) => /flaky partner/.test(e.textContent) && /Failing now/.test(e.textContent)));
  await shot(page, '09-list');

  // Its delivery failed permanently: listed with its last error, and replayed from the page.
  const flaky = (await api(server, 'GET', `/v1/apps/${appId}/webhooks`, appKey)).webhooks
    .find((w) => w.name === 'flaky partner');
  for (let t = 0; !(await api(server, 'GET', `/v1/apps/${appId}/webhooks/${flaky.id}/deliveries?state=failed`, appKey)).deliveries.length; t++) {
    assert.ok(t < 200, 'the failing delivery did not fail permanently');
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.goto(`${server.url}/dashboard/#/a/${appId}/w/${flaky.id}/deliveries`);
  await page.waitForSelector('#deliveries li');
  assert.match(await page.textContent('#deliveries'), /500/);
  const failedBefore = received.filter((r) => r.url === '/fail').length;
  await page.click('#deliveries li button:text("Replay")');
  for (let t = 0; received.filter((r) => r.url === '/fail').length === failedBefore; t++) {
    assert.ok(t < 200, 'the replayed delivery was not sent');
    await new Promise((r) => setTimeout(r, 50));
  }
  await shot(page, '09b-failed-replayed');

  // The browser snippet, and what the bridge received: a click posted as the browser half posts it.
  const bridged = await fetch(`${server.url}/v1/apps/${appId}/browser-events`, {
    method: 'POST', headers: { 'content-type': 'text/plain' },
    body: JSON.stringify({ event: 'notification.clicked', id: 'n-42', userId: 'user-42', heading: 'Claim 50% Off Today', url: 'https://shop.example/sale' }),
  });
  assert.equal(bridged.status, 202);
  await page.click('#nav a:text("Browser snippet")');
  await page.waitForSelector('#snippet');
  await page.waitForSelector('#browser-events li');
  const seen = await page.textContent('#browser-events');
  assert.match(seen, /message\.push\.clicked/);
  assert.match(seen, /Claim 50% Off Today/);
  assert.match(seen, /user user-42/);
  const snippet = await page.textContent('#snippet');
  assert.ok(snippet.includes(`${server.url}/v1/apps/${appId}/browser-events`));
  assert.match(snippet, /cors: false/);
  await page.check('input[name=cors]');
  assert.match(await page.textContent('#snippet'), /cors: true/);
  assert.deepEqual(await page.locator('#nav a[aria-current]').allTextContents(), ['Browser snippet']);
  await shot(page, '10-snippet');

  // A phone's width: the same pages, no sideways scrolling.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#nav a:text("Webhooks")');
  await page.waitForSelector('.hook .spark');
  await noHorizontalScroll(page);
  await shot(page, '11-phone-list');
  await page.goto(`${server.url}/dashboard/#/a/${appId}/w/${hookId}/edit`);
  await page.waitForFunction(() => document.querySelector('#curl')?.textContent.startsWith('curl'));
  await noHorizontalScroll(page);
  await shot(page, '12-phone-form');
  await page.goto(`${server.url}/dashboard/#/a/${appId}/w/${hookId}/stats`);
  await page.waitForSelector('#chart svg');
  await noHorizontalScroll(page);
  await shot(page, '13-phone-stats');

  // Delete, confirmed in a dialog.
  await page.goto(`${server.url}/dashboard/#/a/${appId}/w/${hookId}/stats`);
  await page.waitForSelector('.hook-head button.danger');
  await page.click('.hook-head button.danger');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => document.querySelectorAll('.hook').length === 1);
  assert.match(await page.textContent('.hook'), /flaky partner/);

  // Sign out: nothing shown, nothing kept.
  await page.click('#sign-out');
  await page.waitForSelector('#sign-in');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  assert.deepEqual(errors, [], 'no console errors');
}
