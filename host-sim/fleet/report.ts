// The HTML report of a fleet run: one self-contained page (Chart.js is inlined from
// node_modules, so it opens offline) with the devices' tracks, buffered uplinks over time,
// requests per minute by status, and the summary tables.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { FAULT_LABELS } from './profiles.ts';
import { STATUS_GROUPS, hhmm, totals, type RunInfo, type ShardSummary } from './summary.ts';

const require = createRequire(import.meta.url);

/** Chart.js's UMD bundle, to inline into the page. */
export function chartJsSource(): string {
  const main = require.resolve('chart.js'); // .../chart.js/dist/chart.cjs
  return fs.readFileSync(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8');
}

const GROUP_COLORS: Record<string, string> = {
  '2xx': '#2e9d5b', '409': '#1f9fb4', '401': '#8e5cc7', '403/404': '#e8892b', '429': '#e3c02b',
  '5xx': '#d64541', 'other 4xx': '#8c6d46', 'no answer': '#7f8c8d',
};

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Per-minute counts binned so that a chart has at most `max` points; values stay "per minute". */
function perMinuteSeries(s: ShardSummary, max = 720): { x: number[]; groups: [string, number[]][] } {
  const n = s.perMinute['2xx'].length;
  const w = Math.max(1, Math.ceil(n / max));
  const x: number[] = [];
  const groups: Record<string, number[]> = {};
  for (const g of STATUS_GROUPS) groups[g] = [];
  for (let i = 0; i < n; i += w) {
    x.push(+(i / 60).toFixed(3));
    for (const g of STATUS_GROUPS) {
      let sum = 0;
      const end = Math.min(n, i + w);
      for (let j = i; j < end; j++) sum += s.perMinute[g][j];
      groups[g].push(+(sum / (end - i)).toFixed(2));
    }
  }
  // An array, not an object: keys such as "401" would be reordered before "2xx".
  return { x, groups: STATUS_GROUPS.filter((g) => groups[g].some((v) => v > 0)).map((g) => [g, groups[g]]) };
}

export function renderReport(s: ShardSummary, info: RunInfo): string {
  const t = totals(s);
  const pm = perMinuteSeries(s);
  const data = {
    outage: info.outage && { start: info.outage.start / 3_600_000, end: info.outage.end / 3_600_000 },
    hours: info.hours,
    tracks: s.tracks,
    buffered: {
      x: s.series.t.map((v) => +(v / 3_600_000).toFixed(3)),
      total: s.series.total,
      max: s.series.max,
      lines: s.series.lines,
    },
    perMinute: { x: pm.x, groups: pm.groups, colors: GROUP_COLORS },
  };
  const rows: [string, string][] = [
    ['devices', t.devices.toLocaleString('en-US')],
    ['virtual duration', `${info.hours} h`],
    ['seed', String(info.seed)],
    ['transport', info.transport + (info.workers > 1 ? ` (${info.workers} worker threads)` : '')],
    ['fault profile', info.faults || 'none'],
    ['route', info.track ? `GPX track ${info.track}` : 'seeded random walk'],
    ['wall time', `${info.wallSeconds.toFixed(1)} s (${Math.round((info.devices * info.hours) / Math.max(1e-9, info.wallSeconds)).toLocaleString('en-US')} device-hours per second)`],
    ['uplinks recorded', t.recorded.toLocaleString('en-US')],
    ['delivered', t.delivered.toLocaleString('en-US')],
    ['still buffered', t.buffered.toLocaleString('en-US')],
    ['dropped by a full log', t.droppedFull.toLocaleString('en-US')],
    ['lost', t.lost.toLocaleString('en-US')],
    ['duplicates delivered', t.duplicatesDelivered.toLocaleString('en-US')],
    ['duplicates rejected by the cloud (409)', t.duplicatesRejected.toLocaleString('en-US')],
    ['requests before a Retry-After', `${s.retryAfterViolations} of ${s.retryAfterChecked} checked`],
    ['retries sooner than the back-off floor', `${s.backoffViolations} of ${s.backoffChecked} checked`],
    ['key resets', t.keyResets.toLocaleString('en-US')],
    ['devices deleted by the operator', String(t.deleted)],
    ['device requests', s.deviceRequests.toLocaleString('en-US')],
    ['connections opened', t.connections.toLocaleString('en-US')],
    ['body bytes sent / received', `${s.bytesSent.toLocaleString('en-US')} / ${s.bytesReceived.toLocaleString('en-US')}`],
  ];
  const bad = (k: string) => (k === 'lost' && t.lost > 0) || (k === 'duplicates delivered' && t.duplicatesDelivered > 0) || (k.startsWith('requests before') && s.retryAfterViolations > 0) || (k.startsWith('retries sooner') && s.backoffViolations > 0);
  const summaryTable = rows.map(([k, v]) => `<tr${bad(k) ? ' class="bad"' : ''}><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n');
  const statuses = [...new Set(Object.values(s.byEndpointStatus).flatMap((m) => Object.keys(m)))].sort((a, b) => Number(a) - Number(b));
  const endpointTable = `<tr><th>endpoint</th>${statuses.map((x) => `<th>${x === '0' ? 'no answer' : x}</th>`).join('')}</tr>\n` +
    Object.entries(s.byEndpointStatus).map(([ep, m]) => `<tr><th>${esc(ep)}</th>${statuses.map((x) => `<td>${m[x] ?? ''}</td>`).join('')}</tr>`).join('\n');
  const faultRows = Object.entries(s.faults).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const faultTable = faultRows.length === 0 ? '<p>No faults injected.</p>'
    : `<table>${faultRows.map(([k, n]) => `<tr><th>${esc(FAULT_LABELS[k] ?? k)}</th><td>${n}</td></tr>`).join('\n')}</table>`;
  const outageNote = info.outage ? `<p class="note">Shaded: the outage window, ${hhmm(info.outage.start)} to ${hhmm(info.outage.end)} virtual.</p>` : '';
  const json = JSON.stringify(data).replace(/</g, '\\u003c');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>trackagent fleet report: ${info.devices} devices, ${info.hours} h, ${esc(info.faults || 'none')}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; color: #222; padding: 0 16px; }
  h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 28px 0 8px; }
  .sub { color: #666; margin-top: 0; }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: 12px 16px; background: #fff; }
  .chart { position: relative; height: 420px; }
  .chart.wide { height: 340px; }
  table { border-collapse: collapse; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
  td { text-align: right; font-variant-numeric: tabular-nums; } tr.bad th, tr.bad td { color: #c0392b; font-weight: bold; }
  .note { color: #666; font-size: 12px; margin: 4px 0 0; }
</style>
</head>
<body>
<h1>Fleet report</h1>
<p class="sub">${info.devices} simulated trackers, ${info.hours} h of virtual time, fault profile <b>${esc(info.faults || 'none')}</b>, seed ${info.seed}.
${t.lost === 0 && t.duplicatesDelivered === 0 && s.violationCount === 0 ? 'Every delivery invariant held.' : '<b style="color:#c0392b">Some delivery invariant failed: see the summary.</b>'}</p>
<div class="grid">
  <div class="card"><h2>Tracks (positions the cloud received${s.tracks.length < info.devices ? `, ${s.tracks.length} of ${info.devices} devices` : ''})</h2><div class="chart"><canvas id="tracks"></canvas></div></div>
  <div class="card"><h2>Summary</h2><table>${summaryTable}</table></div>
</div>
<div class="card" style="margin-top:24px"><h2>Buffered uplinks over time</h2><div class="chart wide"><canvas id="buffered"></canvas></div>${outageNote}${s.series.max.every((v) => v === 0) ? '<p class="note">No uplink was still buffered at any sample: the cloud took each one as it was recorded.</p>' : ''}</div>
<div class="card" style="margin-top:24px"><h2>Requests per minute by status</h2><div class="chart wide"><canvas id="perMinute"></canvas></div>${outageNote}</div>
<div class="grid" style="margin-top:24px">
  <div class="card"><h2>Requests by endpoint and status</h2><table>${endpointTable}</table></div>
  <div class="card"><h2>Faults injected</h2>${faultTable}</div>
</div>
<script>${chartJsSource()}</script>
<script type="application/json" id="data">${json}</script>
<script>
(function () {
  const data = JSON.parse(document.getElementById('data').textContent);
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 12;
  const palette = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf'];
  // Shades the outage window on time charts (x in hours).
  const outageBand = { id: 'outageBand', beforeDatasetsDraw(chart) {
    if (!data.outage) return;
    const x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
    const a = Math.max(area.left, x.getPixelForValue(data.outage.start)), b = Math.min(area.right, x.getPixelForValue(data.outage.end));
    if (b <= a) return;
    ctx.save(); ctx.fillStyle = 'rgba(214,69,65,0.10)'; ctx.fillRect(a, area.top, b - a, area.bottom - area.top); ctx.restore();
  } };
  const xy = (xs, ys) => ys.map((y, i) => ({ x: xs[i], y }));
  const hoursAxis = { type: 'linear', min: 0, max: data.hours, title: { display: true, text: 'virtual time (hours)' } };

  new Chart(document.getElementById('tracks'), {
    type: 'scatter',
    data: { datasets: data.tracks.map((t, i) => ({
      label: t.deviceId, data: t.points.map((p) => ({ x: p[1], y: p[0] })), showLine: true,
      borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], pointRadius: 1.2, borderWidth: 1.2,
    })) },
    options: { maintainAspectRatio: false, plugins: { legend: { display: data.tracks.length <= 10, position: 'bottom' } },
      scales: { x: { title: { display: true, text: 'longitude' } }, y: { title: { display: true, text: 'latitude' } } } },
  });

  const b = data.buffered;
  const lines = b.lines.map((l, i) => ({ label: l.deviceId, data: xy(b.x, l.values), yAxisID: 'y1', borderColor: palette[(i + 2) % palette.length], borderWidth: 1, pointRadius: 0, borderDash: [4, 3] }));
  new Chart(document.getElementById('buffered'), {
    type: 'line',
    data: { datasets: [
      { label: 'whole fleet', data: xy(b.x, b.total), borderColor: '#1f3b73', backgroundColor: 'rgba(31,59,115,0.12)', fill: true, pointRadius: 0, borderWidth: 2, yAxisID: 'y' },
      { label: 'worst device', data: xy(b.x, b.max), borderColor: '#d62728', pointRadius: 0, borderWidth: 1.5, yAxisID: 'y1' },
      ...lines,
    ] },
    options: { maintainAspectRatio: false, interaction: { mode: 'index', intersect: false }, plugins: { legend: { position: 'bottom' } },
      scales: { x: hoursAxis, y: { beginAtZero: true, title: { display: true, text: 'buffered, whole fleet' } },
        y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: 'buffered, per device' } } } },
    plugins: [outageBand],
  });

  const pm = data.perMinute;
  new Chart(document.getElementById('perMinute'), {
    type: 'line',
    data: { datasets: pm.groups.map(([g, values]) => ({
      label: g, data: xy(pm.x, values), borderColor: pm.colors[g], backgroundColor: pm.colors[g] + 'cc', fill: true, pointRadius: 0, borderWidth: 0.5, stepped: true,
    })) },
    options: { maintainAspectRatio: false, interaction: { mode: 'index', intersect: false }, plugins: { legend: { position: 'bottom' } },
      scales: { x: hoursAxis, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'requests per minute' } } } },
    plugins: [outageBand],
  });
})();
</script>
</body>
</html>
`;
}

export function writeReport(file: string, s: ShardSummary, info: RunInfo): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, renderReport(s, info));
}
