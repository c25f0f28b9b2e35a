// The HTML report of a fleet run: one self-contained page (Chart.js and the page's script,
// report-page.js, are inlined, so it opens offline) with a map of the tracks the cloud
// received, delivered uplinks over time (live and backfill), buffered uplinks, requests per
// minute by status, the devices to look at first, and a device view with a picker.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { FAULT_LABELS } from './profiles.ts';
import { ENERGY_LABELS, STATUS_GROUPS, explainDevice, fleetEnergy, fleetLogKinds, hhmm, totals, worstDevices, type DeviceOutcome, type RunInfo, type ShardSummary } from './summary.ts';

const require = createRequire(import.meta.url);

/** Chart.js's UMD bundle, to inline into the page. */
export function chartJsSource(): string {
  const main = require.resolve('chart.js'); // .../chart.js/dist/chart.cjs
  return fs.readFileSync(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8');
}

/** The page's own script, run in the browser. */
function pageScript(): string {
  return fs.readFileSync(new URL('./report-page.js', import.meta.url), 'utf8');
}

/** Devices the page carries in full (track, series, log): every one up to this, else the worst and a spread. */
export const REPORT_DEVICES = 500;
/** Rows of the worst-devices table. */
const WORST_ROWS = 10;

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

/** The devices the page carries in full: all of a small fleet; of a large one the worst and an even spread. */
export function reportDevices(s: ShardSummary, max = REPORT_DEVICES): DeviceOutcome[] {
  const worst = worstDevices(s, s.devices.length);
  if (worst.length <= max) return worst;
  const head = worst.slice(0, Math.floor(max / 5));
  const rest = worst.slice(head.length).sort((a, b) => a.index - b.index);
  const step = rest.length / (max - head.length);
  const spread = Array.from({ length: max - head.length }, (_, i) => rest[Math.floor(i * step)]);
  return [...head, ...spread];
}

export function renderReport(s: ShardSummary, info: RunInfo): string {
  const t = totals(s);
  const pm = perMinuteSeries(s);
  const H = 3_600_000;
  const h = (ms: number) => +(ms / H).toFixed(4);
  const shownDevices = reportDevices(s);
  const devices: Record<string, unknown> = {};
  for (const d of shownDevices) {
    const det = s.detail?.[d.deviceId] ?? { track: [], buffered: [], live: [], backfill: [] };
    devices[d.deviceId] = {
      recorded: d.recorded, delivered: d.delivered, buffered: d.buffered, lost: d.lost, dropped: d.dropped,
      duplicatesRejected: d.duplicatesRejected, peakBuffered: d.peakBuffered, peakAtHours: h(d.peakAtMs),
      lastDeliveredHours: d.lastDeliveredMs === null ? null : h(d.lastDeliveredMs),
      keyResets: d.keyResets, boots: d.boots, traps: d.traps, requests: d.requests, connections: d.connections,
      warnings: d.warnings, errors: d.errors, requestsByStatus: d.requestsByStatus, faults: d.faults, logKinds: d.logKinds,
      logLines: d.logLines.map((l) => ({ h: h(l.t), level: l.level, line: l.line })),
      why: explainDevice(d),
      energy: d.energy && { mAhPerDay: d.energy.mAhPerDay, days: d.energy.daysOnBattery, tlsFull: d.energy.counts.tlsFull, tlsResumed: d.energy.counts.tlsResumed },
      track: det.track,
      overTime: { buffered: det.buffered, live: det.live, backfill: det.backfill },
    };
  }
  const sampleMs = s.series.t.length > 1 ? s.series.t[1] - s.series.t[0] : H;
  const data = {
    outage: info.outage && { start: info.outage.start / H, end: info.outage.end / H },
    hours: info.hours,
    x: s.series.t.map(h),
    sampleMinutes: Math.round(sampleMs / 60_000),
    fleet: { live: s.series.live ?? [], backfill: s.series.backfill ?? [] },
    buffered: { total: s.series.total, max: s.series.max, lines: s.series.lines },
    perMinute: { x: pm.x, groups: pm.groups, colors: GROUP_COLORS },
    devices,
    order: shownDevices.map((d) => d.deviceId),
    faultLabels: FAULT_LABELS,
  };
  const fmt = (n: number) => n.toLocaleString('en-US');
  const rows: [string, string][] = [
    ['devices', fmt(t.devices)],
    ['virtual duration', `${info.hours} h${s.stoppedAtMs === undefined ? '' : ` (stopped at ${hhmm(s.stoppedAtMs)})`}`],
    ['seed', String(info.seed)],
    ['transport', info.transport + (info.workers > 1 ? ` (${info.workers} worker threads)` : '')],
    ['fault profile', info.faults || 'none'],
    ['route', info.track ? `GPX track ${info.track}` : 'seeded random walk'],
    ['wall time', `${info.wallSeconds.toFixed(1)} s (${fmt(Math.round((info.devices * info.hours) / Math.max(1e-9, info.wallSeconds)))} device-hours per second)`],
    ['uplinks recorded', fmt(t.recorded)],
    ['delivered', fmt(t.delivered)],
    ['still buffered', fmt(t.buffered)],
    ['dropped by a full log', fmt(t.droppedFull)],
    ['lost', fmt(t.lost)],
    ['duplicates delivered', fmt(t.duplicatesDelivered)],
    ['duplicates rejected by the cloud (409)', fmt(t.duplicatesRejected)],
    ['requests before a Retry-After', `${s.retryAfterViolations} of ${s.retryAfterChecked} checked`],
    ['retries sooner than the back-off floor', `${s.backoffViolations} of ${s.backoffChecked} checked`],
    ['key resets', fmt(t.keyResets)],
    ['devices deleted by the operator', String(t.deleted)],
    ['device requests', fmt(s.deviceRequests)],
    ['connections opened', fmt(t.connections)],
    ['body bytes sent / received', `${fmt(s.bytesSent)} / ${fmt(s.bytesReceived)}`],
    ['module log warnings / errors', `${fmt(t.warnings)} / ${fmt(t.errors)}`],
  ];
  const en = fleetEnergy(s);
  if (en) {
    rows.push([`energy (model, radio ${en.radio}), mean device`, `${en.mAhPerDay.toFixed(2)} mAh per day`]);
    for (const k of Object.keys(ENERGY_LABELS) as (keyof typeof ENERGY_LABELS)[]) {
      if (en.perDay[k] > 0) rows.push([`  ${ENERGY_LABELS[k]}`, `${en.perDay[k].toFixed(2)} mAh per day (${Math.round((100 * en.perDay[k]) / en.mAhPerDay)} %)`]);
    }
    rows.push([`days on a ${fmt(en.batteryMah)} mAh battery`, `fleet ${en.daysOnBattery.toFixed(1)} (mean device), worst device ${en.worstDays.toFixed(1)} (${en.worstDeviceId})`]);
    rows.push(['TLS handshakes full / resumed (model)', `${fmt(en.tlsFull)} / ${fmt(en.tlsResumed)}`]);
  }
  const bad = (k: string) => (k === 'lost' && t.lost > 0) || (k === 'duplicates delivered' && t.duplicatesDelivered > 0) || (k.startsWith('requests before') && s.retryAfterViolations > 0) || (k.startsWith('retries sooner') && s.backoffViolations > 0);
  const summaryTable = rows.map(([k, v]) => `<tr${bad(k) ? ' class="bad"' : ''}><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n');
  const statuses = [...new Set(Object.values(s.byEndpointStatus).flatMap((m) => Object.keys(m)))].sort((a, b) => Number(a) - Number(b));
  const endpointTable = `<tr><th>endpoint</th>${statuses.map((x) => `<th>${x === '0' ? 'no answer' : x}</th>`).join('')}</tr>\n` +
    Object.entries(s.byEndpointStatus).map(([ep, m]) => `<tr><th>${esc(ep)}</th>${statuses.map((x) => `<td>${m[x] ?? ''}</td>`).join('')}</tr>`).join('\n');
  const faultRows = Object.entries(s.faults).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  const faultTable = faultRows.length === 0 ? '<p>No faults injected.</p>'
    : `<table>${faultRows.map(([k, n]) => `<tr><th>${esc(FAULT_LABELS[k] ?? k)}</th><td>${fmt(n)}</td></tr>`).join('\n')}</table>`;
  const kinds = fleetLogKinds(s, 15);
  const logTable = kinds.length === 0 ? '<p>No module warning or error.</p>'
    : `<table>${kinds.map(([k, n]) => `<tr><th class="text">${esc(k)}</th><td>${fmt(n)}</td></tr>`).join('\n')}</table>`;
  const worst = worstDevices(s, WORST_ROWS);
  const worstTable = `<tr><th>device</th><th>buffered</th><th>lost</th><th>delivered</th><th class="text">why</th></tr>\n` +
    worst.map((d) => `<tr data-device="${esc(d.deviceId)}"><th>${esc(d.deviceId)}</th><td>${fmt(d.buffered)}</td><td>${fmt(d.lost)}</td><td>${fmt(d.delivered)}</td><td class="text">${esc(explainDevice(d))}</td></tr>`).join('\n');
  const outageNote = info.outage ? `<p class="note">Shaded: the outage window, ${hhmm(info.outage.start)} to ${hhmm(info.outage.end)} virtual.</p>` : '';
  const stopped = s.stoppedAtMs === undefined ? ''
    : `<p class="banner">Stopped early (Ctrl-C) at ${hhmm(s.stoppedAtMs)} of ${hhmm(info.hours * H)} virtual: every figure covers the run up to then.</p>`;
  const partialDevices = shownDevices.length < s.devices.length ? ` The page carries ${shownDevices.length} of the ${fmt(s.devices.length)} devices in full: the ${Math.floor(REPORT_DEVICES / 5)} worst and an even spread of the rest (fleet --json lists every one).` : '';
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const held = t.lost === 0 && t.duplicatesDelivered === 0 && s.violationCount === 0;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>trackagent fleet report: ${info.devices} devices, ${info.hours} h, ${esc(info.faults || 'none')}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 24px auto; max-width: 1320px; color: #222; padding: 0 16px; }
  h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin: 4px 0 8px; } h3 { font-size: 15px; margin: 12px 0 6px; }
  .sub { color: #666; margin-top: 0; }
  .banner { background: #fdf2e0; border: 1px solid #e8892b; padding: 8px 12px; border-radius: 6px; font-weight: bold; }
  .grid { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; margin-top: 24px; }
  .grid3 { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: 24px; }
  .card { border: 1px solid #ddd; border-radius: 6px; padding: 12px 16px; background: #fff; margin-top: 24px; }
  .grid > .card { margin-top: 0; }
  .chart { position: relative; height: 340px; }
  #map { width: 100%; height: 460px; background: #f6f8fa; border: 1px solid #eee; }
  #map .track { fill: none; stroke: #9aa5b1; stroke-opacity: 0.55; stroke-linejoin: round; cursor: pointer; }
  #map .track.selected { stroke: #d62728; stroke-opacity: 1; }
  #map .start { fill: #2e9d5b; } #map .end { fill: #1f3b73; } #map .scale { stroke: #222; }
  table { border-collapse: collapse; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
  td { text-align: right; font-variant-numeric: tabular-nums; } tr.bad th, tr.bad td { color: #c0392b; font-weight: bold; }
  th.text, td.text { text-align: left; font-weight: normal; }
  #worst tr[data-device] { cursor: pointer; } #worst tr[data-device]:hover { background: #f3f6fa; }
  #device-log { font: 12px/1.5 ui-monospace, monospace; max-height: 260px; overflow: auto; padding-left: 18px; }
  #device-log .error { color: #c0392b; }
  .why { background: #f6f8fa; padding: 6px 10px; border-radius: 4px; }
  .note { color: #666; font-size: 12px; margin: 4px 0 0; }
  select { font: inherit; padding: 2px 4px; }
</style>
</head>
<body>
<h1>Fleet report</h1>
<p class="sub">${info.devices} simulated trackers, ${info.hours} h of virtual time, fault profile <b>${esc(info.faults || 'none')}</b>, seed ${info.seed}.
${held ? 'Every delivery invariant held.' : '<b style="color:#c0392b">Some delivery invariant failed: see the summary.</b>'}</p>
${stopped}
<div class="grid">
  <div class="card"><h2>Map: positions the cloud received</h2><svg id="map" xmlns="http://www.w3.org/2000/svg"></svg><p class="note" id="map-scale"></p><p class="note">Grey: every device's track; red: the device shown below (green dot: first position, blue: last). Drawn from the data, north up, the same scale both ways.</p></div>
  <div class="card"><h2>Summary</h2><table>${summaryTable}</table></div>
</div>
<div class="card"><h2>Delivered uplinks over time, live and by backfill</h2><div class="chart"><canvas id="delivered"></canvas></div>${outageNote}</div>
<div class="card"><h2>Buffered uplinks over time</h2><div class="chart"><canvas id="buffered"></canvas></div>${outageNote}${s.series.max.every((v) => v === 0) ? '<p class="note">No uplink was still buffered at any sample: the cloud took each one as it was recorded.</p>' : ''}</div>
<div class="card"><h2>Requests per minute by status</h2><div class="chart"><canvas id="perMinute"></canvas></div>${outageNote}</div>
<div class="card"><h2>Devices to look at first</h2><table id="worst">${worstTable}</table><p class="note">Click a row to show the device below.${partialDevices}</p></div>
<div class="card" id="device-view">
  <h2>Device <select id="device" aria-label="device"></select> <span id="device-title"></span></h2>
  <p class="why" id="device-why"></p>
  <div class="chart"><canvas id="device-chart"></canvas></div>
  <div class="grid3">
    <div><h3>Figures</h3><table id="device-stats"></table></div>
    <div><h3>Requests by status</h3><table id="device-requests"></table><h3>Faults and operator actions</h3><table id="device-faults"></table></div>
    <div><h3>Log warnings and errors by kind</h3><table id="device-log-kinds"></table></div>
  </div>
  <h3>Log lines</h3><ol id="device-log"></ol><p class="note" id="device-log-note"></p>
</div>
<div class="grid3" style="margin-top:24px">
  <div class="card" style="margin-top:0"><h2>Requests by endpoint and status</h2><table>${endpointTable}</table></div>
  <div class="card" style="margin-top:0"><h2>Faults injected</h2>${faultTable}</div>
  <div class="card" style="margin-top:0"><h2>Module log, most frequent lines</h2>${logTable}</div>
</div>
<script>${chartJsSource()}</script>
<script type="application/json" id="data">${json}</script>
<script>${pageScript()}</script>
</body>
</html>
`;
}

export function writeReport(file: string, s: ShardSummary, info: RunInfo): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, renderReport(s, info));
}
