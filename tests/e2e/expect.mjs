// What a receiver must see, shared by the Chromium and Firefox end-to-end tests.
import assert from 'node:assert/strict';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The exact body the seed specifies: its key order, absent fields absent, action for clicks. */
export function expectedBody(event, n, userId, action) {
  return JSON.stringify({
    event, id: n.id, userId, heading: n.heading, content: n.content, url: n.url, icon: n.icon,
    data: n.data, action: event === 'notification.clicked' ? action : undefined,
  });
}

/** Method, path, body and the headers each `cors` mode must and must not carry. */
export function assertWebhook(req, cors, event, body) {
  assert.equal(req.method, 'POST');
  assert.equal(req.url, `/${event}`);
  assert.equal(req.body, body);
  if (cors) {
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['x-onesignal-event'], event);
    assert.equal(req.headers['sec-fetch-mode'], 'cors');
  } else {
    assert.equal(req.headers['content-type'], 'text/plain;charset=UTF-8');
    assert.equal(req.headers['x-onesignal-event'], undefined);
    assert.equal(req.headers['sec-fetch-mode'], 'no-cors');
  }
}

/** `cors: true` is a non-simple request (preflighted); `cors: false` never is. */
export function assertPreflights(requests, cors) {
  const preflights = requests.filter((r) => r.method === 'OPTIONS');
  if (!cors) return assert.equal(preflights.length, 0, 'no preflight for cors: false');
  assert.ok(preflights.length > 0, 'cors: true is preflighted');
  for (const p of preflights) {
    assert.equal(p.headers['access-control-request-method'], 'POST');
    assert.equal(p.headers['access-control-request-headers'], 'content-type,x-onesignal-event');
  }
}
