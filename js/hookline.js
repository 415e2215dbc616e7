// hookline page script: registers hookline's service worker and hands it the init options.
// The worker validates them (the same Rust code it runs for events) and saves them in IndexedDB.
//
//   Hookline.init({ appId, serviceWorkerPath, userId, webhooks: { cors, 'notification.clicked': url } })
//     → Promise<{ userId }>, rejected with an Error naming the refused field (`error.field`).
//   window.Hookline = window.Hookline || []; Hookline.push(['init', { ... }]);  // before this loads
(function (global) {
  'use strict';
  var queued = global.Hookline;

  // The worker that will answer: the active one, or the one being installed once it activates.
  function activeWorker(registration) {
    return new Promise(function (resolve) {
      if (registration.active) return resolve(registration.active);
      var worker = registration.installing || registration.waiting;
      worker.addEventListener('statechange', function () {
        if (worker.state === 'activated') resolve(worker);
      });
    });
  }

  // A worker that never answers (stuck, or not hookline's) must not leave the page waiting.
  var ANSWER_MS = 10000;

  function ask(worker, message) {
    return new Promise(function (resolve, reject) {
      var channel = new MessageChannel();
      var timer = setTimeout(function () {
        reject(new Error('hookline: no answer from the service worker at ' + worker.scriptURL));
      }, ANSWER_MS);
      channel.port1.onmessage = function (event) {
        clearTimeout(timer);
        var reply = event.data || {};
        if (reply.ok) return resolve(reply);
        var error = new Error('hookline: ' + (reply.error || 'no answer from the service worker'));
        error.field = reply.field;
        reject(error);
      };
      worker.postMessage(message, [channel.port2]);
    });
  }

  var registration;

  function init(options) {
    options = options || {};
    if (!('serviceWorker' in navigator)) {
      return Promise.reject(new Error('hookline: this browser has no service workers'));
    }
    var path = options.serviceWorkerPath || '/hookline-sw.js';
    registration = navigator.serviceWorker.register(path).then(activeWorker);
    return registration.then(function (worker) {
      return ask(worker, { hookline: 'init', options: JSON.stringify(options) });
    }).then(function (reply) {
      api.userId = reply.userId;
      return { userId: reply.userId };
    });
  }

  // Runs `payload` (hookline's push JSON, as a string or an object) through the worker's push
  // handler, as a real push would: for demos and tests, where no push service is at hand.
  function demoPush(payload) {
    if (!registration) return Promise.reject(new Error('hookline: call init first'));
    if (typeof payload !== 'string') payload = JSON.stringify(payload);
    return registration.then(function (worker) {
      return ask(worker, { hookline: 'demo', payload: payload });
    });
  }

  // The queued form: `["init", options]`, or a function to run once hookline has loaded.
  function push(command) {
    if (typeof command === 'function') return command();
    var name = command && command[0];
    if (name === 'init') {
      return init(command[1]).catch(function (error) {
        console.error(error);
      });
    }
    console.error('hookline: unknown command ' + name);
  }

  var api = { init: init, push: push, demoPush: demoPush, userId: undefined };
  global.Hookline = api;
  if (Array.isArray(queued)) queued.forEach(push);
})(self);
