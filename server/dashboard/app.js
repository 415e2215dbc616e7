// hookline's dashboard: a hash-routed single page over the /v1 API, plain ES modules.
//   #/                       sign in (or, signed in, the apps / the app's webhooks)
//   #/apps                   apps (admin key)
//   #/a/APP                  the app's webhooks
//   #/a/APP/new              a new webhook
//   #/a/APP/w/ID/TAB         a webhook: edit | stats | logs | deliveries
//   #/a/APP/snippet          the browser half's snippet for a site
import { ApiError, appPath, call, get, hookPath, post, saveSession, session, signOut } from './api.js';
import { drawChart, OUTCOMES, sparkline } from './chart.js';
import { KINDS, PATTERNS, validTrigger } from './kinds.js';

const main = document.getElementById('main');
let generation = 0; // a view started later wins over one still loading

/** h('div.class#id', {attrs, on: {click}}, ...children): a DOM element, text never parsed as HTML. */
function h(spec, attrs, ...children) {
  if (attrs == null || typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const [, tag, rest] = spec.match(/^([a-z0-9]+)(.*)$/);
  const e = document.createElement(tag);
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === '.') e.classList.add(part.slice(1));
    else e.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'on') for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

let uid = 0;
/** A labelled field: the label names the input (every input has one). */
function field(label, input, hint) {
  if (!input.id) input.id = `f${++uid}`;
  return h('div.field', h('label', { for: input.id }, label), input, hint && h('p.hint', hint),
    h('p.error', { hidden: true, 'data-error-for': input.id }));
}

function toast(text, bad = false) {
  const t = document.getElementById('toast');
  t.textContent = text;
  t.className = bad ? 'show bad' : 'show';
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.className = ''; }, 4000);
}

function confirmDialog(text, ok = 'Delete') {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = ok;
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

const when = (ms) => (ms ? new Date(ms).toLocaleString() : '–');
const host = (url) => { try { return new URL(url.replace(/\{\{.*?\}\}/g, 'x')).host; } catch { return ''; } };

function errorBox(e, retry) {
  return h('div.notice.bad', { role: 'alert' }, h('strong', 'Something went wrong. '),
    e instanceof ApiError ? e.message : String(e),
    retry && h('button.secondary.small', { type: 'button', on: { click: retry } }, 'Try again'));
}

function loading(text = 'Loading…') {
  return h('p.muted.loading', { role: 'status' }, text);
}

function setView(...nodes) {
  main.replaceChildren(...nodes);
}

// ---------- shell ----------

function renderShell(s, app) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  nav.replaceChildren();
  who.replaceChildren();
  if (!s) return;
  if (s.admin) nav.append(h('a', { href: '#/apps' }, 'Apps'));
  if (app) {
    nav.append(h('a', { href: `#/a/${app}` }, 'Webhooks'), h('a', { href: `#/a/${app}/snippet` }, 'Browser snippet'));
  }
  who.append(h('span.muted', { title: s.admin ? '' : s.app }, s.admin ? 'Admin' : `App ${s.app}`),
    h('button.secondary.small#sign-out', { type: 'button', on: { click: () => { signOut(); location.hash = '#/'; route(); } } }, 'Sign out'));
  // The current page is the link with the longest matching href (the snippet's, not Webhooks').
  const current = [...nav.querySelectorAll('a')].filter((a) => location.hash.startsWith(a.getAttribute('href')))
    .sort((a, b) => b.getAttribute('href').length - a.getAttribute('href').length)[0];
  current?.setAttribute('aria-current', 'page');
}

// ---------- sign in ----------

function signInView() {
  const key = h('input', { type: 'password', autocomplete: 'off', required: true, spellcheck: 'false', name: 'key' });
  const msg = h('p.error#sign-in-error', { role: 'alert', hidden: true });
  const submit = h('button', { type: 'submit' }, 'Sign in');
  const form = h('form.card.narrow#sign-in', { on: { submit: async (e) => {
    e.preventDefault();
    msg.hidden = true;
    submit.disabled = true;
    const k = key.value.trim();
    try {
      if (!k) throw new ApiError(400, 'missing', 'Enter an app key or the admin key.');
      // The server says what the key opens: every app (the admin key), or one.
      const who = await call('GET', '/v1/key', undefined, k);
      if (who.admin) {
        saveSession({ key: k, admin: true });
        location.hash = '#/apps';
      } else {
        saveSession({ key: k, admin: false, app: who.app_id });
        location.hash = `#/a/${encodeURIComponent(who.app_id)}`;
      }
      route();
    } catch (err) {
      msg.textContent = err.status === 401
        ? 'That key opens nothing here: check it (an app key starts with hk_; the admin key was printed when hookline first started).'
        : err.message;
      msg.hidden = false;
      key.focus();
    } finally {
      submit.disabled = false;
    }
  } } },
  h('h1', 'Sign in'),
  h('p.muted', 'With an app key, or the admin key printed when hookline first started. The key stays in this tab only: it is forgotten when you close the tab or sign out.'),
  field('Key', key, 'An app key opens that app; the admin key opens every app.'), msg, h('div.row.end', submit));
  setView(form);
  key.focus();
}

// ---------- apps (admin) ----------

async function appsView(gen) {
  setView(h('h1', 'Apps'), loading());
  let apps;
  try {
    apps = (await get('/v1/apps')).apps;
  } catch (e) {
    if (gen === generation) setView(h('h1', 'Apps'), errorBox(e, route));
    return;
  }
  if (gen !== generation) return;
  const name = h('input', { type: 'text', required: true, name: 'name', placeholder: 'shop' });
  const created = h('div');
  const form = h('form.card', { on: { submit: async (e) => {
    e.preventDefault();
    try {
      const app = await post('/v1/apps', { name: name.value.trim() });
      created.replaceChildren(h('div.notice.good#new-key', { role: 'status' },
        h('strong', `App “${app.name}” created. `), 'Its key is shown only now: copy it somewhere safe.',
        h('div.copyline', h('code', app.api_key), copyButton(app.api_key)),
        h('p', 'App ID: ', h('code', app.id), ' — ', h('a', { href: `#/a/${app.id}` }, 'open its webhooks'))));
      name.value = '';
      list.replaceWith(list = appList([...apps, app]));
      apps.push(app);
    } catch (err) {
      created.replaceChildren(errorBox(err));
    }
  } } }, h('h2', 'New app'), h('div.row', field('Name', name), h('button', { type: 'submit' }, 'Create app')));
  let list = appList(apps);
  setView(h('h1', 'Apps'), created, list, form);
}

function appList(apps) {
  if (!apps.length) return h('div.empty', h('p', 'No apps yet.'), h('p.muted', 'Create one below: it gets a key for its own webhooks and events.'));
  return h('ul.list', apps.map((a) => h('li.item', h('a.title', { href: `#/a/${a.id}` }, a.name),
    h('code.muted', a.id), h('span.muted', `created ${when(a.created_at)}`))));
}

function copyButton(text) {
  return h('button.secondary.small', { type: 'button', on: { click: async () => {
    try {
      await navigator.clipboard.writeText(typeof text === 'function' ? text() : text);
      toast('Copied');
    } catch {
      toast('Copy failed: select the text and copy it', true);
    }
  } } }, 'Copy');
}

// ---------- webhook list ----------

/**
 * The API's status is enabled or disabled; "failing now" is read from the series: the latest
 * step with attempts, if it is within the last hour and fewer than half of them got a 2xx.
 */
function failingNow(points) {
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i];
    const all = OUTCOMES.reduce((n, [k]) => n + (p[k] || 0), 0);
    if (!all) continue;
    return p.t * 1000 >= Date.now() - 3600e3 && (p['2xx'] || 0) / all < 0.5;
  }
  return false;
}

function liveStatus(status, points) {
  return status?.state !== 'disabled' && failingNow(points)
    ? { state: 'failing', reason: 'most recent attempts failed' } : status;
}

function statusBadge(status) {
  const s = status?.state || 'enabled';
  const label = { enabled: 'Enabled', disabled: 'Disabled', failing: 'Failing now' }[s] || s;
  return h(`span.badge.${s}`, { title: status?.reason || '' }, label);
}

async function webhooksView(gen, app) {
  const head = h('div.row.between', h('h1', 'Webhooks'), h('a.button', { href: `#/a/${app}/new` }, 'New webhook'));
  setView(head, loading());
  let hooks;
  try {
    hooks = (await get(`${appPath(app)}/webhooks`)).webhooks;
  } catch (e) {
    if (gen === generation) setView(head, errorBox(e, route));
    return;
  }
  if (gen !== generation) return;
  if (!hooks.length) {
    setView(head, h('div.empty', h('p', 'No webhooks yet.'),
      h('p.muted', 'A webhook sends an HTTP request to your server when an event of a kind you choose happens.'),
      h('a.button', { href: `#/a/${app}/new` }, 'Create your first webhook')));
    return;
  }
  const rows = hooks.map((w) => {
    const spark = h('span.spark-cell', h('span.muted', '…'));
    const rate = h('span.rate.muted', '');
    get(`${hookPath(app, w.id)}/stats?range=24h`).then((st) => {
      const pts = st.series.points;
      let ok = 0;
      let all = 0;
      for (const p of pts) for (const [k] of OUTCOMES) { all += p[k] || 0; if (k === '2xx') ok += p[k] || 0; }
      spark.replaceChildren(sparkline(pts));
      rate.textContent = all ? `${Math.round((ok / all) * 1000) / 10}% ok · ${all} in 24 h` : 'no traffic in 24 h';
      const live = liveStatus(st.status, pts);
      if (live?.state !== w.status?.state) badge.replaceWith(statusBadge(live));
    }).catch(() => { spark.replaceChildren(h('span.muted', '–')); });
    const badge = statusBadge(w.status);
    const u = w.url;
    const hst = host(u);
    const i = hst ? u.indexOf(hst) : -1;
    return h('li.item.hook', { 'data-id': w.id },
      h('div.grow',
        h('a.title', { href: `#/a/${app}/w/${w.id}/stats` }, w.name),
        h('div.url', h('span.muted', w.method || 'POST'), ' ',
          i >= 0 ? [u.slice(0, i), h('strong', hst), u.slice(i + hst.length)] : u),
        h('div.chips', w.events.map((e) => h('span.chip', e))),
        w.status?.state === 'disabled' && h('p.muted.small', `Disabled ${when(w.status.disabled_at)}: ${w.status.reason || ''}`)),
      h('div.side', badge, spark, rate,
        h('a.small', { href: `#/a/${app}/w/${w.id}/edit` }, 'Edit')));
  });
  setView(head, h('ul.list', rows));
}

// ---------- the form ----------

const SAMPLE_KINDS = KINDS;

function eventPicker(initial) {
  const chosen = [...initial];
  const chips = h('div.chips');
  const search = h('input', { type: 'text', role: 'combobox', 'aria-expanded': 'false', 'aria-autocomplete': 'list',
    placeholder: 'Search kinds, or type a custom kind or prefix.*', autocomplete: 'off', name: 'events-search' });
  const options = h('ul.options', { role: 'listbox', hidden: true });
  search.setAttribute('aria-controls', options.id = `o${++uid}`);
  const wrap = h('div.picker', chips, search, options);
  let active = -1;
  const changed = () => wrap.dispatchEvent(new Event('change', { bubbles: true }));
  const draw = () => {
    chips.replaceChildren(...chosen.map((k) => h('span.chip', k,
      h('button.x', { type: 'button', 'aria-label': `Remove ${k}`, on: { click: () => { chosen.splice(chosen.indexOf(k), 1); draw(); changed(); } } }, '×'))));
  };
  const add = (k) => {
    k = k.trim();
    if (!k || chosen.includes(k)) return;
    if (!validTrigger(k)) { toast(`“${k}” is not a kind or a prefix.* pattern`, true); return; }
    chosen.push(k);
    search.value = '';
    draw();
    list();
    changed();
  };
  const list = () => {
    const q = search.value.trim().toLowerCase();
    const all = [...PATTERNS, ...KINDS].filter((k) => !chosen.includes(k) && k.toLowerCase().includes(q));
    if (q && !all.includes(q) && !chosen.includes(q)) all.push(q);
    active = Math.min(active, all.length - 1);
    options.replaceChildren(...all.map((k, i) => h('li', { role: 'option', id: `${options.id}-${i}`,
      'aria-selected': i === active ? 'true' : 'false', on: { mousedown: (e) => { e.preventDefault(); add(k); } } },
    KINDS.includes(k) || PATTERNS.includes(k) ? k : `Add custom “${k}”`)));
    options.hidden = document.activeElement !== search || !all.length;
    search.setAttribute('aria-expanded', String(!options.hidden));
    if (active >= 0) search.setAttribute('aria-activedescendant', `${options.id}-${active}`);
    else search.removeAttribute('aria-activedescendant');
    return all;
  };
  search.addEventListener('input', () => { active = -1; list(); });
  search.addEventListener('focus', list);
  search.addEventListener('blur', () => { options.hidden = true; search.setAttribute('aria-expanded', 'false'); });
  search.addEventListener('keydown', (e) => {
    const all = list();
    if (e.key === 'ArrowDown') { active = Math.min(all.length - 1, active + 1); list(); e.preventDefault(); }
    else if (e.key === 'ArrowUp') { active = Math.max(-1, active - 1); list(); e.preventDefault(); }
    else if (e.key === 'Enter') { e.preventDefault(); add(active >= 0 ? all[active] : search.value); }
    else if (e.key === 'Backspace' && !search.value && chosen.length) { chosen.pop(); draw(); changed(); }
  });
  draw();
  return { el: wrap, input: search, value: () => [...chosen] };
}

function headerRows(initial, secretNames) {
  const rows = h('div.rows.header-rows');
  const add = (name = '', value = '', secret = false) => {
    const n = h('input', { type: 'text', value: name, placeholder: 'Header-Name', 'aria-label': 'Header name', spellcheck: 'false' });
    const v = h('input', { type: secret ? 'password' : 'text', value, placeholder: 'value (Liquid)', 'aria-label': 'Header value', spellcheck: 'false' });
    const s = h('input', { type: 'checkbox', checked: secret, 'aria-label': 'Secret' });
    s.addEventListener('change', () => { v.type = s.checked ? 'password' : 'text'; });
    const row = h('div.pair', n, v, h('label.check', s, 'secret'),
      h('button.secondary.small', { type: 'button', 'aria-label': 'Remove header', on: { click: () => { row.remove(); rows.dispatchEvent(new Event('input', { bubbles: true })); } } }, 'Remove'),
      h('p.error.wide', { hidden: true }));
    row.fields = { n, v, s };
    rows.append(row);
    return n;
  };
  for (const [k, val] of Object.entries(initial || {})) add(k, val, secretNames.has(k.toLowerCase()) || val === '********');
  const el = h('div', rows, h('button.secondary.small', { type: 'button', on: { click: () => add().focus() } }, 'Add header'));
  return {
    el,
    value() {
      const headers = {};
      const secret = [];
      for (const r of rows.children) {
        const name = r.fields.n.value.trim();
        if (!name) continue;
        headers[name] = r.fields.v.value;
        if (r.fields.s.checked) secret.push(name);
      }
      return { headers, secret };
    },
    rowFor(name) {
      return [...rows.children].find((r) => r.fields.n.value.trim().toLowerCase() === name.toLowerCase());
    },
  };
}

const SECRET_WORDS = /token|key|secret|signature|cookie|password|auth|session/i;

function bodyEditor(initial) {
  let mode = initial && 'custom' in initial ? 'custom' : 'pairs';
  const select = h('select', { name: 'body-mode' },
    h('option', { value: 'pairs' }, 'Key/value pairs'), h('option', { value: 'custom' }, 'Custom JSON'),
    h('option', { value: 'none' }, 'No body'));
  if (!initial) mode = 'none';
  select.value = mode;
  const rows = h('div.rows');
  const custom = h('textarea.code', { rows: 10, spellcheck: 'false', name: 'body-custom', 'aria-label': 'Custom JSON body (Liquid)' });
  const customErr = h('p.error', { hidden: true });
  const addPair = (k = '', v = '') => {
    const kk = h('input', { type: 'text', value: k, placeholder: 'key', 'aria-label': 'Body key', spellcheck: 'false' });
    const vv = h('input', { type: 'text', value: v, placeholder: '{{ event.id }}', 'aria-label': 'Body value (Liquid)', spellcheck: 'false' });
    const row = h('div.pair.two', kk, vv,
      h('button.secondary.small', { type: 'button', 'aria-label': 'Remove pair', on: { click: () => { row.remove(); rows.dispatchEvent(new Event('input', { bubbles: true })); } } }, 'Remove'),
      h('p.error.wide', { hidden: true }));
    row.fields = { kk, vv };
    rows.append(row);
    return kk;
  };
  const pairsBox = h('div', rows, h('button.secondary.small', { type: 'button', on: { click: () => addPair().focus() } }, 'Add pair'));
  const pairs = () => {
    const out = {};
    for (const r of rows.children) if (r.fields.kk.value.trim()) out[r.fields.kk.value.trim()] = r.fields.vv.value;
    return out;
  };
  const setPairs = (obj) => {
    rows.replaceChildren();
    for (const [k, v] of Object.entries(obj)) addPair(k, typeof v === 'string' ? v : JSON.stringify(v));
    if (!rows.children.length) addPair();
  };
  if (initial?.pairs) setPairs(initial.pairs); else addPair('id', '{{ event.id }}');
  custom.value = initial?.custom ?? '';
  const show = () => {
    pairsBox.hidden = mode !== 'pairs';
    custom.hidden = mode !== 'custom';
  };
  select.addEventListener('change', () => {
    const next = select.value;
    if (mode === 'pairs' && next === 'custom') {
      // Pairs become a JSON object whose values are the templates, each as a JSON string.
      const p = pairs();
      custom.value = `{\n${Object.entries(p).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n')}\n}`;
    } else if (mode === 'custom' && next === 'pairs') {
      try {
        const obj = JSON.parse(custom.value);
        if (obj && typeof obj === 'object' && !Array.isArray(obj)) setPairs(obj);
        else toast('Only a JSON object becomes pairs; the pairs are unchanged', true);
      } catch {
        toast('The custom body is not plain JSON (it has Liquid tags?): the pairs are unchanged', true);
      }
    }
    mode = next;
    show();
  });
  show();
  return {
    select,
    el: h('div', pairsBox, custom, customErr),
    value() {
      if (mode === 'none') return null;
      if (mode === 'custom') return { custom: custom.value };
      return { pairs: pairs() };
    },
    targetFor(path) { // 'custom' or a pair's key
      if (path === 'custom') return { input: custom, err: customErr };
      const r = [...rows.children].find((x) => x.fields.kk.value.trim() === path);
      return r && { input: r.fields.vv, err: r.querySelector('.error') };
    },
  };
}

function sampleEvent(kind) {
  return {
    id: '6f24fcf2-0467-4d4f-9d62-567f8ed0deb9', kind, subscription_device_type: 'iOS',
    timestamp: 1708559416, subscription_id: 'd1eec82d-453a-4a6d-8d26-622cf18584e6',
    onesignal_id: '0e2ba5b4-4ac8-4c5e-bf3e-6e3bd1f7d0a5', external_id: 'user-42',
    message: { id: 'f3c9cd09-10d7-4f59-b9bc-66e16607f1d5', name: 'Discount Message 50% Off XYZ',
      title: 'Claim 50% Off Today', contents: 'Go to our website to claim 50% off' },
  };
}

function requestView(req, title = 'Request') {
  return h('div.exchange', h('h4', title),
    h('pre.code', `${req.method} ${req.url}\n${(req.headers || []).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${pretty(req.body)}${req.body_truncated ? '\n… (truncated)' : ''}`));
}

function responseView(res) {
  if (!res) return h('div.exchange', h('h4', 'Response'), h('p.muted', 'No response came back.'));
  return h('div.exchange', h('h4', `Response: ${res.status}`),
    h('pre.code', `${(res.headers || []).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${pretty(res.body)}${res.body_truncated ? '\n… (truncated)' : ''}`));
}

function pretty(body) {
  if (body == null || body === '') return '';
  try { return JSON.stringify(JSON.parse(body), null, 2); } catch { return body; }
}

async function formView(gen, app, id, container) {
  let hook = null;
  if (id) {
    container.replaceChildren(loading());
    try {
      hook = await get(hookPath(app, id));
    } catch (e) {
      if (gen === generation) container.replaceChildren(errorBox(e, route));
      return;
    }
    if (gen !== generation) return;
  }
  const secretNames = new Set((hook?.secret_headers || []).map((s) => s.toLowerCase()));
  const name = h('input', { type: 'text', required: true, name: 'name', value: hook?.name || '', placeholder: 'to my CRM' });
  const picker = eventPicker(hook?.events || ['message.push.sent']);
  const method = h('select', { name: 'method' }, ['POST', 'PUT', 'PATCH', 'GET', 'DELETE'].map((m) => h('option', m)));
  method.value = hook?.method || 'POST';
  const url = h('input', { type: 'text', required: true, name: 'url', inputmode: 'url', spellcheck: 'false',
    value: hook?.url || '', placeholder: 'https://example.com/webhook/{{ event.external_id }}' });
  const headers = headerRows(hook?.headers, secretNames);
  const body = bodyEditor(hook ? hook.body : { pairs: { id: '{{ event.id }}', title: '{{ message.title }}' } });
  const enabled = h('input', { type: 'checkbox', checked: hook ? hook.enabled !== false : true, name: 'enabled' });
  const signing = h('select', { name: 'signing' }, h('option', { value: 'symmetric' }, 'Symmetric (HMAC-SHA256, whsec_)'), h('option', { value: 'ed25519' }, 'ed25519 (public key, whpk_)'));
  signing.value = hook?.signing || 'symmetric';
  const rateN = h('input', { type: 'number', min: 1, max: 100000, name: 'rate-requests', value: hook?.rate_limit?.requests ?? '', placeholder: 'no limit' });
  const rateP = h('select', { name: 'rate-per' }, h('option', { value: '1s' }, 'per second'), h('option', { value: '1m' }, 'per minute'));
  rateP.value = hook?.rate_limit?.per || '1s';
  const inflight = h('input', { type: 'number', min: 1, name: 'max-in-flight', value: hook?.max_in_flight ?? '', placeholder: 'no limit' });
  const ordering = h('select', { name: 'ordering' }, h('option', { value: 'unordered' }, 'Unordered (fastest)'), h('option', { value: 'fifo' }, 'FIFO (one at a time, in order)'));
  ordering.value = hook?.ordering || 'unordered';

  const general = h('div.notice.bad', { role: 'alert', hidden: true });
  const spec = () => {
    const { headers: hd, secret } = headers.value();
    const s = { name: name.value.trim() || 'untitled', events: picker.value(), method: method.value, url: url.value.trim(),
      headers: hd, body: body.value(), enabled: enabled.checked, signing: signing.value, ordering: ordering.value,
      rate_limit: rateN.value ? { requests: Number(rateN.value), per: rateP.value } : null,
      max_in_flight: inflight.value ? Number(inflight.value) : null };
    const extra = secret.filter((n) => !SECRET_WORDS.test(n));
    if (extra.length) s.secret_headers = extra;
    return s;
  };

  const errTargets = () => [...container.querySelectorAll('.error')].filter((e) => e !== general);
  const clearErrors = () => {
    for (const e of errTargets()) { e.hidden = true; e.textContent = ''; }
    for (const i of container.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
    general.hidden = true;
  };
  const showError = (message) => {
    // Messages name the field first: `body.pairs.id: line 1, column 1: …`.
    const m = message.match(/^([A-Za-z_][\w.\-[\]]*?): (.*)$/s);
    const path = m ? m[1] : '';
    const text = m ? m[2] : message;
    let target = null;
    const byInput = (input) => ({ input, err: input.closest('.field')?.querySelector('.error') });
    if (path === 'name') target = byInput(name);
    else if (path === 'url') target = byInput(url);
    else if (path === 'method') target = byInput(method);
    else if (path.startsWith('events')) target = { input: picker.input, err: picker.el.closest('.field').querySelector('.error') };
    else if (path.startsWith('headers.')) {
      const r = headers.rowFor(path.slice(8));
      if (r) target = { input: r.fields.v, err: r.querySelector('.error') };
    } else if (path.startsWith('body.pairs.')) target = body.targetFor(path.slice(11));
    else if (path.startsWith('body.custom') || path === 'body') target = body.targetFor('custom');
    else if (path.startsWith('rate_limit')) target = byInput(rateN);
    else if (path === 'max_in_flight') target = byInput(inflight);
    if (target?.err) {
      target.err.textContent = text;
      target.err.hidden = false;
      target.input.setAttribute('aria-invalid', 'true');
    } else {
      general.textContent = message;
      general.hidden = false;
    }
  };

  // The preview panel.
  const kind = h('select', { name: 'sample-kind' }, SAMPLE_KINDS.map((k) => h('option', k)));
  kind.value = (hook?.events || []).find((k) => KINDS.includes(k)) || 'message.push.sent';
  const sample = h('textarea.code', { rows: 8, spellcheck: 'false', name: 'sample-event' });
  sample.value = JSON.stringify(sampleEvent(kind.value), null, 2);
  const sampleErr = h('p.error', { hidden: true });
  const curl = h('pre.code.curl#curl', { 'aria-live': 'polite' }, '…');
  const previewState = h('span.muted.small#preview-state', '');
  kind.addEventListener('change', () => {
    try {
      const ev = JSON.parse(sample.value);
      ev.kind = kind.value;
      sample.value = JSON.stringify(ev, null, 2);
    } catch {
      sample.value = JSON.stringify(sampleEvent(kind.value), null, 2);
    }
    schedule();
  });
  let seq = 0;
  let timer = null;
  const preview = async () => {
    const mine = ++seq;
    let event;
    try {
      event = JSON.parse(sample.value);
      sampleErr.hidden = true;
    } catch (e) {
      sampleErr.textContent = `The sample event is not JSON: ${e.message}`;
      sampleErr.hidden = false;
      return;
    }
    if (!url.value.trim()) {
      clearErrors();
      curl.textContent = 'Enter the URL to see the exact request.';
      previewState.textContent = '';
      return;
    }
    previewState.textContent = 'updating…';
    try {
      const p = await post(`${appPath(app)}/webhooks/preview`, { webhook: spec(), event });
      if (mine !== seq) return;
      clearErrors();
      curl.textContent = p.curl;
      previewState.textContent = 'up to date';
    } catch (e) {
      if (mine !== seq) return;
      clearErrors();
      showError(e.message);
      previewState.textContent = 'fix the error to see the request';
    }
  };
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(preview, 300);
  };

  const save = h('button#save', { type: 'submit' }, hook ? 'Save changes' : 'Create webhook');
  const testBtn = h('button.secondary#send-test', { type: 'button', disabled: !hook }, 'Send test');
  const testOut = h('div#test-result');
  testBtn.addEventListener('click', async () => {
    testBtn.disabled = true;
    testOut.replaceChildren(loading('Sending a test request…'));
    try {
      let event;
      try { event = JSON.parse(sample.value); } catch { event = undefined; }
      const r = await post(`${hookPath(app, hook.id)}/test`, event ? { event } : { kind: kind.value });
      testOut.replaceChildren(h(`div.notice.${r.success ? 'good' : 'bad'}`,
        h('strong', r.success ? 'Delivered. ' : 'Not delivered. '),
        `Outcome ${r.outcome}${r.response ? `, status ${r.response.status}` : ''}, ${Math.round(r.duration_ms * 10) / 10} ms`,
        r.error ? ` — ${r.error}` : ''),
      requestView(r.request), responseView(r.response));
    } catch (e) {
      testOut.replaceChildren(errorBox(e));
    } finally {
      testBtn.disabled = false;
    }
  });

  const form = h('form.hook-form#hook-form', { novalidate: true, on: { input: schedule, change: schedule, submit: async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const saved = hook
        ? await call('PUT', hookPath(app, hook.id), spec())
        : await post(`${appPath(app)}/webhooks`, spec());
      toast(hook ? 'Saved' : 'Webhook created');
      location.hash = `#/a/${app}/w/${saved.id}/edit`;
      if (hook) route();
    } catch (err) {
      clearErrors();
      showError(err.message);
      (container.querySelector('[aria-invalid]') || general).scrollIntoView?.({ block: 'center' });
    } finally {
      save.disabled = false;
    }
  } } },
  h('div.cols',
    h('div.left',
      general,
      h('section.card', h('h2', 'Event selection'),
        field('Triggers', picker.input, 'Kinds, prefix.* patterns (message.push.*) or *.'),
        h('p.muted.small', 'Type to search; Enter adds; Backspace removes the last.')),
      h('section.card', h('h2', 'Request'),
        field('Name', name),
        h('div.row.tight', field('Method', method), h('div.grow', field('URL', url, 'Liquid allowed in the path and query: {{ event.external_id }}'))),
        h('fieldset', h('legend', 'Headers'), headers.el),
        h('fieldset', h('legend', 'Body'), field('Body format', body.select), body.el)),
      h('section.card', h('h2', 'Delivery'),
        h('label.check', enabled, 'Enabled'),
        field('Signing', signing),
        h('div.row.tight', field('Rate limit (requests)', rateN), field('Per', rateP)),
        field('Max requests in flight', inflight),
        field('Ordering', ordering),
        hook && signingBox(app, hook)),
      h('div.row.end.sticky', testBtn, save)),
    h('aside.right',
      h('section.card.preview', h('div.row.between', h('h2', 'cURL preview'), previewState),
        h('p.muted.small', 'The exact request for the sample event below, updated as you type.'),
        curl,
        field('Sample event kind', kind),
        field('Sample event (JSON)', sample), sampleErr),
      h('section.card', h('h2', 'Test'), hook ? h('p.muted.small', 'Sends the sample event now, signed, and shows the full exchange. Not counted in stats.')
        : h('p.muted.small', 'Create the webhook first, then send test requests from here.'), testOut))));
  // The picker's own wrapper sits where its input was placed by field().
  const pickerField = picker.input.closest('.field');
  pickerField.insertBefore(picker.el, pickerField.querySelector('.hint'));
  picker.el.insertBefore(picker.input, picker.el.querySelector('.options'));
  picker.el.addEventListener('change', schedule);
  container.replaceChildren(form);
  preview();
}

function signingBox(app, hook) {
  const out = h('div.copyline', h('span.muted', 'loading key…'));
  const load = async () => {
    try {
      const s = await get(`${hookPath(app, hook.id)}/secret`);
      out.replaceChildren(h('code.key', s.key), copyButton(s.key),
        s.previous_key_expires_at ? h('span.muted.small', ` previous key signs too until ${when(s.previous_key_expires_at)}`) : '');
    } catch (e) {
      out.replaceChildren(errorBox(e));
    }
  };
  load();
  return h('div.field', h('p.label', hook.signing === 'ed25519' ? 'Verifying key (public)' : 'Signing secret'), out,
    h('button.secondary.small', { type: 'button', on: { click: async () => {
      if (!(await confirmDialog('Rotate the key? The old one keeps signing for 24 hours.', 'Rotate'))) return;
      try {
        await post(`${hookPath(app, hook.id)}/secret/rotate`, {});
        toast('Key rotated');
        load();
      } catch (e) {
        toast(e.message, true);
      }
    } } }, 'Rotate key'));
}

// ---------- a webhook's page ----------

async function webhookView(gen, app, id, tab) {
  const body = h('div.tab-body');
  const head = h('div.hook-head', loading());
  setView(h('p', h('a', { href: `#/a/${app}` }, '← Webhooks')), head,
    h('nav.tabs', { 'aria-label': 'Webhook' }, ['stats', 'logs', 'deliveries', 'edit'].map((t) =>
      h('a', { href: `#/a/${app}/w/${id}/${t}`, 'aria-current': t === tab ? 'page' : null },
        { stats: 'Stats', logs: 'Logs', deliveries: 'Deliveries', edit: 'Settings' }[t]))), body);
  get(hookPath(app, id)).then((w) => { if (gen === generation) head.replaceChildren(...hookHead(app, w).filter(Boolean)); })
    .catch((e) => { if (gen === generation) head.replaceChildren(errorBox(e, route)); });
  if (tab === 'stats') statsTab(gen, app, id, body);
  else if (tab === 'logs') logsTab(gen, app, id, body);
  else if (tab === 'deliveries') deliveriesTab(gen, app, id, body);
  else formView(gen, app, id, body);
}

function hookHead(app, w) {
  const toggle = h('button.secondary', { type: 'button', on: { click: async () => {
    try {
      await post(`${hookPath(app, w.id)}/${w.status?.state === 'disabled' ? 'enable' : 'disable'}`, {});
      toast(w.status?.state === 'disabled' ? 'Enabled: held deliveries resume' : 'Disabled: new events are recorded as skipped');
      route();
    } catch (e) { toast(e.message, true); }
  } } }, w.status?.state === 'disabled' ? 'Enable' : 'Disable');
  const del = h('button.danger', { type: 'button', on: { click: async () => {
    if (!(await confirmDialog(`Delete “${w.name}”, with its deliveries, stats and logs? This cannot be undone.`))) return;
    try {
      await call('DELETE', hookPath(app, w.id));
      toast('Webhook deleted');
      location.hash = `#/a/${app}`;
    } catch (e) { toast(e.message, true); }
  } } }, 'Delete');
  return [h('div.row.between', h('div', h('h1', w.name, ' ', statusBadge(w.status)),
    h('p.muted', `${w.method || 'POST'} ${w.url}`)), h('div.row', toggle, del)),
  w.status?.state === 'disabled' && heldNotice(app, w),
  w.status?.state === 'failing' && h('div.notice.bad', h('strong', 'Failing now: '), w.status.reason || 'recent attempts fail')];
}

function heldNotice(app, w) {
  const held = h('span', '');
  get(`${hookPath(app, w.id)}/stats?range=1h`).then((st) => {
    held.textContent = `Held now: ${st.deliveries.pending} pending, ${st.deliveries.skipped} skipped. `;
  }).catch(() => {});
  return h('div.notice.warn#held', h('strong', 'Disabled '), `since ${when(w.status.disabled_at)}: ${w.status.reason || 'no reason given'}. `,
    held, 'Pending deliveries are held until it is enabled again; new events are recorded as skipped (replay them from Deliveries).');
}

async function statsTab(gen, app, id, box) {
  const range = h('select', { name: 'range' }, h('option', { value: '1h' }, 'Last hour'), h('option', { value: '24h' }, 'Last 24 hours'), h('option', { value: '7d' }, 'Last 7 days'));
  range.value = sessionStorage.getItem('hookline.range') || '1h';
  const content = h('div', loading());
  const load = async () => {
    sessionStorage.setItem('hookline.range', range.value);
    let st;
    try {
      st = await get(`${hookPath(app, id)}/stats?range=${range.value}`);
    } catch (e) {
      if (gen === generation) content.replaceChildren(errorBox(e, load));
      return;
    }
    if (gen !== generation) return;
    const a = st.all_time;
    const c = a.counts;
    const ms = (v) => (v == null ? '–' : `${Math.round(v * 10) / 10} ms`);
    const num = (label, v, cls = '') => h(`div.stat${cls}`, h('span.n', String(v)), h('span.l', label));
    const chart = h('div.chart#chart');
    const empty = !st.series.points.some((p) => OUTCOMES.some(([k]) => p[k]));
    content.replaceChildren(
      h('section.card', h('h2', 'All time'), h('div.stats',
        num('attempts', a.attempts), num('2xx', c['2xx'], '.ok'), num('4xx', c['4xx'], '.warn'), num('5xx', c['5xx'], '.bad'),
        num('timeouts', c.timeout), num('network errors', c.network_error), num('render errors', c.render_error),
        num('p50', ms(a.latency_ms.p50)), num('p99', ms(a.latency_ms.p99)))),
      h('div.cols2',
        h('section.card', h('h2', 'Status'), h('p', statusBadge(liveStatus(st.status, st.series.points)), ' ',
          liveStatus(st.status, st.series.points).reason || ''),
          st.status.disabled_at && h('p.muted', `since ${when(st.status.disabled_at)}`),
          h('p.muted', `Deliveries: ${st.deliveries.pending} pending, ${st.deliveries.succeeded} succeeded, ${st.deliveries.failed} failed, ${st.deliveries.skipped} skipped`)),
        h('section.card', h('h2', 'Queue now'), st.queue
          ? h('p', `${st.queue.in_memory} waiting in memory, ${st.queue.in_flight} in flight; waited p50 ${st.queue.waited_ms?.p50 ?? '–'} ms, p99 ${st.queue.waited_ms?.p99 ?? '–'} ms`)
          : h('p.muted', 'Not being delivered (disabled or not loaded).'))),
      h('section.card', h('h2', 'Responses over time'),
        empty && h('p.muted', 'No attempts in this range yet. Send events to the app, or use Send test in Settings (tests are not counted).'),
        chart));
    drawChart(chart, st.series);
  };
  range.addEventListener('change', load);
  box.replaceChildren(h('div.row.end', field('Range', range)), content);
  load();
}

async function logsTab(gen, app, id, box) {
  const filter = h('select', { name: 'outcome' }, h('option', { value: '' }, 'All outcomes'),
    OUTCOMES.map(([k, label]) => h('option', { value: k }, label)));
  const list = h('ul.list.logs#logs');
  const more = h('button.secondary', { type: 'button', hidden: true }, 'Load more');
  const state = h('div');
  let before = null;
  let all = [];
  const draw = () => {
    const shown = all.filter((l) => !filter.value || l.outcome === filter.value);
    list.replaceChildren(...shown.map((l) => h('li.log', h('details',
      h('summary', h(`span.badge.o${l.outcome}`, l.outcome), ' ', h('strong', l.status ?? l.error_code), ' ',
        h('span', `${l.request?.method || ''} ${host(l.request?.url || '')}`), ' ',
        h('span.muted', `${when(l.at)} · ${Math.round(l.duration_ms * 10) / 10} ms · attempt ${l.attempt}`)),
      h('p.muted.small', `delivery ${l.delivery_id}, event ${l.event_id}, ${l.error_code}`),
      l.request && requestView(l.request), responseView(l.response)))));
    if (!all.length) state.replaceChildren(h('div.empty', h('p', 'No logged attempts yet.'), h('p.muted', 'Failures are always logged; successes are sampled. Attempts appear here as events are delivered.')));
    else if (!shown.length) state.replaceChildren(h('p.muted', 'No attempt with this outcome among those loaded. Load more, or choose another outcome.'));
    else state.replaceChildren();
  };
  const load = async () => {
    more.disabled = true;
    try {
      const r = await get(`${hookPath(app, id)}/logs?limit=50${before != null ? `&before=${before}` : ''}`);
      if (gen !== generation) return;
      all = all.concat(r.logs);
      if (r.logs.length) before = r.logs[r.logs.length - 1].id;
      more.hidden = r.logs.length < 50;
      draw();
    } catch (e) {
      state.replaceChildren(errorBox(e, load));
    } finally {
      more.disabled = false;
    }
  };
  filter.addEventListener('change', draw);
  more.addEventListener('click', load);
  box.replaceChildren(h('div.row.between', h('p.muted', 'A sampling of recent attempts, newest first. Secret values are masked.'), field('Outcome', filter)), list, state, more);
  state.replaceChildren(loading());
  load();
}

async function deliveriesTab(gen, app, id, box) {
  const which = h('select', { name: 'state' }, ['failed', 'skipped', 'pending', 'succeeded'].map((s) => h('option', s)));
  const list = h('div');
  const load = async () => {
    list.replaceChildren(loading());
    try {
      const r = await get(`${hookPath(app, id)}/deliveries?state=${which.value}`);
      if (gen !== generation) return;
      if (!r.deliveries.length) {
        list.replaceChildren(h('div.empty', h('p', `No ${which.value} deliveries.`),
          h('p.muted', which.value === 'failed' ? 'Deliveries that fail permanently land here, with their last error, ready to replay.' : 'Nothing to do here.')));
        return;
      }
      list.replaceChildren(h('ul.list#deliveries', r.deliveries.map((d) => h('li.item',
        h('div.grow', h('code', d.id), h('p.muted.small', `event ${d.event_id} · ${d.attempts} attempt(s) · updated ${when(d.updated_at)}`),
          (d.last_error || d.last_status) && h('p.small', `Last: ${d.last_status ?? ''} ${d.last_error ?? ''}`)),
        (d.state === 'failed' || d.state === 'skipped') && h('button.secondary.small', { type: 'button', on: { click: async () => {
          try {
            await post(`${hookPath(app, id)}/deliveries/${encodeURIComponent(d.id)}/replay`, {});
            toast('Replaying');
            load();
          } catch (e) { toast(e.message, true); }
        } } }, 'Replay')))));
    } catch (e) {
      list.replaceChildren(errorBox(e, load));
    }
  };
  const all = h('button.secondary', { type: 'button', on: { click: async () => {
    if (!(await confirmDialog('Replay every failed and skipped delivery of this webhook now?', 'Replay all'))) return;
    try {
      const r = await post(`${hookPath(app, id)}/deliveries/replay`, {});
      toast(`Replaying ${r.replayed ?? ''} deliveries`);
      load();
    } catch (e) { toast(e.message, true); }
  } } }, 'Replay all failed and skipped');
  which.addEventListener('change', load);
  box.replaceChildren(h('div.row.between', field('State', which), all), list);
  load();
}

// ---------- the browser half's snippet ----------

async function snippetView(gen, app) {
  let appInfo;
  setView(h('h1', 'Browser snippet'), loading());
  try {
    appInfo = await get(appPath(app));
  } catch (e) {
    if (gen === generation) setView(h('h1', 'Browser snippet'), errorBox(e, route));
    return;
  }
  if (gen !== generation) return;
  const cors = h('input', { type: 'checkbox', name: 'cors' });
  const code = h('pre.code#snippet');
  const bridge = `${location.origin}/v1/apps/${app}/browser-events`;
  const draw = () => {
    code.textContent = `<script>window.Hookline = window.Hookline || [];</script>
<script src="/hookline/hookline.js" defer></script>
<script>
  Hookline.push(["init", {
    appId: ${JSON.stringify(app)},
    serviceWorkerPath: "/hookline-sw.js",
    webhooks: {
      cors: ${cors.checked},
      "notification.displayed": ${JSON.stringify(bridge)},
      "notification.clicked": ${JSON.stringify(bridge)},
      "notification.dismissed": ${JSON.stringify(bridge)},
    },
  }]);
</script>`;
  };
  cors.addEventListener('change', draw);
  draw();
  const origins = appInfo.bridge_origins?.length ? appInfo.bridge_origins.join(', ') : 'any origin (*)';
  setView(h('h1', 'Browser snippet'),
    h('p.muted', `Paste this into the pages of ${appInfo.name}'s site. The browser half then sends the notification.displayed, clicked and dismissed webhooks to this app's bridge, which turns them into message.push.displayed, …clicked and …dismissed events for its webhooks.`),
    h('section.card', h('div.row.between', h('label.check', cors, 'cors: send CORS requests (JSON with Content-Type; needs the bridge to allow your origin)'), copyButton(() => code.textContent)),
      code, h('p.muted.small', `Bridge URL: ${bridge}. Origins allowed: ${origins}.`)),
    recentBrowserEvents(gen, app));
}

/** The events the bridge received lately, newest first, with a refresh. */
function recentBrowserEvents(gen, app) {
  const list = h('div#browser-events');
  const load = async () => {
    list.replaceChildren(loading());
    try {
      const r = await get(`${appPath(app)}/browser-events?limit=20`);
      if (gen !== generation) return;
      if (!r.events.length) {
        list.replaceChildren(h('div.empty', h('p', 'No browser events yet.'),
          h('p.muted', 'Once the snippet is on a page and a notification is shown, clicked or dismissed, its webhook arrives here.')));
        return;
      }
      list.replaceChildren(h('ul.list', r.events.map(({ received_at, event }) => h('li.item',
        h('div.grow',
          h('p', h('code', event.kind), ' ', event.message?.title || ''),
          h('p.muted.small', [`received ${when(received_at)}`, event.external_id && `user ${event.external_id}`,
            event.message?.id && `notification ${event.message.id}`, event.url && `url ${event.url}`,
            event.action && `button ${event.action}`].filter(Boolean).join(' · ')))))));
    } catch (e) {
      list.replaceChildren(errorBox(e, load));
    }
  };
  load();
  return h('section.card', h('div.row.between', h('h2', 'Recent browser events'),
    h('button.secondary.small', { type: 'button', on: { click: load } }, 'Refresh')),
    h('p.muted', 'What the bridge received, as the events it made of them (message.push.displayed, …clicked, …dismissed), newest first.'),
    list);
}

// ---------- routing ----------

function route() {
  const gen = ++generation;
  const s = session();
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  if (!s) {
    renderShell(null);
    signInView();
    return;
  }
  let app = parts[0] === 'a' ? parts[1] : s.app;
  if (!s.admin && parts[0] === 'a' && parts[1] !== s.app) app = s.app;
  renderShell(s, app);
  main.focus({ preventScroll: true });
  if (parts[0] === 'apps' || (!parts.length && s.admin)) {
    if (!s.admin) { location.hash = `#/a/${s.app}`; return; }
    appsView(gen);
  } else if (parts[0] === 'a' && parts[2] === 'new') {
    setView(h('p', h('a', { href: `#/a/${app}` }, '← Webhooks')), h('h1', 'New webhook'), h('div#form-host'));
    formView(gen, app, null, document.getElementById('form-host'));
  } else if (parts[0] === 'a' && parts[2] === 'w' && parts[3]) {
    webhookView(gen, app, parts[3], parts[4] || 'stats');
  } else if (parts[0] === 'a' && parts[2] === 'snippet') {
    snippetView(gen, app);
  } else {
    webhooksView(gen, app);
  }
}

window.addEventListener('hashchange', route);
route();
