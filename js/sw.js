// hookline service-worker shim: wires the worker's events to the wasm module, nothing more.
// `scripts/build-package.sh` wraps it with wasm-bindgen's generated `wasm_bindgen` in one
// function scope, giving `hookline-sw.js`: a classic worker script that a site registers as its
// service worker, or adds to its own with `importScripts('/hookline-sw.js')`.
//
// The wasm is looked up next to the worker script (`hookline-sw.wasm`); a worker that imports
// hookline from elsewhere sets `self.HOOKLINE_WASM_URL` before `importScripts`.

// Loading starts at every worker start (a push can wake a worker that was stopped), and the
// listeners are added now, at first evaluation, as browsers require. A failed load is tried
// again at the next event.
var ready;
function load() {
  return ready || (ready = wasm_bindgen({
    module_or_path: self.HOOKLINE_WASM_URL || new URL('hookline-sw.wasm', self.location.href),
  }).catch(function (error) {
    ready = null;
    throw error;
  }));
}
load().catch(function () {});

function run(event) {
  return load().then(function () {
    return wasm_bindgen.handle(event);
  }).catch(function (error) {
    console.warn('hookline: module failed to load or run:', error);
    // A push must still show something: browsers penalise pushes that show nothing.
    if (event.type === 'push') return self.registration.showNotification(self.location.host);
  });
}

['push', 'notificationclick', 'notificationclose', 'message'].forEach(function (type) {
  self.addEventListener(type, function (event) {
    var done = run(event);
    // A script-made event (tests, the site's own code) may refuse waitUntil; the work still runs.
    try {
      event.waitUntil(done);
    } catch (e) {}
  });
});
