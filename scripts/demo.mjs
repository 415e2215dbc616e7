// The demo's other half, started by scripts/run.sh next to `hookline serve`:
//  1. waits for the server, then makes sure a "demo" app exists with an event webhook for
//     `message.push.*` (the bridge's events), reusing the ones from an earlier run;
//  2. writes `demo-config.json` into the served site so the demo page points its browser webhooks
//     at the bridge and can show hookline's delivery logs (a local demo: the app key is in the page);
//  3. runs the event webhook's receiver on loopback and prints every request it gets.
// Usage: node scripts/demo.mjs SERVER_URL ADMIN_KEY STATE_DIR SITE_DIR RECEIVER_PORT
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const [server, adminKey, stateDir, siteDir, receiverPort] = process.argv.slice(2);
const statePath = path.join(stateDir, 'demo.json');

async function api(method, route, key, body) {
  const res = await fetch(server + route, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function waitForServer() {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(server + '/healthz')).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`hookline did not answer at ${server}/healthz within a minute`);
}

/** The demo app and webhook from an earlier run, if the server still has them. */
async function reuse() {
  let saved;
  try {
    saved = JSON.parse(fs.readFileSync(statePath, 'utf8'));
  } catch {
    return null;
  }
  try {
    await api('GET', `/v1/apps/${saved.appId}/webhooks/${saved.webhookId}`, saved.apiKey);
    return saved;
  } catch {
    return null;
  }
}

async function provision() {
  const app = await api('POST', '/v1/apps', adminKey, { name: 'demo' });
  const webhook = await api('POST', `/v1/apps/${app.id}/webhooks`, app.api_key, {
    name: 'demo: browser notification events',
    events: ['message.push.*'],
    method: 'POST',
    url: `http://127.0.0.1:${receiverPort}/events/{{ event.kind }}`,
    headers: { 'X-Demo-User': '{{ event.external_id }}' },
    body: {
      pairs: {
        kind: '{{ event.kind }}',
        notification: '{{ message.id }}',
        user: '{{ event.external_id }}',
        title: '{{ message.title }}',
        action: '{{ event.action }}',
        at: '{{ event.datetime }}',
      },
    },
    enabled: true,
  });
  const saved = { appId: app.id, apiKey: app.api_key, webhookId: webhook.id };
  fs.writeFileSync(statePath, JSON.stringify(saved, null, 2), { mode: 0o600 });
  return saved;
}

function startReceiver() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      console.log(`receiver: ${req.method} ${req.url} webhook-id=${req.headers['webhook-id'] ?? '-'} ${body}`);
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(receiverPort), '127.0.0.1', resolve);
  });
}

await startReceiver();
await waitForServer();
const demo = (await reuse()) ?? (await provision());
const bridge = `${server}/v1/apps/${demo.appId}/browser-events`;
fs.writeFileSync(path.join(siteDir, 'demo-config.json'), JSON.stringify({ ...demo, bridge }, null, 2));
console.log(`
hookline demo is ready:

    open ${server}/            the demo site (browser half), its webhooks go to the bridge
    app ${demo.appId}           key in ${statePath}
    event webhook ${demo.webhookId} → http://127.0.0.1:${receiverPort}/events/<kind>

Press Ctrl-C to stop.
`);
