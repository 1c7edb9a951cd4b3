/**
 * The status page's three files, served as they are: the HTML shell, its style sheet and its
 * script. The script fetches /status/data every few seconds and draws with DOM calls only
 * (textContent, createElementNS for the SVG charts): no inline script or style, no markup built
 * from data, nothing from elsewhere, so the Content-Security-Policy can be strict.
 */

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>oci-connector-proxy status</title>
<link rel="stylesheet" href="/status/app.css">
<script src="/status/app.js" defer></script>
</head>
<body>
<header>
  <h1>oci-connector-proxy</h1>
  <p id="summary" role="status" aria-live="polite">Loading…</p>
</header>
<main id="connectors" aria-label="Connectors"></main>
<footer><p>Data from <a href="/connectors">/connectors</a> and the proxy's own counters (<a href="/metrics">/metrics</a>), refreshed every few seconds.</p></footer>
</body>
</html>
`;

export const PAGE_CSS = `:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --unknown: #9a6700; --line: #8884; font: 15px/1.45 system-ui, sans-serif; }
body { margin: 0 auto; max-width: 70rem; padding: 0 1rem 2rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1.5rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.3rem; margin: 1rem 0 .5rem; }
h2 { font-size: 1.1rem; margin: 0; display: flex; flex-wrap: wrap; gap: .5rem; align-items: baseline; }
article { border: 1px solid var(--line); border-radius: 6px; margin: 1rem 0; padding: .75rem 1rem; }
article.failing { border-left: 6px solid var(--bad); }
article.unknown { border-left: 6px solid var(--unknown); }
article.ready { border-left: 6px solid var(--ok); }
.badge { font-size: .85rem; font-weight: 600; padding: 0 .4rem; border-radius: 4px; border: 1px solid currentColor; }
.failing .badge { color: var(--bad); } .ready .badge { color: var(--ok); } .unknown .badge { color: var(--unknown); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; margin: .5rem 0; }
dt { font-weight: 600; } dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: .9rem; }
th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.message { overflow-wrap: anywhere; }
tr.False td:first-child, tr.False td:nth-child(2) { color: var(--bad); font-weight: 600; }
.charts { display: flex; flex-wrap: wrap; gap: .75rem; margin: .5rem 0; }
figure { margin: 0; flex: 1 1 14rem; min-width: 12rem; }
figcaption { font-size: .85rem; }
svg.chart { width: 100%; height: 4rem; border: 1px solid var(--line); border-radius: 4px; }
svg.chart polyline { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.s0 { stroke: #0969da; } .s1 { stroke: #cf222e; } .s2 { stroke: #8250df; } .s3 { stroke: #9a6700; }
details { margin: .4rem 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: #8881; padding: .5rem; overflow-x: auto; margin: .3rem 0; font-size: .85rem; }
.file { border-top: 1px solid var(--line); padding-top: .3rem; }
.file header { border: 0; gap: .5rem; align-items: center; }
button { font: inherit; font-size: .85rem; cursor: pointer; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@media (max-width: 40rem) {
  dl { grid-template-columns: 1fr; } dt { margin-top: .3rem; }
  table, tbody, tr, td { display: block; } thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  tr { border-bottom: 1px solid var(--line); padding: .3rem 0; } td { border: 0; padding: .05rem 0; overflow-wrap: anywhere; }
  td::before { content: attr(data-label) ": "; font-weight: 600; }
}
`;

export const PAGE_JS = `'use strict';
(() => {
  const STATES = { False: ['failing', '✖ Failing'], Unknown: ['unknown', '? Not checked yet'], True: ['ready', '✔ Ready'] };
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const svg = (tag, attrs) => { const e = document.createElementNS('http://www.w3.org/2000/svg', tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v)); return e; };
  const rate = (n) => n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
  const bytes = (n) => n >= 1048576 ? (n / 1048576).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(1) + ' KiB' : n.toFixed(0) + ' B';
  const main = document.getElementById('connectors');
  const summary = document.getElementById('summary');
  const open = new Set();

  function chart(title, points, series, unit) {
    const fig = el('figure');
    const w = 240, h = 64;
    const all = series.flatMap((s) => points.map((p) => s.get(p)).filter((v) => v !== null));
    const max = Math.max(1e-9, ...all);
    const last = series.map((s) => { const v = points.length ? s.get(points[points.length - 1]) : null; return s.name + ' ' + (v === null ? '–' : unit(v)); }).join(', ');
    const box = svg('svg', { class: 'chart', viewBox: '0 0 ' + w + ' ' + h, preserveAspectRatio: 'none', role: 'img', 'aria-label': title + ': ' + last });
    box.appendChild(svg('title', {})).textContent = title;
    series.forEach((s, i) => {
      const xs = points.map((p, j) => { const v = s.get(p); return v === null ? null : [(j / Math.max(1, points.length - 1)) * w, h - 2 - (v / max) * (h - 4)]; }).filter(Boolean);
      if (xs.length) box.appendChild(svg('polyline', { class: 's' + i, points: xs.map((x) => x[0].toFixed(1) + ',' + x[1].toFixed(1)).join(' ') }));
    });
    fig.appendChild(box);
    fig.appendChild(el('figcaption', title + ' — ' + (points.length ? last : 'collecting…')));
    return fig;
  }

  function charts(c) {
    const p = c.series;
    const box = el('div', undefined, 'charts');
    box.appendChild(chart('Requests/s', p, [
      { name: '2xx', get: (x) => x.rps['2xx'] }, { name: '5xx', get: (x) => x.rps['5xx'] }, { name: '4xx', get: (x) => x.rps['4xx'] }, { name: '3xx', get: (x) => x.rps['3xx'] },
    ], rate));
    box.appendChild(chart('Bytes/s', p, [{ name: 'out', get: (x) => x.outBps }, { name: 'in', get: (x) => x.inBps }], bytes));
    box.appendChild(chart('Upstream latency (ms)', p, [{ name: 'p50', get: (x) => x.p50Ms }, { name: 'p99', get: (x) => x.p99Ms }], (v) => v.toFixed(1)));
    box.appendChild(chart('Token exchanges/s', p, [{ name: 'exchanges', get: (x) => x.tokenExchangesPerS }], rate));
    if (c.cache) box.appendChild(chart('Cache (store ' + bytes(c.cache.bytes) + ', ' + c.cache.objects + ' objects)', p, [{ name: 'hits/s', get: (x) => x.cacheHitsPerS }, { name: 'misses/s', get: (x) => x.cacheMissesPerS }], rate));
    return box;
  }

  function conditions(c) {
    const t = el('table');
    t.appendChild(el('caption', 'Conditions')).className = 'visually-hidden';
    const head = t.appendChild(el('thead')).appendChild(el('tr'));
    for (const h of ['Condition', 'Status', 'Reason', 'Message', 'Since']) head.appendChild(el('th', h)).setAttribute('scope', 'col');
    const body = t.appendChild(el('tbody'));
    for (const k of c.conditions) {
      const row = body.appendChild(el('tr', undefined, k.status));
      const cell = (label, text, cls) => { const td = row.appendChild(el('td', text, cls)); td.dataset.label = label; };
      cell('Condition', k.type);
      cell('Status', k.status === 'False' ? '✖ False' : k.status === 'True' ? '✔ True' : '? ' + k.status);
      cell('Reason', k.reason || '—');
      cell('Message', k.message || '—', 'message');
      cell('Since', k.lastTransitionTime ? new Date(k.lastTransitionTime).toLocaleString() : '—');
    }
    return t;
  }

  function copyable(label, text) {
    const box = el('div', undefined, 'file');
    const bar = box.appendChild(el('header'));
    bar.appendChild(el('strong', label));
    const b = bar.appendChild(el('button', 'Copy'));
    b.type = 'button';
    b.setAttribute('aria-label', 'Copy ' + label);
    b.dataset.copy = label;
    b.addEventListener('click', () => navigator.clipboard.writeText(text).then(() => { b.textContent = 'Copied'; setTimeout(() => { b.textContent = 'Copy'; }, 1500); }, () => { b.textContent = 'Copy failed'; }));
    box.appendChild(el('pre')).appendChild(el('code', text));
    return box;
  }

  function section(key, title, build) {
    const d = el('details');
    d.open = open.has(key);
    d.addEventListener('toggle', () => { if (d.open) open.add(key); else open.delete(key); });
    d.appendChild(el('summary', title));
    build(d);
    return d;
  }

  function card(c) {
    const key = c.namespace + '/' + c.name;
    const [cls, label] = STATES[c.ready] || STATES.Unknown;
    const a = el('article', undefined, cls);
    a.id = 'connector-' + c.namespace + '-' + c.name;
    a.dataset.ready = c.ready;
    const h = a.appendChild(el('h2'));
    h.appendChild(el('span', key));
    h.appendChild(el('span', label, 'badge'));
    const dl = a.appendChild(el('dl'));
    const row = (k, v) => { dl.appendChild(el('dt', k)); dl.appendChild(el('dd', v)); };
    row('Upstream', c.upstream);
    row('Proxy address', c.proxyAddress);
    row('Path prefix', c.routing.pathPrefix);
    row('Host names', c.routing.hosts.join(', '));
    row('Mirror for', c.routing.mirrorFor.join(', '));
    row('Access', c.access);
    if (c.checkedAt) row('Checked', new Date(c.checkedAt).toLocaleString());
    a.appendChild(conditions(c));
    a.appendChild(charts(c));
    a.appendChild(section(key + ' try', 'Try it', (d) => c.commands.forEach((cmd, i) => d.appendChild(copyable('command ' + (i + 1), cmd)))));
    a.appendChild(section(key + ' files', 'Client files', (d) => c.files.forEach((f) => d.appendChild(copyable(f.name, f.text)))));
    return a;
  }

  async function refresh() {
    try {
      const res = await fetch('/status/data', { headers: { accept: 'application/json' }, cache: 'no-store' });
      if (!res.ok) { summary.textContent = 'Status unavailable: ' + res.status + ' ' + res.statusText; return; }
      const data = await res.json();
      const failing = data.connectors.filter((c) => c.ready === 'False').length;
      summary.textContent = data.connectors.length + ' connector' + (data.connectors.length === 1 ? '' : 's') + ', ' + failing + ' failing — updated ' + new Date(data.generatedAt).toLocaleTimeString();
      main.replaceChildren(...data.connectors.map(card));
      document.body.dataset.updated = data.generatedAt;
      setTimeout(refresh, Math.max(1000, data.intervalMs));
    } catch (err) {
      summary.textContent = 'Status unavailable: ' + err.message;
      setTimeout(refresh, 5000);
    }
  }
  refresh();
})();
`;
