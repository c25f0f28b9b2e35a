// The key-value store through the ABI, with strings for keys. A value is at most
// KV_VALUE_MAX bytes; a longer stored value is reported as an error, never truncated silently.
import { host_kv_get, host_kv_set } from "./host";

import { IMPORT_NOT_FOUND, IMPORT_IO, KV_VALUE_MAX } from "./abi_constants";

// A read's status: the import's own two (ABI.md "Import status"), and one of the module's.
export const KV_NOT_FOUND: i32 = IMPORT_NOT_FOUND;
export const KV_IO_ERROR: i32 = IMPORT_IO;
export const KV_TOO_LONG: i32 = -3;

const scratch = new Uint8Array(KV_VALUE_MAX);

export class KvRead {
  constructor(public status: i32, public value: Uint8Array | null) {}
}

export function kvGet(key: string): KvRead {
  const k = String.UTF8.encode(key);
  const n = host_kv_get(changetype<usize>(k), k.byteLength, scratch.dataStart, KV_VALUE_MAX);
  if (n < 0) return new KvRead(n == KV_NOT_FOUND ? KV_NOT_FOUND : KV_IO_ERROR, null);
  if (n > KV_VALUE_MAX) return new KvRead(KV_TOO_LONG, null);
  return new KvRead(0, scratch.slice(0, n));
}

export function kvGetString(key: string): string | null {
  const r = kvGet(key);
  if (r.status != 0) return null;
  const v = r.value!;
  return String.UTF8.decodeUnsafe(v.dataStart, v.length);
}

export function kvSet(key: string, value: Uint8Array): i32 {
  const k = String.UTF8.encode(key);
  return host_kv_set(changetype<usize>(k), k.byteLength, value.dataStart, value.length);
}

