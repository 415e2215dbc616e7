// The demo page's own code: reads the form, calls Hookline.init, triggers demo pushes and shows
// the webhooks the local receiver got. Query parameters prefill the form:
// ?hooks=<base URL> (each event posts to <base>/<event name>), or ?hook=<URL> (every event posts
// there, e.g. a hookline server's bridge: /v1/apps/<appId>/browser-events), and ?cors=1.
// Served by `hookline serve` through scripts/run.sh, the page finds /demo-config.json: its webhooks
// then default to the server's bridge and it lists what the demo app's event webhook delivered.
(function () {
  'use strict';
  var $ = document.querySelector.bind(document);
  var params = new URLSearchParams(location.search);
  var form = $('#init-form');
  var events = ['notification.displayed', 'notification.clicked', 'notification.dismissed'];
  var base = params.get('hooks') || location.origin + '/hooks/';
  events.forEach(function (event) {
    form.elements[event].value = params.get('hook') || base.replace(/\/?$/, '/') + event;
  });
  form.elements.cors.checked = params.get('cors') === '1';

  var count = 0;
  function payload() {
    count += 1;
    return JSON.stringify({
      id: 'demo-' + Date.now().toString(36) + '-' + count,
      heading: 'Hello from hookline',
      content: 'Click me, press a button, or dismiss me.',
      url: location.origin + '/?opened=' + count,
      icon: location.origin + '/icon.svg',
      data: { campaign: 'demo', n: count },
      buttons: [
        { id: 'like', text: 'Like' },
        { id: 'later', text: 'Later' },
      ],
    }, null, 2);
  }
  $('#payload').value = payload();

  function status(el, text, error) {
    el.textContent = text;
    el.className = error ? 'error' : '';
  }

  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var webhooks = { cors: form.elements.cors.checked };
    events.forEach(function (event) {
      var url = form.elements[event].value.trim();
      if (url) webhooks[event] = url;
    });
    var options = { appId: form.elements.appId.value, serviceWorkerPath: '/dist/hookline-sw.js', webhooks: webhooks };
    status($('#init-status'), 'saving…');
    Promise.resolve(window.Notification && Notification.requestPermission())
      .then(function () { return Hookline.init(options); })
      .then(function (r) { status($('#init-status'), 'saved; userId ' + r.userId); })
      .catch(function (err) { status($('#init-status'), err.message, true); });
  });

  $('#demo-push').addEventListener('click', function () {
    status($('#push-status'), 'sending…');
    Hookline.demoPush($('#payload').value)
      .then(function () {
        status($('#push-status'), 'shown');
        $('#payload').value = payload();
      })
      .catch(function (err) { status($('#push-status'), err.message, true); });
  });

  // The log panel: fed by the receiver of scripts/serve-demo.sh, when the page is served by it.
  var seen = 0;
  function poll() {
    fetch('/hooks/log', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error(); return r.json(); })
      .then(function (log) {
        $('#log-hint').textContent = 'Requests received by this server at /hooks/ (newest last).';
        log.slice(seen).forEach(function (entry) {
          var li = document.createElement('li');
          li.textContent = entry.at + '  ' + entry.method + ' ' + entry.path +
            '\ncontent-type: ' + (entry.contentType || '-') + '   x-onesignal-event: ' + (entry.event || '-') +
            '\n' + entry.body;
          $('#log').appendChild(li);
        });
        seen = log.length;
        setTimeout(poll, 1000);
      })
      .catch(function () {
        $('#log-hint').textContent = 'No receiver on this server: the webhooks go to the URLs above ' +
          '(run scripts/serve-demo.sh for a local receiver that lists them here).';
      });
  }
  // Served by hookline (scripts/run.sh): the bridge and the event webhook's delivery logs.
  function showServerLog(demo) {
    $('#server-section').hidden = false;
    var route = '/v1/apps/' + demo.appId + '/webhooks/' + demo.webhookId + '/logs?limit=20';
    fetch(route, { cache: 'no-store', headers: { authorization: 'Bearer ' + demo.apiKey } })
      .then(function (r) { if (!r.ok) throw new Error('logs: HTTP ' + r.status); return r.json(); })
      .then(function (body) {
        var list = $('#server-log');
        list.textContent = '';
        body.logs.forEach(function (entry) {
          var li = document.createElement('li');
          var request = entry.request || {};
          li.textContent = new Date(entry.at).toISOString() + '  ' + (request.method || '') + ' ' +
            (request.url || '') + '  →  ' + (entry.status || entry.error_code) + ' in ' +
            entry.duration_ms.toFixed(1) + ' ms (attempt ' + entry.attempt + ')\n' + (request.body || '');
          list.appendChild(li);
        });
      })
      .catch(function (err) { $('#server-log').textContent = err.message; })
      .then(function () { setTimeout(function () { showServerLog(demo); }, 1000); });
  }
  // A stacked bar per minute of the webhook's attempts by outcome, from its stats series.
  var outcomes = ['2xx', '4xx', '5xx', 'timeout', 'network_error', 'render_error'];
  function drawChart(stats) {
    var svg = $('#chart');
    var points = stats.series.points;
    var totals = stats.all_time.counts;
    $('#server-totals').textContent = outcomes.map(function (k) { return k + ' ' + totals[k]; }).join(', ') +
      '; latency p50 ' + fmtMs(stats.all_time.latency_ms.p50) + ', p99 ' + fmtMs(stats.all_time.latency_ms.p99);
    var max = 1;
    points.forEach(function (p) {
      var sum = outcomes.reduce(function (a, k) { return a + p[k]; }, 0);
      if (sum > max) max = sum;
    });
    var width = 600, height = 120, bar = width / Math.max(points.length, 1);
    var ns = 'http://www.w3.org/2000/svg';
    svg.textContent = '';
    points.forEach(function (p, i) {
      var y = height;
      outcomes.forEach(function (k) {
        var n = p[k];
        if (!n) return;
        var h = (n / max) * (height - 10);
        var rect = document.createElementNS(ns, 'rect');
        rect.setAttribute('x', (i * bar + 1).toFixed(1));
        rect.setAttribute('width', Math.max(bar - 2, 1).toFixed(1));
        rect.setAttribute('y', (y - h).toFixed(1));
        rect.setAttribute('height', h.toFixed(1));
        rect.setAttribute('class', 'k' + k);
        var title = document.createElementNS(ns, 'title');
        title.textContent = new Date(p.t * 1000).toISOString().slice(11, 16) + ' ' + k + ': ' + n;
        rect.appendChild(title);
        svg.appendChild(rect);
        y -= h;
      });
    });
    var axis = document.createElementNS(ns, 'text');
    axis.setAttribute('x', '2');
    axis.setAttribute('y', '136');
    axis.textContent = 'max ' + max + '/min';
    svg.appendChild(axis);
  }
  function fmtMs(v) { return v == null ? '–' : v.toFixed(1) + ' ms'; }
  function showServerStats(demo) {
    var route = '/v1/apps/' + demo.appId + '/webhooks/' + demo.webhookId + '/stats?range=30m';
    fetch(route, { cache: 'no-store', headers: { authorization: 'Bearer ' + demo.apiKey } })
      .then(function (r) { if (!r.ok) throw new Error('stats: HTTP ' + r.status); return r.json(); })
      .then(drawChart)
      .catch(function (err) { $('#server-totals').textContent = err.message; })
      .then(function () { setTimeout(function () { showServerStats(demo); }, 2000); });
  }

  fetch('/demo-config.json', { cache: 'no-store' })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (demo) {
      if (!demo) return poll();
      $('#log-hint').textContent = 'Served by hookline: the webhooks above go to its bridge, and ' +
        'what it made of them is listed in 4.';
      form.elements.appId.value = demo.appId;
      if (!params.get('hook') && !params.get('hooks')) {
        events.forEach(function (event) { form.elements[event].value = demo.bridge; });
      }
      showServerLog(demo);
      showServerStats(demo);
    })
    .catch(poll);
})();
