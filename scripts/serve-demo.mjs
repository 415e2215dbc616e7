// A static server for the demo site (www/ at /, the built package at /dist/) and a loopback
// webhook receiver that records what it gets, all on 127.0.0.1. Used by scripts/serve-demo.sh
// and by the end-to-end tests and benchmark, which import these functions.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ts': 'text/plain; charset=utf-8',
};

function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

function close(server) {
  server.closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * Records every request it gets; answers CORS preflights and POSTs so `cors: true` works. For the
 * failures a site's receiver can have: `hang` never answers a POST (the connection stays open);
 * `postCors: false` answers the preflight but leaves the CORS headers off the POST's answer.
 */
export async function startReceiver({ port = 0, hang = false, postCors = true } = {}) {
  const requests = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const t = performance.timeOrigin + performance.now();
      requests.push({ method: req.method, url: req.url, headers: req.headers, body, t });
      for (const w of waiters.splice(0)) w();
      if (hang && req.method === 'POST') return;
      const cors = req.method !== 'POST' || postCors ? {
        'access-control-allow-origin': '*',
        'access-control-allow-methods': 'POST',
        'access-control-allow-headers': 'content-type, x-onesignal-event',
      } : {};
      res.writeHead(req.method === 'OPTIONS' ? 204 : 200, { ...cors, 'content-type': 'text/plain' });
      res.end(req.method === 'OPTIONS' ? undefined : 'ok');
    });
  });
  const actualPort = await listen(server, port);
  const receiver = {
    port: actualPort,
    url: `http://127.0.0.1:${actualPort}`,
    requests,
    /** Resolves with the first request matching `pred`, or rejects after `timeout` ms. */
    async waitFor(pred, timeout = 10000, what = 'a webhook request') {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = requests.find(pred);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new Error(`timed out waiting for ${what}; got: ${JSON.stringify(requests.map((r) => [r.method, r.url, r.body]))}`);
        }
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 200));
          waiters.push(() => { clearTimeout(timer); resolve(); });
        });
      }
    },
    close: () => close(server),
  };
  return receiver;
}

/**
 * Serves www/ at / and the built package (dist/) at /dist/. With `hooks`, it also receives
 * webhooks at /hooks/<anything> and lists them, newest last, at GET /hooks/log (the demo's panel).
 * `extra` maps more paths to contents (the benchmark's worker); `cache` is the package's
 * Cache-Control (default no-store, so a rebuilt package is always the one served); `wasmDelay`
 * holds every `.wasm` answer that many milliseconds (a slow network, for a worker's cold start).
 */
export async function startSite({ port = 0, dist = path.join(root, 'dist'), hooks = false, extra = {}, cache = 'no-store', wasmDelay = 0 } = {}) {
  const log = [];
  const server = http.createServer((req, res) => {
    if (wasmDelay && req.url.split('?')[0].endsWith('.wasm')) {
      return setTimeout(serve, wasmDelay, req, res);
    }
    serve(req, res);
  });
  function serve(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (Object.hasOwn(extra, url.pathname)) {
      res.writeHead(200, { 'content-type': types[path.extname(url.pathname)] || 'text/plain', 'cache-control': 'no-store' });
      return res.end(extra[url.pathname]);
    }
    if (hooks && url.pathname.startsWith('/hooks/')) {
      if (url.pathname === '/hooks/log' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        return res.end(JSON.stringify(log));
      }
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        const { 'content-type': contentType, 'x-onesignal-event': event } = req.headers;
        log.push({ at: new Date().toISOString(), method: req.method, path: url.pathname, contentType, event, body });
        if (log.length > 200) log.shift();
        res.writeHead(200, { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'content-type, x-onesignal-event' });
        res.end();
      });
      return;
    }
    const [base, rel] = url.pathname.startsWith('/dist/')
      ? [dist, url.pathname.slice('/dist/'.length)]
      : [path.join(root, 'www'), url.pathname.slice(1) || 'index.html'];
    const file = path.join(base, path.normalize(decodeURIComponent(rel)).replace(/^(\.\.[/\\])+/, ''));
    if (!file.startsWith(base) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('not found');
    }
    res.writeHead(200, {
      'content-type': types[path.extname(file)] || 'application/octet-stream',
      'cache-control': base === dist ? cache : 'no-store',
    });
    fs.createReadStream(file).pipe(res);
  }
  const actualPort = await listen(server, port);
  return { port: actualPort, url: `http://127.0.0.1:${actualPort}`, log, close: () => close(server) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.HOOKLINE_DEMO_PORT || 8090);
  const site = await startSite({ port, hooks: true });
  console.log(`hookline demo: ${site.url}/  (webhooks received at ${site.url}/hooks/…; Ctrl-C to stop)`);
  const stop = () => site.close().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
