// The chaos run as text: one line per violation (what, device, epoch/id, time), the figures,
// the shrunk traces with the command that replays each; and one device's trace for a replay.
import { INVARIANTS, INVARIANT_NAMES, LIMITS, fmtOffset, fmtTime, type Violation } from './checker.ts';
import type { ChaosReport, DeviceSummary } from './run.ts';
import type { FiredEvent } from './world.ts';
import type { DeviceTrace } from './trace.ts';

const n0 = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const n1 = (n: number) => n.toLocaleString('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

export function violationLine(v: Violation): string {
  const name = v.epoch === undefined && v.id === undefined ? '' : ` epoch ${v.epoch === null || v.epoch === undefined ? '-' : v.epoch} id ${v.id ?? '-'}`;
  return `VIOLATION ${v.invariant} ${v.deviceId}${name} at ${fmtTime(v.at)}: ${v.detail}`;
}

export function formatRecovery(r: ChaosReport): string {
  const worst = r.worstRecovery ? `${fmtOffset(r.worstRecovery.ms)} (${r.worstRecovery.deviceId}; bound ${fmtOffset(LIMITS.recoveryMs)})` : '-';
  return r.neverRecovered > 0 ? `${worst}; ${n0(r.neverRecovered)} devices never delivered everything recorded before honesty` : worst;
}

/** The violation lines (at most `perInvariant` of each) and how many more there were. */
export function formatViolations(r: ChaosReport, perInvariant = 20): string[] {
  const lines: string[] = [];
  for (const k of INVARIANT_NAMES) {
    const vs = r.sample.filter((v) => v.invariant === k).slice(0, perInvariant);
    for (const v of vs) lines.push(violationLine(v));
    const more = r.byInvariant[k] - vs.length;
    if (more > 0) lines.push(`... and ${n0(more)} more ${k} violations`);
  }
  return lines;
}

export function formatFigures(r: ChaosReport): string[] {
  const t = r.totals;
  const lines = [
    `device-days                 ${n0(r.deviceDays)} (${n0(r.devices)} devices x ${n1(r.daysPerDevice)} d; simulated ${n1(r.simulatedDeviceDays)})`,
    `device-days per second      ${n1(r.deviceDaysPerSecond)} (${n1(r.wallSeconds)} s, ${r.workers} worker${r.workers === 1 ? '' : 's'})`,
    `violations                  ${n0(r.violations)} (devices failing: ${n0(r.devicesFailing)} of ${n0(r.devices)})`,
    `worst requests in one hour  ${r.worstRequestsPerHour ? `${n0(r.worstRequestsPerHour.value)} (${r.worstRequestsPerHour.deviceId}; budget ${LIMITS.budgetPerHour})` : '-'}`,
    `worst recovery time         ${formatRecovery(r)}`,
    `by invariant                ${INVARIANT_NAMES.map((k) => `${k} ${n0(r.byInvariant[k])}`).join(', ')}`,
    `requests ${n0(t.requests)}, uplinks sent ${n0(t.uplinkSends)}, recorded ${n0(t.recorded)}, delivered ${n0(t.delivered)}, dropped by a full log ${n0(t.dropped)}, verified acks ${n0(t.verifiedAcks)}`,
    `boots ${n0(t.boots)}, power cuts ${n0(t.cuts)}, injected traps ${n0(t.injectedTraps)}, store damage ${n0(t.kvDamage)}, fault events ${n0(t.firedEvents)}, runs stopped early ${n0(t.aborted)}`,
    `trace digest                ${r.digest} (seed ${r.seed}, profile ${r.profile})`,
  ];
  return lines;
}

export function formatShrunk(r: ChaosReport): string[] {
  const lines: string[] = [];
  for (const s of r.shrunk) {
    lines.push(`shortest failing trace for ${s.invariant} (${INVARIANTS[s.invariant]}):`);
    if (!s.reproducedAlone) {
      lines.push(`  ${s.deviceId} does not fail alone: the run is not deterministic (a bug of the simulator)`);
      continue;
    }
    lines.push(`  ${s.deviceId}, ${fmtOffset(s.lengthMs)} of ${fmtOffset(s.fullLengthMs)}, ${s.events.length} fault event${s.events.length === 1 ? '' : 's'} (${s.minimal ? '1-minimal' : 'budget reached, not minimal'}; ${s.tests} runs)`);
    if (s.violation) lines.push(`  ${violationLine(s.violation)}`);
    for (const e of s.events.slice(0, 40)) lines.push(`  event ${e.id.padEnd(6)} at ${fmtTime(e.at)}  ${e.what}`);
    if (s.events.length > 40) lines.push(`  ... ${s.events.length - 40} more events`);
    lines.push(`  replay: ${s.replay}`);
  }
  return lines;
}

export function formatReport(r: ChaosReport, perInvariant = 20): string {
  return [
    ...formatViolations(r, perInvariant),
    '',
    ...formatFigures(r),
    ...(r.shrunk.length > 0 ? ['', ...formatShrunk(r)] : []),
    '',
    r.violations === 0 ? `PASS seed ${r.seed}: 0 violations` : `FAIL seed ${r.seed}: ${n0(r.violations)} violations`,
  ].join('\n');
}

/** One device's run, event by event: for replays (--trace). */
export function formatTrace(t: DeviceTrace, fired: FiredEvent[], s: DeviceSummary): string {
  type Row = { at: number; text: string };
  const rows: Row[] = [];
  for (const e of fired) rows.push({ at: e.at, text: `event ${e.id}: ${e.what}` });
  for (const r of t.records) rows.push({ at: r.at, text: `record ${r.key}${r.complete ? '' : ' (cut while programming)'}${r.erasedAt !== undefined ? `, erased at ${fmtTime(r.erasedAt)}` : ''}` });
  for (const r of t.requests) {
    const path = r.url.replace(/^https?:\/\/[^/]*/, '').replace(/^.*\/devices\/[^/]+/, '');
    rows.push({ at: r.at, text: `${r.method} ${hostOf(r.url)}${path} -> ${r.status}${r.handledStatus !== undefined && r.handledStatus !== r.status ? ` (handled ${r.handledStatus})` : ''}${r.chaos !== 'honest' ? ` [${r.chaos}]` : ''}` });
  }
  for (const l of t.logs) if (l.level <= 1) rows.push({ at: l.at, text: `log L${l.level} ${l.line}` });
  for (const tr of t.traps) rows.push({ at: tr.at, text: `trap (${tr.injected ? 'injected' : 'the module'}): ${tr.where}` });
  for (const d of t.kvDamage) rows.push({ at: d.at, text: `store entry ${d.key} damaged` });
  rows.push({ at: t.honestAt, text: '--- the cloud turns honest ---' });
  rows.push({ at: t.recordUntil, text: '--- faults stop; honest drain ---' });
  if (t.aborted) rows.push({ at: t.aborted.at, text: `--- run stopped: ${t.aborted.reason} ---` });
  rows.sort((a, b) => a.at - b.at);
  const head = `${t.deviceId}: honest at ${fmtTime(t.honestAt)}, faults until ${fmtTime(t.recordUntil)}, end ${fmtTime(t.endAt)}; ${s.figures.requests} requests, ${s.figures.recorded} recorded, ${s.figures.delivered} delivered`;
  return [head, ...rows.map((r) => `${fmtTime(r.at)}  ${r.text}`), ...s.violations.map(violationLine)].join('\n');
}

function hostOf(url: string): string {
  try { return new URL(url).host; } catch { return '?'; }
}
