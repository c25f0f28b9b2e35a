// A device's factory identity as the CSV that ESP-IDF's NVS partition generator takes
// (boards/esp32/README.md, Provisioning): namespace `trackagent`, one string entry per value.
// The file holds the device's keys: written 0600, whole or not at all.
import fs from 'node:fs';
import type { Identity } from './hal/kv.ts';

export const NVS_NAMESPACE = 'trackagent';
/** The identity's NVS keys, in the README's order (each within NVS's 15 characters). */
export const NVS_KEYS = ['tenantId', 'deviceId', 'environment', 'apiKey', 'resetSecret'] as const;

/** A CSV field, quoted when the generator's reader (Python's csv) would otherwise split or trim it. */
function field(v: string): string {
  return /[",\r\n]|^\s|\s$|^#/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function nvsCsv(id: Identity): string {
  const rows = ['key,type,encoding,value', `${NVS_NAMESPACE},namespace,,`];
  for (const k of NVS_KEYS) rows.push(`${k},data,string,${field(id[k])}`);
  return rows.join('\n') + '\n';
}

export function writeNvsCsv(file: string, id: Identity): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, nvsCsv(id), { mode: 0o600 });
  fs.chmodSync(tmp, 0o600); // a leftover .tmp of another mode keeps its mode through writeFileSync
  fs.renameSync(tmp, file);
}
