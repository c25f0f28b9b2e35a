// Replaces AssemblyScript's `env.abort` import (wired by `use` in asconfig.json) so the module
// needs nothing beyond the `host` imports of ABI.md. An abort is a bug: say where, then trap;
// the host restarts the instance (ABI.md, "Traps"). The message and file name stay text in the
// module (they are the compiler's), the line around them is a log dictionary message.
import { logError } from "./logger";

export function onAbort(message: string | null, fileName: string | null, line: u32, column: u32): void {
  const what = message ? message : "abort";
  if (fileName) logError("trap: {} at {}:{}:{}", what, fileName, line, column);
  else logError("trap: {}", what);
  unreachable();
}
