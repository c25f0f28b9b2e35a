// The board's build configuration, as `key=value` lines the host writes into the receive
// buffer before agent_start (ABI.md), and the start flags.
import { parseEnvironment } from "./url";
import { asciiLower, trimAscii } from "./text";
import { logError } from "./logger";

import { FLAG_DEV, FLAG_FAULT_INJECTION } from "./abi_constants";

export class BoardConfig {
  dev: bool = false;
  faultInjection: bool = false;
  firmware: string = "0.0.0";
  allowHosts: string[] = [];
  /** The configuration is unusable; the line that says why was logged (never a value of a secret). */
  failed: bool = false;
}

/** Parses the configuration text; when it is unusable, logs why and sets `failed`. */
export function parseBoardConfig(text: string, flags: i32): BoardConfig {
  const c = new BoardConfig();
  c.dev = (flags & FLAG_DEV) != 0;
  c.faultInjection = (flags & FLAG_FAULT_INJECTION) != 0;
  let start = 0;
  let lineNo = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const line = trimAscii(text.substring(start, end));
    start = end + 1;
    lineNo++;
    if (line.length == 0) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) { logError("board config line {} is not key=value: fix the board configuration", lineNo); c.failed = true; return c; }
    const key = line.substring(0, eq);
    const value = line.substring(eq + 1);
    if (key == "allow_host") {
      const u = parseEnvironment("https://" + value);
      if (!u.ok || u.port != 0 || u.host != asciiLower(value)) {
        logError("board config: bad allow_host '{}': fix the board configuration", value);
        c.failed = true;
        return c;
      }
      c.allowHosts.push(u.host);
    } else if (key == "firmware") {
      if (value.length == 0 || value.length > 32) { logError("board config: firmware not 1-32 characters: fix the board configuration"); c.failed = true; return c; }
      c.firmware = value;
    } else {
      logError("board config: unknown key '{}': fix the board configuration", key);
      c.failed = true;
      return c;
    }
  }
  return c;
}
