// Replaces AssemblyScript's `env.abort` import (wired by `use` in asconfig.json) so the module
// needs nothing beyond the `host` imports of ABI.md. An abort is a bug: say where, then trap;
// the host restarts the instance (ABI.md, "Traps").
import { host_log } from "./host";

export function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  let text = "trap: " + (message ? message : "abort");
  if (fileName) text += " at " + fileName + ":" + line.toString() + ":" + column.toString();
  const bytes = String.UTF8.encode(text);
  host_log(0, changetype<usize>(bytes), bytes.byteLength);
  unreachable();
}
