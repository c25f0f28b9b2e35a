// The fleet report in a real browser: Debian's Chromium, driven by puppeteer-core (no browser
// of its own is downloaded). The page must render offline with no console error, draw an
// aspect-correct map from the data, and its device picker must show the picked device.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { runFleet, type FleetResult } from '../host-sim/fleet/fleet.ts';
import { renderReport, reportDevices } from '../host-sim/fleet/report.ts';
import { worstDevices } from '../host-sim/fleet/summary.ts';
import { makeSecret } from './helpers/harness.ts';
import { recordLogLine } from './helpers/secrets-log.ts';

const BROWSERS = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The system's Chromium: CHROMIUM names one, else the first of BROWSERS on PATH. */
function chromium(): string {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const b of BROWSERS) {
    const r = spawnSync('sh', ['-c', `command -v ${b}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error(`no Chromium found (tried ${BROWSERS.join(', ')}): install Debian's chromium (bash .ci/run does) or set CHROMIUM`);
}

let browser: Browser;
let run: FleetResult;
let file: string;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'report-browser-'));

beforeAll(async () => {
  browser = await puppeteer.launch({ executablePath: chromium(), headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  run = await runFleet({ devices: 12, hours: 24, seed: 3, transport: 'memory', faults: 'hostile', workers: 1, makeSecret, log: (_id, _l, line) => recordLogLine(line) });
  file = path.join(dir, 'report.html');
  fs.writeFileSync(file, renderReport(run.summary, run.info));
});

afterAll(async () => {
  await browser?.close();
});

/** Opens a page, recording console errors and warnings, page errors, and any request off the file. */
async function open(f: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warn') problems.push(`console ${m.type()}: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${String(e)}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  page.on('request', (r) => { if (!/^(file|data|blob|about):/.test(r.url())) problems.push(`request off the page: ${r.url()}`); });
  await page.setViewport({ width: 1400, height: 1000 });
  await page.goto(`file://${f}`, { waitUntil: 'load' });
  return { page, problems };
}

/** Pixels drawn on a canvas (not transparent), counted on a coarse grid of a copy (the page's canvases are never read back). */
const inked = (page: Page, id: string) => page.evaluate((id) => {
  const c = document.getElementById(id) as HTMLCanvasElement;
  const copy = document.createElement('canvas');
  copy.width = c.width;
  copy.height = c.height;
  const ctx = copy.getContext('2d', { willReadFrequently: true })!;
  ctx.drawImage(c, 0, 0);
  const { data } = ctx.getImageData(0, 0, c.width, c.height);
  let n = 0;
  for (let i = 3; i < data.length; i += 4 * 97) if (data[i] > 0) n++;
  return n;
}, id);

describe('fleet report in headless Chromium', () => {
  it('renders offline with no console error: map, charts, tables', async () => {
    const { page, problems } = await open(file);
    expect(problems).toEqual([]);
    for (const id of ['delivered', 'buffered', 'perMinute', 'device-chart']) expect(await inked(page, id), id).toBeGreaterThan(50);
    expect(await page.$$eval('#worst tr[data-device]', (r) => r.length)).toBe(10);
    await page.screenshot({ path: path.join(dir, 'report.png'), fullPage: true });
    await page.close();
  });

  it('draws every device\'s track from the data, the same scale north-south and east-west', async () => {
    const { page, problems } = await open(file);
    const shown = reportDevices(run.summary);
    const withTrack = shown.filter((d) => run.summary.detail[d.deviceId].track.length > 0);
    const lines = await page.$$eval('#map polyline', (p) => p.map((x) => ({ id: x.getAttribute('data-device'), n: x.getAttribute('points')!.trim().split(/\s+/).length })));
    expect(lines.map((l) => l.id).sort()).toEqual(withTrack.map((d) => d.deviceId).sort());
    for (const l of lines) expect(l.n, l.id!).toBe(run.summary.detail[l.id!].track.length);
    // The view box is the tracks' extent with x in degrees of longitude times cos(latitude): a km is as long both ways.
    const pts = withTrack.flatMap((d) => run.summary.detail[d.deviceId].track);
    const lat = pts.map((p) => p[0]), lon = pts.map((p) => p[1]);
    const k = Math.cos(((Math.min(...lat) + Math.max(...lat)) / 2) * Math.PI / 180);
    const w = (Math.max(...lon) - Math.min(...lon)) * k, h = Math.max(...lat) - Math.min(...lat);
    const [, , vw, vh] = (await page.$eval('#map', (m) => m.getAttribute('viewBox')!)).split(' ').map(Number);
    const pad = 0.04 * Math.max(w, h);
    expect(vw).toBeCloseTo(w + 2 * pad, 4);
    expect(vh).toBeCloseTo(h + 2 * pad, 4);
    expect(await page.$eval('#map', (m) => m.getAttribute('preserveAspectRatio'))).toBe('xMidYMid meet');
    expect(await page.$eval('#map-scale', (e) => e.textContent)).toMatch(/scale bar: [\d.]+ km/);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('the device picker shows one device: its track, buffered and delivered over time, requests, faults, log', async () => {
    const { page, problems } = await open(file);
    const s = run.summary;
    const worst = worstDevices(s, 1)[0];
    expect(await page.$eval('body', (b) => b.getAttribute('data-selected'))).toBe(worst.deviceId); // the worst first
    expect(await page.$$eval('#device option', (o) => o.length)).toBe(s.devices.length);
    const pickAndCheck = async (id: string) => {
      const d = s.devices.find((x) => x.deviceId === id)!;
      const det = s.detail[id];
      expect(await page.$eval('body', (b) => b.getAttribute('data-selected'))).toBe(id);
      expect(await page.$eval('#device-title', (e) => e.textContent)).toBe(id);
      expect(await page.$eval('#device-why', (e) => e.textContent)).not.toBe('');
      expect(await page.$$eval('#map polyline.selected', (p) => p.map((x) => x.getAttribute('data-device')))).toEqual(det.track.length > 0 ? [id] : []);
      const requests = await page.$$eval('#device-requests tr', (r) => r.map((x) => [x.children[0].textContent, x.children[1].textContent]));
      expect(requests).toEqual(Object.entries(d.requestsByStatus).sort((a, b) => Number(a[0]) - Number(b[0])).map(([st, n]) => [st === '0' ? 'no answer' : `HTTP ${st}`, n.toLocaleString('en-US')]));
      const faults = await page.$$eval('#device-faults tr', (r) => r.length);
      expect(faults).toBe(Math.max(1, Object.keys(d.faults).length));
      expect(await page.$$eval('#device-log li', (l) => l.length)).toBe(d.logLines.length);
      if (d.logLines.length > 0) expect(await page.$eval('#device-log li', (l) => l.textContent)).toContain(d.logLines[0].line);
      // The device chart holds exactly this device's series.
      const sums = await page.evaluate(() => {
        const c = (window as unknown as { Chart: { getChart(e: Element): { data: { datasets: { label: string; data: { y: number }[] }[] } } } }).Chart.getChart(document.getElementById('device-chart')!)!;
        return Object.fromEntries(c.data.datasets.map((ds) => [ds.label, ds.data.reduce((a, p) => a + p.y, 0)]));
      });
      const add = (a: number[]) => a.reduce((x, y) => x + y, 0);
      expect(sums).toEqual({ 'delivered live': add(det.live), 'delivered by backfill': add(det.backfill), buffered: add(det.buffered) });
      expect(await inked(page, 'device-chart')).toBeGreaterThan(50);
    };
    await pickAndCheck(worst.deviceId);
    // Picked in the list...
    const other = s.devices.find((d) => d.deviceId !== worst.deviceId && s.detail[d.deviceId].track.length > 0)!.deviceId;
    await page.select('#device', other);
    await pickAndCheck(other);
    // ...by a click on a row of the worst devices...
    const row = worstDevices(s, 3)[2].deviceId;
    await page.click(`#worst tr[data-device="${row}"]`);
    await pickAndCheck(row);
    // ...or by a click on its track.
    const third = s.devices.find((d) => ![worst.deviceId, other, row].includes(d.deviceId) && s.detail[d.deviceId].track.length > 0)!.deviceId;
    await page.$eval(`#map polyline[data-device="${third}"]`, (p) => p.dispatchEvent(new MouseEvent('click', { bubbles: true })));
    await pickAndCheck(third);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('a run stopped early says so at the top', async () => {
    const stop = new AbortController();
    const r = await runFleet({ devices: 2, hours: 240, seed: 1, transport: 'memory', faults: 'none', workers: 1, stop: stop.signal, onProgress: (f) => { if (f > 0) stop.abort(); } });
    const f = path.join(dir, 'stopped.html');
    fs.writeFileSync(f, renderReport(r.summary, r.info));
    const { page, problems } = await open(f);
    expect(await page.$eval('.banner', (b) => b.textContent)).toMatch(/^Stopped early \(Ctrl-C\) at \d\d:\d\d of 240:00 virtual/);
    expect(problems).toEqual([]);
    await page.close();
  });
});
