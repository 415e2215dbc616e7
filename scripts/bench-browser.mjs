// Browser benchmark (not a test): median time from a push reaching the service worker to its
// webhook request being sent, for a cold worker (stopped before each push) and a warm one, in
// headless Chromium with real pushes through DevTools.
//
// Two measures per push:
//  - in the worker: a `push` listener added before hookline's marks the push's arrival, and a
//    wrapper around `fetch` marks the webhook request being issued (performance.timeOrigin +
//    performance.now(), one clock); the bench worker adds hookline with importScripts, as a
//    site's own worker would;
//  - from outside: DevTools' deliverPushMessage sent → the receiver on loopback has the request
//    (node's clock; includes starting the worker process for a cold push).
import { startSite, startReceiver } from './serve-demo.mjs';
import { launch, openDemo } from '../tests/e2e/chromium.mjs';

const runs = Number(process.env.BENCH_RUNS || 15);

const benchWorker = (timingUrl) => `
var hooklineBench = { t0: 0 };
self.addEventListener('push', function () { hooklineBench.t0 = performance.timeOrigin + performance.now(); });
var realFetch = self.fetch;
self.fetch = function (input) {
  var t1 = performance.timeOrigin + performance.now();
  var sent = realFetch.apply(this, arguments);
  if (hooklineBench.t0 && String(input).indexOf('/timing') < 0) {
    realFetch(${JSON.stringify(timingUrl)}, { method: 'POST', body: JSON.stringify({ t0: hooklineBench.t0, t1: t1 }) });
    hooklineBench.t0 = 0;
  }
  return sent;
};
self.HOOKLINE_WASM_URL = '/dist/hookline-sw.wasm';
importScripts('/dist/hookline-sw.js');
`;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (ms) => `${ms.toFixed(2)} ms`;

const rx = await startReceiver();
// The package is served cacheable, as a site would serve it (the browser can keep compiled wasm).
const site = await startSite({ cache: 'public, max-age=3600', extra: { '/bench-sw.js': benchWorker(`${rx.url}/timing`) } });
const browser = await launch();
try {
  const demo = await openDemo(browser, site);
  const userId = await demo.page.evaluate((hook) => Hookline.init({
    appId: 'bench', serviceWorkerPath: '/bench-sw.js',
    webhooks: { 'notification.displayed': hook },
  }).then((r) => r.userId), `${rx.url}/notification.displayed`);
  if (!userId) throw new Error('init failed');

  const running = () => [...demo.versions.values()].some((v) => v.runningStatus === 'running');
  async function stopWorker() {
    await demo.cdp.send('ServiceWorker.stopAllWorkers');
    for (let i = 0; i < 200 && running(); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 100));
  }

  async function one(i, cold) {
    if (cold) await stopWorker();
    const id = `${cold ? 'cold' : 'warm'}-${i}`;
    const before = rx.requests.length;
    const sentAt = performance.timeOrigin + performance.now();
    await demo.push(JSON.stringify({ id, heading: 'bench', content: String(i) }));
    const hook = await rx.waitFor((r) => r.body.includes(`"${id}"`), 20000, `the webhook of ${id}`);
    const timing = await rx.waitFor((r, k) => r.url === '/timing' && rx.requests.indexOf(r) >= before, 20000, 'timing');
    const { t0, t1 } = JSON.parse(timing.body);
    rx.requests.length = 0;
    return { inWorker: t1 - t0, outside: hook.t - sentAt };
  }

  const results = { cold: [], warm: [] };
  await one(0, false); // first install and compile out of the way
  for (let i = 0; i < runs; i++) results.cold.push(await one(i, true));
  await one(-1, false);
  for (let i = 0; i < runs; i++) {
    results.warm.push(await one(i, false));
    await new Promise((r) => setTimeout(r, 30));
  }
  for (const kind of ['cold', 'warm']) {
    const r = results[kind];
    console.log(`browser bench (Chromium, ${runs} runs): ${kind} worker: push reached the worker → webhook sent: median ${fmt(median(r.map((x) => x.inWorker)))} (in the worker); push delivered → receiver got it: median ${fmt(median(r.map((x) => x.outside)))} (outside)`);
  }
} finally {
  await browser.close();
  await site.close();
  await rx.close();
}
