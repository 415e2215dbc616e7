// The real pieces a user runs with scripts/run.sh, for the end-to-end tests: the `hookline serve`
// binary on 127.0.0.1 with a temporary SQLite database and a site directory (www/ plus dist/, as
// run.sh builds it), and scripts/demo.mjs next to it (provisioning, demo-config.json, its
// loopback receiver, whose `receiver: ...` lines are parsed). Every wait is bounded; `close()`
// stops the processes and removes the temporary directory.
//   HOOKLINE_BIN      the binary (default: ${CARGO_TARGET_DIR:-target}/debug/hookline)
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A port nothing listens on right now: bind 127.0.0.1:0, read it, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The hookline binary: HOOKLINE_BIN, else the debug build in CARGO_TARGET_DIR (or target/). */
export function hooklineBin() {
  if (process.env.HOOKLINE_BIN) return path.resolve(root, process.env.HOOKLINE_BIN);
  const targetDir = path.resolve(root, process.env.CARGO_TARGET_DIR || 'target');
  return path.join(targetDir, 'debug', 'hookline');
}

/** Output of a child process, kept for the error messages (the last `max` characters). */
function collect(stream, max = 20000) {
  const out = { text: '' };
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    out.text += chunk;
    if (out.text.length > 2 * max) out.text = out.text.slice(-max);
  });
  return out;
}

// Children still running when this process exits (a test killed on its timeout) are killed too.
const live = new Set();
process.once('exit', () => { for (const child of live) child.kill('SIGKILL'); });
function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Stops a child: SIGTERM, then SIGKILL if it has not exited within `grace` ms. */
function stop(child, grace = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), grace);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The environment of a child: this one without any HOOKLINE_* setting, plus `extra`. */
function childEnv(extra) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HOOKLINE_')) env[k] = v;
  if (process.env.HOOKLINE_LOG) env.HOOKLINE_LOG = process.env.HOOKLINE_LOG;
  return { ...env, ...extra };
}

/**
 * `hookline serve --site <dir>` on a free port of 127.0.0.1, with a fresh SQLite database in a
 * temporary directory and every successful delivery logged; resolves once `/healthz` answers.
 * The site is a copy of www/ with the built package at dist/, as scripts/run.sh makes it; with
 * `site: false` there is none (the binary's own pages only: the dashboard). `env` adds to (or
 * overrides) its configuration variables.
 */
export async function startHookline({ timeout = 30000, site = true, env = {} } = {}) {
  const bin = hooklineBin();
  if (!fs.existsSync(bin)) {
    throw new Error(`no hookline binary at ${bin}: run \`cargo build -p hookline-server\` ` +
      '(CARGO_TARGET_DIR is honoured), or set HOOKLINE_BIN');
  }
  if (site && !fs.existsSync(path.join(root, 'dist', 'hookline-sw.wasm'))) {
    throw new Error('no built package in dist/: run scripts/build-package.sh');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookline-e2e-'));
  const siteDir = site ? path.join(dir, 'site') : null;
  if (site) {
    fs.cpSync(path.join(root, 'www'), siteDir, { recursive: true });
    fs.cpSync(path.join(root, 'dist'), path.join(siteDir, 'dist'), { recursive: true });
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminKey = `hk_admin_${crypto.randomBytes(24).toString('hex')}`;
  const child = track(spawn(bin, site ? ['serve', '--site', siteDir] : ['serve'], {
    cwd: dir,
    env: childEnv({
      HOOKLINE_LISTEN: `127.0.0.1:${port}`,
      HOOKLINE_DATABASE: `sqlite://${path.join(dir, 'h.db')}`,
      HOOKLINE_ADMIN_KEY: adminKey,
      HOOKLINE_LOGS_SUCCESS_SAMPLE_RATE: '1',
      // The demo script's receiver is on loopback, as scripts/run.sh allows it.
      HOOKLINE_DELIVERY_ALLOW_NETWORKS: '127.0.0.0/8',
      ...env,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  const server = {
    url, port, adminKey, dir, siteDir, child,
    output: () => `hookline stdout:\n${stdout.text}\nhookline stderr:\n${stderr.text}`,
    async close() {
      await stop(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    const deadline = Date.now() + timeout;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`hookline serve exited (${child.exitCode ?? child.signalCode}) before answering`);
      }
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) break;
      } catch {}
      if (Date.now() > deadline) throw new Error(`hookline did not answer ${url}/healthz within ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    const output = server.output();
    await server.close();
    throw new Error(`${e.message}\n${output}`);
  }
  return server;
}

/** An API call with a key; resolves with the parsed JSON, throws on a non-2xx answer. */
export async function api(server, method, route, key, body) {
  const res = await fetch(server.url + route, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${route}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** A `receiver: METHOD URL webhook-id=ID BODY` line of scripts/demo.mjs. */
const RECEIVER_LINE = /^receiver: (\S+) (\S+) webhook-id=(\S+) (.*)$/;

/**
 * scripts/demo.mjs, as run.sh starts it, against `server`: its state in a temporary directory,
 * demo-config.json written into the server's site, its receiver on a free port. Resolves once it
 * says it is ready, with the config it wrote and the requests its receiver printed so far
 * (`requests`, kept up to date: {method, url, webhookId, body}).
 */
export async function startDemoScript(server, { timeout = 30000 } = {}) {
  const stateDir = path.join(server.dir, 'state');
  fs.mkdirSync(stateDir);
  const receiverPort = await freePort();
  const child = track(spawn(process.execPath, [path.join(root, 'scripts', 'demo.mjs'),
    server.url, server.adminKey, stateDir, server.siteDir, String(receiverPort)], {
    env: childEnv({}),
    stdio: ['ignore', 'pipe', 'pipe'],
  }));
  const stderr = collect(child.stderr);
  const requests = [];
  const lines = [];
  const waiters = new Set();
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop();
    for (const line of parts) {
      lines.push(line);
      const m = RECEIVER_LINE.exec(line);
      if (m) requests.push({ method: m[1], url: m[2], webhookId: m[3], body: m[4], line });
    }
    for (const w of waiters) w();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.once('exit', () => { for (const w of waiters) w(); });
  const output = () => `demo.mjs stdout:\n${lines.join('\n')}${pending}\ndemo.mjs stderr:\n${stderr.text}`;

  /** Resolves when `check()` returns a value, or rejects after `ms` (or if demo.mjs exits). */
  async function until(check, ms, what) {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = check();
      if (found) return found;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`demo.mjs exited (${child.exitCode ?? child.signalCode}) while waiting for ${what}\n${output()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${output()}`);
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); waiters.delete(done); resolve(); };
        const timer = setTimeout(done, Math.min(left, 200));
        waiters.add(done);
      });
    }
  }

  const demo = {
    child, receiverPort, stateDir, requests, lines, output,
    /** Resolves with what `check()` returns once it is truthy; rejects after `ms`. */
    waitUntil: (check, ms = 10000, what = 'the demo receiver') => until(check, ms, what),
    /** The first receiver request matching `pred`. */
    waitFor: (pred, ms = 10000, what = 'a request at the demo receiver') =>
      until(() => requests.find(pred), ms, what),
    async close() {
      await stop(child);
      await exited;
    },
  };
  try {
    await until(() => lines.some((l) => /hookline demo is ready/.test(l)), timeout, 'demo.mjs to be ready');
    demo.config = JSON.parse(fs.readFileSync(path.join(server.siteDir, 'demo-config.json'), 'utf8'));
  } catch (e) {
    await demo.close();
    throw e;
  }
  return demo;
}
