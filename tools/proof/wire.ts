// Decoding what the device writes, as the proof sees it from outside: the 'R' entry a flash
// program carries (log/README.md, "Entry"; the record's payload through device-records.ts)
// and the uplinks of a request body. Nothing here keeps state.
import { decodeRecordEntry, decodeUplinkRecord } from '../../host-sim/device-records.ts';

/**
 * The proof's one number for an uplink: its epoch's ordinal (the log key's high half, the
 * agent_stat `epochOrdinal`) and its id, so that a new epoch's ids never collide with an old one's.
 */
export const EPOCH_SPAN = 2 ** 20;
export function uidOf(ordinal: number, id: number): number {
  return ordinal >= 1 && id >= 1 && id < EPOCH_SPAN ? (ordinal - 1) * EPOCH_SPAN + id : -1;
}
/** The ordinal of the epoch a uid is in. */
export function ordinalOfUid(uid: number): number {
  return Math.floor((uid - 1) / EPOCH_SPAN) + 1;
}

/** The 'R' entry a program writes: its uid and the epoch its payload names, or undefined. */
export function recordOf(data: Uint8Array, progSize: number): { uid: number; epoch: number } | undefined {
  const e = decodeRecordEntry(data, progSize);
  if (!e) return undefined;
  return { uid: uidOf(e.ordinal, e.id), epoch: decodeUplinkRecord(e.payload)?.epoch ?? -1 };
}

/** One uplink as a request body carries it (device-api.md), fields unchecked. */
export type WireUplink = Record<string, unknown>;

const dec = new TextDecoder();

/** The uplinks of an /uplinks (one) or /uplinks/backfill (a list) body, or what is wrong with it. */
export function uplinksOfBody(body: Uint8Array, backfill: boolean): { uplinks: WireUplink[] } | { wrong: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(dec.decode(body));
  } catch {
    return { wrong: 'an uplink body that is not JSON' };
  }
  const list = backfill ? (parsed as { uplinks?: unknown }).uplinks : [parsed];
  if (!Array.isArray(list)) return { wrong: 'a backfill without uplinks' };
  return { uplinks: list as WireUplink[] };
}
