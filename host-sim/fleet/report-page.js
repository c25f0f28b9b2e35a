// The fleet report's script, run in the browser (report.ts inlines it after Chart.js and the
// run's data, a JSON block with id "data"). It draws the map as SVG from the positions the
// cloud received (no tiles: the page works offline), the fleet charts, and the device view:
// a picker (also a click on a track or on a row of the worst devices) showing that device's
// track, buffered and delivered uplinks over time, requests by status, faults and log lines.
/* global Chart, document */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('data').textContent);
  const SVG = 'http://www.w3.org/2000/svg';
  const KM_PER_DEGREE = 111.32;
  const palette = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 12;

  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const fmt = (n) => Number(n).toLocaleString('en-US');
  const hhmm = (h) => {
    const m = Math.floor(h * 60 + 1e-6); // hours come rounded to 4 decimals: 8.3333 h is 08:20
    return String(Math.floor(m / 60)).padStart(2, '0') + ':' + String(m % 60).padStart(2, '0');
  };
  const hours = data.x;

  // Shades the outage window on time charts (x in hours).
  const outageBand = {
    id: 'outageBand',
    beforeDatasetsDraw(chart) {
      if (!data.outage) return;
      const x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      const a = Math.max(area.left, x.getPixelForValue(data.outage.start));
      const b = Math.min(area.right, x.getPixelForValue(data.outage.end));
      if (b <= a) return;
      ctx.save();
      ctx.fillStyle = 'rgba(214,69,65,0.10)';
      ctx.fillRect(a, area.top, b - a, area.bottom - area.top);
      ctx.restore();
    },
  };
  const xy = (xs, ys) => ys.map((y, i) => ({ x: xs[i], y }));
  const hoursAxis = { type: 'linear', min: 0, max: data.hours, title: { display: true, text: 'virtual time (hours)' } };

  // ---- the map: equirectangular, x scaled by cos(mid latitude), so a km is a km both ways ----
  const map = document.getElementById('map');
  const ids = Object.keys(data.devices);
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
  for (const id of ids) {
    for (const [la, lo] of data.devices[id].track) {
      if (la < minLat) minLat = la;
      if (la > maxLat) maxLat = la;
      if (lo < minLon) minLon = lo;
      if (lo > maxLon) maxLon = lo;
    }
  }
  const haveTracks = Number.isFinite(minLat);
  const kx = haveTracks ? Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180) : 1;
  const project = ([la, lo]) => [(lo - minLon) * kx, maxLat - la];
  const spanX = Math.max(1e-4, (maxLon - minLon) * kx), spanY = Math.max(1e-4, maxLat - minLat);
  const pad = 0.04 * Math.max(spanX, spanY);
  map.setAttribute('viewBox', [-pad, -pad, spanX + 2 * pad, spanY + 2 * pad].map((v) => v.toFixed(6)).join(' '));
  map.setAttribute('preserveAspectRatio', 'xMidYMid meet');
  const stroke = (spanX + spanY) / 900; // line widths in map units, about one pixel
  const lines = {};
  for (const id of ids) {
    const t = data.devices[id].track;
    if (t.length === 0) continue;
    const pl = document.createElementNS(SVG, 'polyline');
    pl.setAttribute('points', t.map((p) => project(p).map((v) => v.toFixed(6)).join(',')).join(' '));
    pl.setAttribute('class', 'track');
    pl.setAttribute('data-device', id);
    pl.setAttribute('stroke-width', String(stroke));
    const title = document.createElementNS(SVG, 'title');
    title.textContent = id;
    pl.appendChild(title);
    pl.addEventListener('click', () => select(id));
    map.appendChild(pl);
    lines[id] = pl;
  }
  const marks = document.createElementNS(SVG, 'g');
  map.appendChild(marks);
  // A scale bar of a round number of km, about a fifth of the map's width.
  if (haveTracks) {
    const km = spanX * KM_PER_DEGREE;
    const nice = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000].reduce((a, b) => (b <= km / 4 ? b : a), 0.1);
    const w = nice / KM_PER_DEGREE;
    const y = spanY + pad * 0.5;
    const bar = document.createElementNS(SVG, 'line');
    for (const [k, v] of Object.entries({ x1: 0, x2: w, y1: y, y2: y, 'stroke-width': stroke * 3, class: 'scale' })) bar.setAttribute(k, String(v));
    map.appendChild(bar);
    document.getElementById('map-scale').textContent = 'scale bar: ' + nice + ' km; ' + ids.length + ' device(s) drawn; click a track to show its device';
  } else {
    document.getElementById('map-scale').textContent = 'No position reached the cloud.';
  }

  // ---- fleet charts ----
  new Chart(document.getElementById('delivered'), {
    type: 'bar',
    data: { datasets: [
      { label: 'live', data: xy(hours, data.fleet.live), backgroundColor: '#2e9d5b', stack: 'd' },
      { label: 'backfill', data: xy(hours, data.fleet.backfill), backgroundColor: '#e8892b', stack: 'd' },
    ] },
    options: { maintainAspectRatio: false, interaction: { mode: 'index', intersect: false }, plugins: { legend: { position: 'bottom' } },
      scales: { x: { ...hoursAxis, offset: false }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'uplinks stored per ' + data.sampleMinutes + ' min' } } } },
    plugins: [outageBand],
  });

  const lineSets = data.buffered.lines.map((l, i) => ({ label: l.deviceId, data: xy(hours, l.values), yAxisID: 'y1', borderColor: palette[(i + 2) % palette.length], borderWidth: 1, pointRadius: 0, borderDash: [4, 3] }));
  new Chart(document.getElementById('buffered'), {
    type: 'line',
    data: { datasets: [
      { label: 'whole fleet', data: xy(hours, data.buffered.total), borderColor: '#1f3b73', backgroundColor: 'rgba(31,59,115,0.12)', fill: true, pointRadius: 0, borderWidth: 2, yAxisID: 'y' },
      { label: 'worst device at each moment', data: xy(hours, data.buffered.max), borderColor: '#d62728', pointRadius: 0, borderWidth: 1.5, yAxisID: 'y1' },
      ...lineSets,
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

  // ---- the device view ----
  const picker = document.getElementById('device');
  for (const id of data.order) {
    const d = data.devices[id];
    picker.appendChild(el('option', { value: id }, id + (d.buffered > 0 || d.lost > 0 ? '  (' + (d.lost > 0 ? d.lost + ' lost, ' : '') + d.buffered + ' buffered)' : '')));
  }
  picker.addEventListener('change', () => select(picker.value));
  for (const row of document.querySelectorAll('#worst tr[data-device]')) row.addEventListener('click', () => select(row.getAttribute('data-device')));

  const deviceChart = new Chart(document.getElementById('device-chart'), {
    type: 'bar',
    data: { datasets: [] },
    options: { maintainAspectRatio: false, interaction: { mode: 'index', intersect: false }, plugins: { legend: { position: 'bottom' } },
      scales: { x: { ...hoursAxis, offset: false }, y: { stacked: true, beginAtZero: true, title: { display: true, text: 'delivered per ' + data.sampleMinutes + ' min' } },
        y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, title: { display: true, text: 'buffered on the device' } } } },
    plugins: [outageBand],
  });

  const fillTable = (id, rows) => {
    const t = document.getElementById(id);
    t.replaceChildren();
    for (const r of rows) {
      const tr = el('tr');
      tr.appendChild(el('th', {}, r[0]));
      tr.appendChild(el('td', {}, String(r[1])));
      t.appendChild(tr);
    }
  };

  function select(id) {
    const d = data.devices[id];
    if (!d) return;
    picker.value = id;
    document.getElementById('device-title').textContent = id;
    document.getElementById('device-why').textContent = d.why;
    for (const [k, pl] of Object.entries(lines)) pl.setAttribute('class', k === id ? 'track selected' : 'track');
    if (lines[id]) map.appendChild(lines[id]); // drawn last: on top
    map.appendChild(marks);
    marks.replaceChildren();
    if (d.track.length > 0) {
      for (const [p, cls] of [[d.track[0], 'start'], [d.track[d.track.length - 1], 'end']]) {
        const c = document.createElementNS(SVG, 'circle');
        const [x, y] = project(p);
        for (const [k, v] of Object.entries({ cx: x, cy: y, r: stroke * 4, class: cls })) c.setAttribute(k, String(v));
        marks.appendChild(c);
      }
    }
    fillTable('device-stats', [
      ['uplinks recorded', fmt(d.recorded)], ['delivered', fmt(d.delivered)], ['still buffered', fmt(d.buffered)],
      ['most buffered', fmt(d.peakBuffered) + ' at ' + hhmm(d.peakAtHours)], ['lost', fmt(d.lost)], ['dropped by a full log', fmt(d.dropped)],
      ['duplicates rejected (409)', fmt(d.duplicatesRejected)], ['last delivery', d.lastDeliveredHours === null ? 'never' : hhmm(d.lastDeliveredHours)],
      ['key resets', fmt(d.keyResets)], ['boots / traps', d.boots + ' / ' + d.traps], ['requests / connections', fmt(d.requests) + ' / ' + fmt(d.connections)],
      ['positions on the map', fmt(d.track.length)],
      ...(d.energy ? [['energy (model)', d.energy.mAhPerDay.toFixed(2) + ' mAh per day, ' + (d.energy.days === null ? '-' : d.energy.days.toFixed(1)) + ' days on battery'],
        ['TLS handshakes full / resumed', fmt(d.energy.tlsFull) + ' / ' + fmt(d.energy.tlsResumed)]] : []),
    ]);
    const statuses = Object.entries(d.requestsByStatus).sort((a, b) => Number(a[0]) - Number(b[0]));
    fillTable('device-requests', statuses.length ? statuses.map(([s, n]) => [s === '0' ? 'no answer' : 'HTTP ' + s, fmt(n)]) : [['no request reached the cloud', '']]);
    const faults = Object.entries(d.faults).sort((a, b) => b[1] - a[1]);
    fillTable('device-faults', faults.length ? faults.map(([k, n]) => [data.faultLabels[k] || k, fmt(n)]) : [['none', '']]);
    const kinds = Object.entries(d.logKinds).sort((a, b) => b[1] - a[1]);
    fillTable('device-log-kinds', kinds.length ? kinds.map(([k, n]) => [k, fmt(n)]) : [['no warning or error', '']]);
    const log = document.getElementById('device-log');
    log.replaceChildren();
    for (const l of d.logLines) log.appendChild(el('li', { class: l.level === 0 ? 'error' : 'warn' }, '[' + hhmm(l.h) + '] ' + (l.level === 0 ? 'error' : 'warn') + ': ' + l.line));
    document.getElementById('device-log-note').textContent = d.warnings + d.errors > d.logLines.length
      ? 'The first ' + d.logLines.length + ' of ' + (d.warnings + d.errors) + ' lines (fleet --log warn prints them all).' : '';
    deviceChart.data.datasets = [
      { type: 'bar', label: 'delivered live', data: xy(hours, d.overTime.live), backgroundColor: '#2e9d5b', stack: 'd', yAxisID: 'y' },
      { type: 'bar', label: 'delivered by backfill', data: xy(hours, d.overTime.backfill), backgroundColor: '#e8892b', stack: 'd', yAxisID: 'y' },
      { type: 'line', label: 'buffered', data: xy(hours, d.overTime.buffered), borderColor: '#1f3b73', pointRadius: 0, borderWidth: 2, yAxisID: 'y1' },
    ];
    deviceChart.update();
    document.body.setAttribute('data-selected', id);
  }
  select(data.order[0]);
})();
