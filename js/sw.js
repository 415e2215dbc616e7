// hookline service-worker shim: wires the worker's events to the wasm module, nothing more.
// `scripts/build-package.sh` wraps it with wasm-bindgen's generated glue (as `glue()`, which makes
// a fresh `wasm_bindgen` each call) in one function scope, giving `hookline-sw.js`: a classic
// worker script that a site registers as its service worker, or adds to its own with
// `importScripts('/hookline-sw.js')`.
//
// The wasm is looked up next to the worker script (`hookline-sw.wasm`); a worker that imports
// hookline from elsewhere sets `self.HOOKLINE_WASM_URL` before `importScripts`.

// The script and the wasm must come from one build: the glue calls the module's functions by
// short names given by position, so another build's wasm could link and run the wrong ones.
// BUILD is the first 8 bytes of the SHA-256 of this build's wasm, in decimal joined by dots (written
// in by build-package.sh): a wasm is only run when its bytes hash to it. The wasm is kept in a cache named after it at `install`
// (an update whose wasm does not match fails to install, and the worker in place stays), so a
// worker starts offline, and an older worker still in control runs its own wasm, not the
// update's; `activate` drops the other builds' caches.
var BUILD = 'HOOKLINE_BUILD';
var CACHE = 'hookline-wasm-' + BUILD;
var WASM = String(self.HOOKLINE_WASM_URL || new URL('hookline-sw.wasm', self.location.href));

// `bytes` when they are this build's wasm, else a rejection that says so.
function check(bytes) {
  return crypto.subtle.digest('SHA-256', bytes).then(function (digest) {
    if (new Uint8Array(digest, 0, 8).join('.') === BUILD) return bytes;
    var error = new Error('hookline: ' + WASM + ' is from another build');
    error.otherBuild = true;
    throw error;
  });
}

// This build's wasm from the network (past the HTTP cache, which may hold another build's), kept
// in the cache. Rejects when it cannot be fetched or is another build's.
function fetchWasm() {
  return fetch(WASM, { cache: 'no-cache' }).then(function (response) {
    if (!response.ok) throw new Error('hookline: ' + WASM + ' answered ' + response.status);
    return response.arrayBuffer();
  }).then(check).then(function (bytes) {
    // Kept as it came: only this script reads it, as bytes.
    return caches.open(CACHE).then(function (cache) {
      return cache.put(WASM, new Response(bytes));
    }).catch(function () {}).then(function () {
      return bytes;
    });
  });
}

// This build's wasm: the cached copy, else the network's.
function wasm() {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(WASM);
  }).then(function (cached) {
    return cached ? cached.arrayBuffer().then(check).catch(fetchWasm) : fetchWasm();
  }, fetchWasm);
}

self.addEventListener('install', function (event) {
  event.waitUntil(fetchWasm().catch(function (error) {
    // Another build's wasm fails the install: the worker in place keeps running its own. A wasm
    // that cannot be fetched does not: the worker still shows pushes and opens clicks without it.
    console.warn(error.otherBuild ? 'hookline: not installed:' : 'hookline: could not cache the module:', error);
    if (error.otherBuild) throw error;
  }));
});

self.addEventListener('activate', function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.map(function (key) {
      return key.indexOf('hookline-wasm-') === 0 && key !== CACHE && caches.delete(key);
    }));
  }));
});

// Loading starts at every worker start (a push can wake a worker that was stopped), and the
// listeners are added now, at first evaluation, as browsers require. A failed load is tried
// again at the next event; so is one after the module trapped (a trap can leave its stack
// pointer or its globals anywhere): each load makes a fresh instance, memory and globals.
var ready;
function load() {
  return ready || (ready = wasm().then(function (bytes) {
    var fresh = glue();
    return fresh(bytes).then(function () {
      return fresh;
    });
  }).catch(function (error) {
    ready = null;
    throw error;
  }));
}
load().catch(function () {});

function run(event) {
  return load().then(function (module) {
    return module.handle(event);
  }).catch(function (error) {
    if (error instanceof WebAssembly.RuntimeError) ready = null;
    console.warn('hookline: module failed to load or run:', error);
    // A push must still show something: browsers penalise pushes that show nothing.
    if (event.type === 'push') return self.registration.showNotification(self.location.host);
  });
}

// A click opens (or focuses) the notification's URL at once, from the copy of the push kept on the
// notification, without waiting for the module: Firefox lets a worker open a window for only about
// a second after a click, a stopped worker must first load the module, and a module that cannot
// load must not leave a click doing nothing. The module sends the click's webhook alongside.
// The keys of the notifications clicked lately: Firefox also fires a close for a clicked
// notification, which is not passed on (the seed says a click is not a dismissal).
var clicked = [];

function kept(event) {
  return (event.notification.data || {}).hookline || {};
}

function open(event) {
  event.notification.close();
  var copy = kept(event);
  if (copy.key && clicked.push(copy.key) > 32) clicked.shift();
  // A button with a URL of its own (OneSignal's `o[].u`) opens that one.
  var url = (copy.b || {})[event.action] || copy.url;
  var target;
  try {
    target = new URL(url, self.location.href).href;
  } catch (e) {}
  if (typeof url !== 'string' || !target) return;
  // URLs are compared as the browser normalised them.
  return self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url === target) return windows[i].focus();
    }
    return self.clients.openWindow(target);
  }).catch(function (error) {
    console.warn("hookline: could not open the notification's url:", error);
  });
}

['push', 'notificationclick', 'notificationclose', 'message'].forEach(function (type) {
  self.addEventListener(type, function (event) {
    if (type === 'notificationclose' && clicked.indexOf(kept(event).key) >= 0) return;
    var opened = type === 'notificationclick' && open(event);
    var done = opened ? Promise.all([opened, run(event)]) : run(event);
    // A script-made event (tests, the site's own code) may refuse waitUntil; the work still runs.
    try {
      event.waitUntil(done);
    } catch (e) {}
  });
});
