// Drives headless Firefox (firefox-esr) through geckodriver: W3C WebDriver over plain HTTP, no
// extra packages. Firefox has no DevTools push, so a push goes through the demo's page → worker
// message, which runs the same push handler; clicks and closes are real ones on Firefox's own
// notification window (alerts.useSystemBackend=false), reached through Marionette's chrome context.
import { spawn } from 'node:child_process';
import net from 'node:net';

export const FIREFOX = process.env.FIREFOX_BIN || '/usr/bin/firefox-esr';
export const GECKODRIVER = process.env.GECKODRIVER || 'geckodriver';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits for geckodriver, then opens a session on a fresh profile with notifications allowed. */
async function newSession(call, stderr) {
  for (let i = 0; ; i++) {
    try { await call('GET', '/status'); break; } catch (e) {
      if (i > 100) throw new Error(`geckodriver did not start: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return call('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        browserName: 'firefox',
        'moz:firefoxOptions': {
          binary: FIREFOX,
          args: ['-headless'],
          prefs: {
            'permissions.default.desktop-notification': 1,
            'alerts.useSystemBackend': false,
            'browser.shell.checkDefaultBrowser': false,
            'datareporting.policy.dataSubmissionEnabled': false,
            'app.update.enabled': false,
          },
        },
      },
    },
  });
}

export async function startFirefox() {
  const port = await freePort();
  const driver = spawn(GECKODRIVER, ['--host', '127.0.0.1', '--port', String(port), '--allow-system-access'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  driver.stderr.on('data', (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  async function call(method, path, body) {
    const res = await fetch(base + path, {
      method, headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60000),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`webdriver ${method} ${path}: ${JSON.stringify(json.value)}`);
    return json.value;
  }
  let session;
  try {
    session = await newSession(call, () => stderr);
  } catch (e) {
    driver.kill();
    throw e;
  }
  const sid = session.sessionId;
  const ff = {
    call,
    async goto(url) { await call('POST', `/session/${sid}/url`, { url }); },
    async context(context) { await call('POST', `/session/${sid}/moz/context`, { context }); },
    /** Runs `fn` (a function of `args`, may return a promise) in the current context. */
    async run(fn, ...args) {
      return call('POST', `/session/${sid}/execute/async`, {
        script: `const done = arguments[arguments.length - 1];
          Promise.resolve((${fn}).apply(null, Array.from(arguments).slice(0, -1)))
            .then((v) => done({ ok: v === undefined ? null : v }), (e) => done({ error: String(e && e.stack || e) }));`,
        args,
      }).then((r) => { if (r.error) throw new Error(r.error); return r.ok; });
    },
    async quit() {
      try { await call('DELETE', `/session/${sid}`); } finally { driver.kill(); }
    },
  };
  return ff;
}
