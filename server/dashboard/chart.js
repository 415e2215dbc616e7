// A small SVG chart of a webhook's stats series: stacked bars of outcomes per step (left axis,
// attempts) and latency p50/p99 lines (right axis, ms); hovering or focusing a step shows its
// values. Written here rather than vendored: one chart, ~150 lines.
const NS = 'http://www.w3.org/2000/svg';
export const OUTCOMES = [
  ['2xx', '2xx', 'var(--ok)'],
  ['4xx', '4xx', 'var(--warn)'],
  ['5xx', '5xx', 'var(--bad)'],
  ['timeout', 'timeout', 'var(--timeout)'],
  ['network_error', 'network error', 'var(--net)'],
  ['render_error', 'render error', 'var(--render)'],
];

function el(tag, attrs = {}, parent) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function timeLabel(t, step) {
  const d = new Date(t * 1000);
  if (step >= 3600) return d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' }) + ' ' +
    d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** Draws `series` ({step, points}) into `host` (emptied first). */
export function drawChart(host, series) {
  host.replaceChildren();
  const points = series.points || [];
  const W = Math.max(320, host.clientWidth || 800);
  const H = 260;
  const m = { l: 44, r: 52, t: 12, b: 28 };
  const iw = W - m.l - m.r;
  const ih = H - m.t - m.b;
  const totals = points.map((p) => OUTCOMES.reduce((s, [k]) => s + (p[k] || 0), 0));
  // A multiple of 4: each of the 4 grid lines is a whole number of attempts.
  const yMax = Math.max(4, Math.ceil(niceMax(Math.max(0, ...totals)) / 4) * 4);
  const lat = points.flatMap((p) => [p.latency_ms?.p50, p.latency_ms?.p99]).filter((v) => v != null);
  const lMax = niceMax(Math.max(0, ...lat));
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', height: H, role: 'img',
    'aria-label': `Attempts by outcome and latency, ${points.length} steps` });
  const g = el('g', { transform: `translate(${m.l},${m.t})` }, svg);
  for (let i = 0; i <= 4; i++) {
    const y = ih - (ih * i) / 4;
    el('line', { x1: 0, x2: iw, y1: y, y2: y, class: 'grid' }, g);
    el('text', { x: -6, y: y + 4, class: 'axis', 'text-anchor': 'end' }, g).textContent =
      String((yMax * i) / 4);
    el('text', { x: iw + 6, y: y + 4, class: 'axis' }, g).textContent =
      `${lMax < 10 ? (lMax * i) / 4 : Math.round((lMax * i) / 4)}ms`;
  }
  const n = Math.max(1, points.length);
  const bw = iw / n;
  points.forEach((p, i) => {
    let y = ih;
    for (const [k, , color] of OUTCOMES) {
      const v = p[k] || 0;
      if (!v) continue;
      const h = (v / yMax) * ih;
      y -= h;
      el('rect', { x: i * bw + bw * 0.1, y, width: Math.max(1, bw * 0.8), height: h, fill: color }, g);
    }
  });
  for (const [key, cls] of [['p50', 'p50'], ['p99', 'p99']]) {
    let d = '';
    points.forEach((p, i) => {
      const v = p.latency_ms?.[key];
      if (v == null) return;
      const x = i * bw + bw / 2;
      const y = ih - (v / lMax) * ih;
      d += `${d ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
      el('circle', { cx: x, cy: y, r: 2.5, class: `lat-dot ${cls}` }, g);
    });
    if (d) el('path', { d, class: `lat ${cls}` }, g);
  }
  const ticks = Math.max(2, Math.min(6, n, Math.floor(iw / 90)));
  for (let i = 0; i < ticks; i++) {
    const idx = Math.floor(((n - 1) * i) / Math.max(1, ticks - 1));
    if (!points[idx]) continue;
    el('text', { x: idx * bw + bw / 2, y: ih + 18, class: 'axis', 'text-anchor': 'middle' }, g)
      .textContent = timeLabel(points[idx].t, series.step);
  }
  const cursor = el('line', { y1: 0, y2: ih, class: 'cursor', visibility: 'hidden' }, g);
  const overlay = el('rect', { width: iw, height: ih, fill: 'transparent', tabindex: 0,
    'aria-label': 'Chart: hover or use the arrow keys for the values of a step' }, g);
  const tip = document.createElement('div');
  tip.className = 'tip';
  tip.hidden = true;
  let current = -1;
  const show = (i) => {
    if (i < 0 || i >= points.length) return;
    current = i;
    const p = points[i];
    const x = i * bw + bw / 2;
    cursor.setAttribute('x1', x);
    cursor.setAttribute('x2', x);
    cursor.setAttribute('visibility', 'visible');
    tip.replaceChildren();
    const head = document.createElement('strong');
    head.textContent = new Date(p.t * 1000).toLocaleString();
    tip.append(head);
    for (const [k, label, color] of OUTCOMES) {
      const row = document.createElement('div');
      row.innerHTML = '<span class="swatch"></span>';
      row.firstChild.style.background = color;
      row.append(`${label}: ${p[k] || 0}`);
      tip.append(row);
    }
    const l = document.createElement('div');
    const fmt = (v) => (v == null ? '–' : `${Math.round(v * 10) / 10} ms`);
    l.textContent = `latency p50 ${fmt(p.latency_ms?.p50)}, p99 ${fmt(p.latency_ms?.p99)}`;
    tip.append(l);
    tip.hidden = false;
    const left = ((m.l + x) / W) * host.clientWidth;
    tip.style.left = `${Math.min(Math.max(0, left - 90), host.clientWidth - 190)}px`;
  };
  const hide = () => {
    cursor.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  };
  overlay.addEventListener('mousemove', (e) => {
    const r = overlay.getBoundingClientRect();
    show(Math.floor(((e.clientX - r.left) / r.width) * n));
  });
  overlay.addEventListener('mouseleave', hide);
  overlay.addEventListener('blur', hide);
  overlay.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight') show(Math.min(points.length - 1, current + 1));
    else if (e.key === 'ArrowLeft') show(Math.max(0, current < 0 ? points.length - 1 : current - 1));
    else return;
    e.preventDefault();
  });
  overlay.addEventListener('focus', () => show(current < 0 ? points.length - 1 : current));
  host.append(svg, tip);
  const legend = document.createElement('div');
  legend.className = 'legend';
  for (const [, label, color] of OUTCOMES) {
    const s = document.createElement('span');
    s.innerHTML = '<span class="swatch"></span>';
    s.firstChild.style.background = color;
    s.append(label);
    legend.append(s);
  }
  for (const cls of ['p50', 'p99']) {
    const s = document.createElement('span');
    s.innerHTML = `<span class="line ${cls}"></span>`;
    s.append(`latency ${cls} (right axis)`);
    legend.append(s);
  }
  host.append(legend);
  return { show, svg };
}

/** A tiny sparkline: `buckets` bars of volume, each coloured by how many succeeded. */
export function sparkline(series, buckets = 24) {
  const points = [];
  const per = Math.max(1, Math.ceil(series.length / buckets));
  for (let i = 0; i < series.length; i += per) {
    const sum = {};
    for (const p of series.slice(i, i + per)) for (const [k] of OUTCOMES) sum[k] = (sum[k] || 0) + (p[k] || 0);
    points.push(sum);
  }
  const W = 120;
  const H = 28;
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, class: 'spark',
    'aria-hidden': 'true' });
  const totals = points.map((p) => OUTCOMES.reduce((s, [k]) => s + (p[k] || 0), 0));
  const max = Math.max(1, ...totals);
  const bw = W / Math.max(1, points.length);
  points.forEach((p, i) => {
    if (!totals[i]) return;
    const h = Math.max(2, (totals[i] / max) * H);
    const okShare = (p['2xx'] || 0) / totals[i];
    el('rect', { x: i * bw, y: H - h, width: Math.max(1, bw - 0.5), height: h,
      fill: okShare >= 0.99 ? 'var(--ok)' : okShare >= 0.5 ? 'var(--warn)' : 'var(--bad)' }, svg);
  });
  el('line', { x1: 0, x2: W, y1: H - 0.5, y2: H - 0.5, class: 'grid' }, svg);
  return svg;
}
