// Identity: who the device is and how it authenticates. Factory values come from the
// key-value store (tenantId, deviceId, environment, apiKey, resetSecret); a key rotation
// writes environment and apiKey together as one `cred` record, which then wins.
// Nothing here ever puts a key or secret into a message.
import { kvGetString, kvGet, kvSet } from "./kv";
import { ByteReader, ByteWriter } from "./bytes";
import { parseEnvironment, ParsedUrl, ENV_MAX_BYTES } from "./url";
import { logError } from "./logger";

export const KEY_MIN: i32 = 16;
export const KEY_MAX: i32 = 128;
const CRED_VERSION: u32 = 1;

export function validId(s: string): bool {
  if (s.length < 1 || s.length > 64) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

/** 16-128 bytes of printable ASCII without space (a header value must survive trimming). */
export function validKey(s: string): bool {
  if (s.length < KEY_MIN || s.length > KEY_MAX) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/**
 * An environment parsed and judged under this configuration, once: `ok` when it is acceptable,
 * else `error` says why not. The identity keeps the accepted value, never the text alone.
 */
export function checkEnvironment(env: string, devConfig: bool): ParsedUrl {
  const u = parseEnvironment(env);
  if (u.ok && !u.https && !devConfig) {
    u.ok = false;
    u.error = "http:// refused by a production board";
  }
  return u;
}

export class Identity {
  tenantId: string = "";
  deviceId: string = "";
  environment: ParsedUrl = new ParsedUrl(); // accepted by checkEnvironment when loaded or stored
  apiKey: string = "";
  resetSecret: string = "";
  credGeneration: u32 = 0; // 0: factory environment and apiKey
  failed: bool = false;    // loading failed; the line logged names the field, never its value

  host(): string { return this.environment.host; }
}

// Why loading failed, logged here: the texts are the log dictionary's, not the module's.
function missing(id: Identity, field: string): Identity {
  logError("identity: {} missing: provision the device's key-value store and restart", field);
  id.failed = true;
  return id;
}

function malformedId(id: Identity, field: string): Identity {
  logError("identity: {} malformed (1-64 of A-Z a-z 0-9 _ -): provision the device's key-value store and restart", field);
  id.failed = true;
  return id;
}

function malformedKey(id: Identity, field: string): Identity {
  logError("identity: {} malformed (16-128 printable ASCII): provision the device's key-value store and restart", field);
  id.failed = true;
  return id;
}

export function loadIdentity(devConfig: bool): Identity {
  const id = new Identity();
  const tenant = kvGetString("tenantId");
  const device = kvGetString("deviceId");
  const secret = kvGetString("resetSecret");
  if (tenant == null) return missing(id, "tenantId");
  if (!validId(tenant)) return malformedId(id, "tenantId");
  if (device == null) return missing(id, "deviceId");
  if (!validId(device)) return malformedId(id, "deviceId");
  if (secret == null) return missing(id, "resetSecret");
  if (!validKey(secret)) return malformedKey(id, "resetSecret");
  id.tenantId = tenant;
  id.deviceId = device;
  id.resetSecret = secret;

  if (loadCred(id, devConfig)) return id;

  const env = kvGetString("environment");
  const key = kvGetString("apiKey");
  if (env == null) return missing(id, "environment");
  const environment = checkEnvironment(env, devConfig);
  if (!environment.ok) {
    logError("identity: environment malformed: {}: provision the device's key-value store and restart", environment.error);
    id.failed = true;
    return id;
  }
  if (key == null) return missing(id, "apiKey");
  if (!validKey(key)) return malformedKey(id, "apiKey");
  id.environment = environment;
  id.apiKey = key;
  return id;
}

/** Takes environment and apiKey from a rotation's `cred` record when it is whole and valid. */
function loadCred(id: Identity, devConfig: bool): bool {
  const r = kvGet("cred");
  if (r.status != 0) return false;
  const rd = new ByteReader(r.value!);
  const version = rd.u8();
  const gen = rd.u32();
  const env = rd.str();
  const key = rd.str();
  // A record of a shape we do not know: fall back to the factory key. If that key was
  // rotated away the cloud answers 401 and a reset heals it.
  if (!rd.atEnd() || version != CRED_VERSION || !validKey(key)) return false;
  const environment = checkEnvironment(env, devConfig);
  if (!environment.ok) return false;
  id.environment = environment;
  id.apiKey = key;
  id.credGeneration = gen;
  return true;
}

/** Stores a rotated environment (accepted by checkEnvironment) and apiKey as one record (one key: atomic). */
export function storeCred(id: Identity, environment: ParsedUrl, apiKey: string): i32 {
  const w = new ByteWriter(8 + 2 + 2 * KEY_MAX + 2 * ENV_MAX_BYTES);
  w.u8(CRED_VERSION);
  w.u32(id.credGeneration + 1);
  w.str(environment.url);
  w.str(apiKey);
  const rc = kvSet("cred", w.bytes());
  if (rc == 0) {
    id.environment = environment;
    id.apiKey = apiKey;
    id.credGeneration++;
  }
  return rc;
}

export function hostAllowed(candidate: ParsedUrl, currentHost: string, allowHosts: string[]): bool {
  if (candidate.host == currentHost) return true;
  for (let i = 0; i < allowHosts.length; i++) if (allowHosts[i] == candidate.host) return true;
  return false;
}
