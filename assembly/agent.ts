// The agent's state machine. Two loops share one clock:
//  - sampling: a position every movingIntervalS / uplinkIntervalS (a GNSS fix bounded by
//    gnssTimeoutS) and a health uplink every heartbeatS, each written to the flash log;
//  - network: connect, then deliver the log (one uplink live when nothing else is buffered,
//    otherwise backfill batches, oldest first), reset on 401, back off on failures.
// At most one HTTP request is in flight. Nothing here blocks: the host calls step() and the
// on_* events, and sleeps until the time step() returns.
import { host_http_request, host_gnss_start, host_battery_percent, host_motion } from "./host";
import { logError, logWarn, logInfo, logDebug } from "./logger";
import { Identity, loadIdentity, storeCred, validId, validKey, environmentProblem, hostAllowed } from "./identity";
import { parseEnvironment } from "./url";
import { asciiLower, trimAscii } from "./text";
import { Settings, applySettings, SettingsResult, SETTING_NAMES, settingGet } from "./settings";
import { AgentState, loadState, storeState, loadSettings, storeSettings, loadSeq, storeSeq } from "./persist";
import { UtcClock, parseIso } from "./clock";
import { BackoffPolicy, TRANSIENT, FORBIDDEN, LONG, backoffDelay } from "./backoff";
import {
  Verdict, classify, statusText, endpointUrl, requestHeaders, parseResponseHeaders,
  ENDPOINT_CONNECT, ENDPOINT_RESET, ENDPOINT_UPLINK, ENDPOINT_BACKFILL, NET_TIMEOUT,
} from "./cloud";
import { ObjectScan, J_STRING, J_OBJECT, decodeString } from "./json/scan";
import { ConnectReport, quoted, int } from "./json/wire";
import { UplinkRecord, KIND_POSITION, KIND_HEALTH, RECORD_MAX, validFix, setFix, recordUtc } from "./uplink";
import { UplinkLog, LOG_OK, LOG_ERR_CORRUPT } from "./log";
import { RequestBody, BODY_CAPACITY } from "./request_body";
import { appendUplink } from "./uplink_body";

export const FLAG_DEV: i32 = 1;
export const FLAG_AFTER_TRAP: i32 = 2;
export const FLAG_FAULT_INJECTION: i32 = 4;

export const START_OK: i32 = 0;
export const START_BAD_IDENTITY: i32 = -1;
export const START_BAD_CONFIG: i32 = -2;
export const START_BAD_FLASH: i32 = -3;

/** What the network loop is doing or will do next. Stored in `state` while backing off. */
export enum Op { NONE, CONNECT, RESET, SEND }

export enum State { IDLE = 0, CONNECTING = 1, RESETTING = 2, SENDING = 3, BACKING_OFF = 4, STOPPED = 5 }

const HTTP_TIMEOUT_MS: i32 = 30_000;
// If the host never reports on a request, the agent gives up on it after this long.
const HTTP_WATCHDOG_MS: i64 = 45_000;
const GNSS_GRACE_MS: i64 = 5_000;
const SEQ_BLOCK: u64 = 32;
const MAX_SLEEP_MS: i64 = 3_600_000;
const KEY_ROTATE_MARGIN_MS: i64 = 86_400_000;
const NEVER: i64 = I64.MAX_VALUE;
const KEY_EXPIRES_IGNORED = "connect: keyExpires ignored: ";

export class BoardConfig {
  dev: bool = false;
  faultInjection: bool = false;
  firmware: string = "0.0.0";
  allowHosts: string[] = [];
  error: string = "";
}

/** Parses the `key=value` lines the host wrote before agent_start (ABI.md). */
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
    if (eq <= 0) { c.error = "board config line " + lineNo.toString() + " is not key=value"; return c; }
    const key = line.substring(0, eq);
    const value = line.substring(eq + 1);
    if (key == "allow_host") {
      const u = parseEnvironment("https://" + value);
      if (!u.ok || u.port != 0 || u.host != asciiLower(value)) { c.error = "board config: bad allow_host '" + value + "'"; return c; }
      c.allowHosts.push(u.host);
    } else if (key == "firmware") {
      if (value.length == 0 || value.length > 32) { c.error = "board config: firmware not 1-32 characters"; return c; }
      c.firmware = value;
    } else {
      c.error = "board config: unknown key '" + key + "'";
      return c;
    }
  }
  return c;
}

export class Agent {
  cfg: BoardConfig;
  id: Identity = new Identity();
  settings: Settings = new Settings();
  st: AgentState = new AgentState();
  clock: UtcClock = new UtcClock();
  log: UplinkLog;
  private scan: ObjectScan = new ObjectScan();
  private subScan: ObjectScan = new ObjectScan();
  private rec: UplinkRecord = new UplinkRecord();
  private recBuf: usize = heap.alloc(RECORD_MAX + 8);
  private idBuf: usize = heap.alloc(8);

  // uplink ids
  private nextId: u64 = 1;
  private reservedUpTo: u64 = 1;

  // statistics of this boot (agent_stat)
  recorded: u64 = 0;
  acked: u64 = 0;
  requests: u64 = 0;
  state: State = State.IDLE;

  // network loop
  private connected: bool = false;
  private needReset: bool = false;
  private resetJustDone: bool = false;
  private inflight: Op = Op.NONE;
  private reqId: i32 = 0;
  private inflightSince: i64 = 0;
  private waitUntil: i64 = 0;
  private resumeOp: Op = Op.NONE;
  private nextConnectAt: i64 = NEVER;
  private rotateAt: i64 = NEVER;
  private rejectionSent: string = "";
  private batchLimit: i32 = 0; // 0: settings.backfillBatchSize
  private sentCount: i32 = 0;
  private sentLastId: u64 = 0;

  // sampling loop
  private nextSampleAt: i64 = 0;
  private nextHealthAt: i64 = 0;
  private gnssReq: i32 = 0;
  private gnssActive: bool = false;
  private gnssDeadline: i64 = 0;

  constructor(cfg: BoardConfig, sectorSize: u32, sectorCount: u32, progSize: u32) {
    this.cfg = cfg;
    this.log = new UplinkLog(sectorSize, sectorCount, progSize);
  }

  start(now: i64, afterTrap: bool): i32 {
    this.id = loadIdentity(this.cfg.dev);
    if (this.id.error.length > 0) {
      logError("identity: " + this.id.error + ": provision the device's key-value store and restart");
      this.state = State.STOPPED;
      return START_BAD_IDENTITY;
    }
    const rc = this.log.mount();
    if (rc != LOG_OK) logError("uplink log: mount failed (" + rc.toString() + "): will retry; check the flash partition");
    this.settings = loadSettings();
    this.st = loadState();
    this.st.boots++;
    if (afterTrap) this.st.traps++;
    // An id is never reused: continue after both the reservation and what the log holds.
    let next = loadSeq();
    const hi = this.log.highestId();
    if (hi + 1 > next) next = hi + 1;
    this.nextId = next;
    this.reservedUpTo = next;
    // A back-off in progress survives the reboot: wait it out again from now.
    if (this.st.backoffAttempt > 0 && this.st.backoffWaitMs > 0) {
      this.waitUntil = now + this.st.backoffWaitMs;
      this.resumeOp = this.st.backoffResume == <u32>Op.RESET ? Op.RESET : Op.CONNECT;
      this.state = State.BACKING_OFF;
      logInfo("back-off resumed: next try in " + (this.st.backoffWaitMs / 1000).toString() + " s");
    }
    this.persistState();
    this.nextSampleAt = now;
    this.nextHealthAt = now;
    logInfo("started: device " + this.id.deviceId + ", boot " + this.st.boots.toString() + ", " +
      this.log.count().toString() + " uplinks buffered, next id " + this.nextId.toString());
    return START_OK;
  }

  // ---- the step --------------------------------------------------------------------------

  step(now: i64): i64 {
    if (this.state == State.STOPPED) return now + MAX_SLEEP_MS;
    this.stepSampling(now);
    this.stepNetwork(now);
    return this.nextWake(now);
  }

  private nextWake(now: i64): i64 {
    let wake = now + MAX_SLEEP_MS;
    if (this.gnssActive) wake = min(wake, this.gnssDeadline + GNSS_GRACE_MS);
    else wake = min(wake, this.nextSampleAt);
    wake = min(wake, this.nextHealthAt);
    if (this.inflight != Op.NONE) {
      wake = min(wake, this.inflightSince + HTTP_WATCHDOG_MS);
    } else if (this.waitUntil > now) {
      wake = min(wake, this.waitUntil);
    } else {
      wake = min(wake, this.nextConnectAt);
      wake = min(wake, this.rotateAt);
      if (this.log.count() > 0) wake = now; // cannot happen after stepNetwork unless it failed to start
    }
    // Never ask to be woken in the past: that is how a hot loop starts.
    return max(wake, now + 1);
  }

  // ---- sampling ----------------------------------------------------------------------------

  private stepSampling(now: i64): void {
    if (this.gnssActive && now >= this.gnssDeadline + GNSS_GRACE_MS) {
      logWarn("GNSS: no answer in time; recorded without a fix");
      this.gnssActive = false;
      this.recordPosition(now, false, 0, 0, 0);
    }
    if (!this.gnssActive && now >= this.nextSampleAt) {
      const moving = host_motion() == 1;
      const intervalS = moving ? this.settings.movingIntervalS : this.settings.uplinkIntervalS;
      this.nextSampleAt = now + <i64>intervalS * 1000;
      const timeoutMs = this.settings.gnssTimeoutS * 1000;
      this.gnssReq++;
      if (host_gnss_start(this.gnssReq, timeoutMs) == 0) {
        this.gnssActive = true;
        this.gnssDeadline = now + <i64>timeoutMs;
      } else {
        this.recordPosition(now, false, 0, 0, 0);
      }
    }
    if (now >= this.nextHealthAt) {
      this.nextHealthAt = now + <i64>this.settings.heartbeatS * 1000;
      this.recordHealth(now);
    }
  }

  onGnss(now: i64, reqId: i32, status: i32, lat: f64, lon: f64, acc: f64, utcS: f64): void {
    if (!this.gnssActive || reqId != this.gnssReq) return;
    this.gnssActive = false;
    if (status == 0 && utcS > 0 && isFinite(utcS) && utcS < 1e11) this.clock.hint(<i64>(utcS * 1000), now);
    const fix = status == 0 && validFix(lat, lon, acc);
    if (status == 0 && !fix) logWarn("GNSS: fix out of range ignored");
    this.recordPosition(now, fix, lat, lon, acc);
  }

  private stampRecord(r: UplinkRecord, now: i64): void {
    r.utcKnown = this.clock.known;
    r.boot = this.st.boots;
    r.time = this.clock.known ? this.clock.utcAt(now) : now;
    const b = host_battery_percent();
    r.battery = b >= 0 && b <= 100 ? b : -1;
  }

  private recordPosition(now: i64, fix: bool, lat: f64, lon: f64, acc: f64): void {
    const r = this.rec;
    r.kind = KIND_POSITION;
    this.stampRecord(r, now);
    r.fix = false;
    r.latE7 = 0;
    r.lonE7 = 0;
    r.accuracyDm = 0;
    if (fix) setFix(r, lat, lon, acc);
    this.append(r);
  }

  private recordHealth(now: i64): void {
    const r = this.rec;
    r.kind = KIND_HEALTH;
    this.stampRecord(r, now);
    r.bootCount = this.st.boots;
    r.buffered = this.log.count();
    r.oldestAgeS = this.oldestBufferedAgeS(now);
    r.dropped = <u32>this.st.dropped;
    r.settingsRejected = this.st.settingsRejectedCount;
    r.resets = this.st.resets;
    r.traps = this.st.traps;
    this.append(r);
  }

  private oldestBufferedAgeS(now: i64): i32 {
    if (this.log.count() == 0) return -1;
    const len = this.log.read(0, this.recBuf, RECORD_MAX, this.idBuf);
    const old = new UplinkRecord();
    if (len <= 0 || !old.decode(this.recBuf, len)) return -1;
    if (!old.utcKnown && old.boot == this.st.boots) return <i32>((now - old.time) / 1000);
    const t = recordUtc(old, this.clock, this.st.boots);
    if (t < 0 || !this.clock.known) return -1;
    return <i32>max<i64>(0, (this.clock.utcAt(now) - t) / 1000);
  }

  /** Writes a record to the log under a fresh id; the id is reserved durably first. */
  private append(r: UplinkRecord): void {
    if (this.nextId >= this.reservedUpTo) {
      if (storeSeq(this.nextId + SEQ_BLOCK) != 0) {
        logError("key-value store: no id reserved; uplink lost");
        this.st.dropped++;
        this.persistState();
        return;
      }
      this.reservedUpTo = this.nextId + SEQ_BLOCK;
    }
    const len = r.encode(this.recBuf);
    const id = this.nextId++;
    const rc = this.log.append(id, this.recBuf, len);
    if (rc != LOG_OK) {
      logError("uplink log: append failed (" + rc.toString() + "); uplink " + id.toString() + " lost");
      this.st.dropped++;
      this.persistState();
      return;
    }
    this.recorded++;
    const lost = this.log.droppedSinceMount();
    if (lost > this.droppedSeen) {
      this.st.dropped += lost - this.droppedSeen;
      this.droppedSeen = lost;
      logWarn("log full: " + this.st.dropped.toString() + " oldest uplinks dropped so far");
      this.persistState();
    }
  }
  private droppedSeen: u64 = 0;

  // ---- network -----------------------------------------------------------------------------

  private stepNetwork(now: i64): void {
    if (this.inflight != Op.NONE) {
      if (now - this.inflightSince >= HTTP_WATCHDOG_MS) {
        logWarn("HTTP: no answer to request " + this.reqId.toString() + "; timed out");
        this.onHttpAnswer(now, this.reqId, NET_TIMEOUT, 0, 0, 0);
      }
      return;
    }
    if (now < this.waitUntil) return;
    if (this.state == State.BACKING_OFF) {
      this.state = State.IDLE;
      if (this.resumeOp == Op.RESET) this.needReset = true;
      else if (this.resumeOp == Op.CONNECT) this.connected = false;
      this.resumeOp = Op.NONE;
    }
    if (this.needReset) { this.sendReset(now); return; }
    if (!this.connected || now >= this.nextConnectAt) { this.sendConnect(now); return; }
    if (now >= this.rotateAt) {
      logInfo("API key expires soon: rotating");
      this.rotateAt = NEVER;
      this.needReset = true;
      this.sendReset(now);
      return;
    }
    if (this.log.count() > 0) this.sendUplinks(now);
  }

  /** Sends what RequestBody holds (empty: no body). */
  private begin(now: i64, op: Op, endpoint: string): void {
    const url = String.UTF8.encode(endpointUrl(this.id, endpoint));
    const headers = String.UTF8.encode(requestHeaders(this.id, endpoint, RequestBody.length() > 0));
    this.reqId++;
    this.inflight = op;
    this.inflightSince = now;
    this.requests++;
    this.state = op == Op.CONNECT ? State.CONNECTING : op == Op.RESET ? State.RESETTING : State.SENDING;
    const rc = host_http_request(this.reqId, 1,
      changetype<usize>(url), url.byteLength,
      changetype<usize>(headers), headers.byteLength,
      RequestBody.pointer(), RequestBody.length(),
      HTTP_TIMEOUT_MS);
    if (rc != 0) this.onHttpAnswer(now, this.reqId, -3, 0, 0, 0);
  }

  private sendConnect(now: i64): void {
    const r = new ConnectReport();
    r.firmware = quoted(this.cfg.firmware);
    r.bufferedUplinks = int(this.log.count());
    r.lastUplinkId = int(<i64>(this.nextId - 1));
    r.droppedUplinks = int(<i64>this.st.dropped);
    if (this.st.pendingRejection.length > 0) r.settingsRejected = quoted(this.st.pendingRejection);
    this.rejectionSent = this.st.pendingRejection;
    RequestBody.reset();
    RequestBody.appendJson<ConnectReport>("", r, BODY_CAPACITY);
    this.begin(now, Op.CONNECT, ENDPOINT_CONNECT);
  }

  private sendReset(now: i64): void {
    RequestBody.reset();
    this.begin(now, Op.RESET, ENDPOINT_RESET);
  }

  private sendUplinks(now: i64): void {
    if (this.beginUplinks(now)) return;
    // Nothing could be sent (a record unreadable, a flash error): try again in a second, not
    // in a tight loop.
    if (this.log.count() > 0) this.waitUntil = now + 1_000;
  }

  /** Starts /uplinks (one record, nothing else buffered) or /uplinks/backfill; false if not. */
  private beginUplinks(now: i64): bool {
    const count = this.log.count();
    // Backfill: oldest first, within the batch size and 16 KiB of body. One record alone goes
    // live to /uplinks.
    let limit = this.settings.backfillBatchSize;
    if (this.batchLimit > 0 && this.batchLimit < limit) limit = this.batchLimit;
    const backfill = count > 1;
    RequestBody.reset();
    if (backfill) RequestBody.append("{\"uplinks\":[");
    const room = backfill ? BODY_CAPACITY - 2 : BODY_CAPACITY; // the closing "]}"
    let n: i32 = 0;
    let lastId: u64 = 0;
    for (let i: u32 = 0; i < count && n < limit; i++) {
      const len = this.log.read(i, this.recBuf, RECORD_MAX, this.idBuf);
      if (len < 0) {
        if (n == 0) this.unreadableOldest(len);
        break; // send what precedes it; it is dealt with when it is the oldest
      }
      const id = load<u64>(this.idBuf);
      if (!this.rec.decode(this.recBuf, len)) {
        if (n == 0) this.skipUnreadable(id);
        break;
      }
      if (!appendUplink(n > 0 ? "," : "", id, this.rec, this.clock, this.st.boots, room)) break;
      n++;
      lastId = id;
    }
    if (n == 0) return false;
    if (backfill) RequestBody.append("]}");
    this.sentCount = n;
    this.sentLastId = lastId;
    this.begin(now, Op.SEND, backfill ? ENDPOINT_BACKFILL : ENDPOINT_UPLINK);
    return true;
  }

  /** The oldest record cannot be read. A torn one (cut while it was written) is skipped. */
  private unreadableOldest(rc: i32): void {
    if (rc == LOG_ERR_CORRUPT) this.skipUnreadable(this.log.oldestId());
    else logError("uplink log: read failed (" + rc.toString() + "); retrying");
  }

  /** A log record of no shape this firmware knows cannot be sent; it must not block the rest. */
  private skipUnreadable(id: u64): void {
    logError("uplink log: record " + id.toString() + " unreadable, skipped");
    this.st.dropped++;
    this.persistState();
    this.log.ack(id);
  }

  onHttpAnswer(now: i64, reqId: i32, status: i32, hdrLen: i32, bodyLen: i32, flags: i32): void {
    if (this.inflight == Op.NONE || reqId != this.reqId) return;
    const op = this.inflight;
    this.inflight = Op.NONE;
    this.state = State.IDLE;
    // The host's lengths are checked like any other input.
    if (hdrLen < 0 || bodyLen < 0 || hdrLen > RX_CAPACITY || bodyLen > RX_CAPACITY - hdrLen) {
      logError("HTTP: answer overflows rx buffer");
      status = -3;
      hdrLen = 0;
      bodyLen = 0;
    }
    const headers = parseResponseHeaders(String.UTF8.decodeUnsafe(rxBase, hdrLen), this.clock, now);
    if (headers.dateMs >= 0) this.clock.hint(headers.dateMs, now);
    if (headers.retryAfterClamped) logWarn("Retry-After over 7 days: waiting 7 days");
    const truncated = (flags & 1) != 0;
    const verdict = classify(status);
    if (op == Op.CONNECT) this.onConnectAnswer(now, status, verdict, headers.retryAfterMs, rxBase + <usize>hdrLen, bodyLen, truncated);
    else if (op == Op.RESET) this.onResetAnswer(now, status, verdict, headers.retryAfterMs, rxBase + <usize>hdrLen, bodyLen, truncated);
    else this.onSendAnswer(now, status, verdict, headers.retryAfterMs, rxBase + <usize>hdrLen, bodyLen, truncated);
  }

  private onConnectAnswer(now: i64, status: i32, v: Verdict, retryAfterMs: i64, body: usize, len: i32, truncated: bool): void {
    if (v == Verdict.OK) {
      this.connected = true;
      this.resetJustDone = false;
      this.batchLimit = 0;
      this.succeeded();
      this.nextConnectAt = now + <i64>this.settings.heartbeatS * 1000;
      // The rejection we reported has been delivered.
      if (this.rejectionSent.length > 0 && this.st.pendingRejection == this.rejectionSent) {
        this.st.pendingRejection = "";
        this.persistState();
      }
      this.readConnectBody(now, body, len, truncated);
      return;
    }
    this.failed(now, Op.CONNECT, status, v, retryAfterMs, "connect");
  }

  private readConnectBody(now: i64, body: usize, len: i32, truncated: bool): void {
    const scan = this.scan;
    if (truncated || !scan.scan(body, len)) {
      const why = truncated ? "body too large" : scan.error;
      this.rejectSettings("settings: answer unreadable (" + why + ")");
      return;
    }
    const s = scan.find("settings");
    // keyExpires is read first: applySettings reuses a scanner on the sub-object.
    const k = scan.find("keyExpires");
    let expires: i64 = -2;
    if (k >= 0) {
      const m = scan.members[k];
      const text = m.kind == J_STRING ? decodeString(m.start, m.end) : null;
      expires = text == null ? -1 : parseIso(text!);
      if (expires < 0) logWarn(KEY_EXPIRES_IGNORED + "unreadable");
    }
    if (s >= 0) {
      const result: SettingsResult = applySettings(this.settings, scan.members[s], this.subScan);
      if (result.settings == null) {
        this.rejectSettings(result.rejection);
      } else if (!result.settings!.equals(this.settings)) {
        this.settings = result.settings!;
        if (storeSettings(this.settings) != 0) logError("key-value store: settings applied, not stored");
        logInfo("settings updated");
        this.nextConnectAt = now + <i64>this.settings.heartbeatS * 1000;
      }
    }
    if (expires >= 0) this.scheduleRotation(now, expires);
  }

  private rejectSettings(why: string): void {
    logWarn("settings rejected, last good kept: " + why);
    this.st.pendingRejection = why;
    this.st.settingsRejectedCount++;
    this.persistState();
  }

  private scheduleRotation(now: i64, expiresUtc: i64): void {
    if (!this.clock.known) {
      logWarn(KEY_EXPIRES_IGNORED + "UTC unknown");
      return;
    }
    const remaining = expiresUtc - this.clock.utcAt(now);
    const margin = min(KEY_ROTATE_MARGIN_MS, remaining / 2);
    this.rotateAt = remaining <= 0 ? now : now + remaining - margin;
  }

  private onResetAnswer(now: i64, status: i32, v: Verdict, retryAfterMs: i64, body: usize, len: i32, truncated: bool): void {
    if (v == Verdict.OK) {
      const why = truncated ? "body too large" : this.checkResetAnswer(body, len);
      if (why.length > 0) {
        logError("reset: answer refused: " + why);
        this.failed(now, Op.RESET, status, Verdict.RETRY, retryAfterMs, "reset");
        return;
      }
      this.st.resets++;
      this.persistState();
      this.needReset = false;
      this.connected = false;
      this.resetJustDone = true;
      this.rotateAt = NEVER;
      this.succeeded();
      logInfo("reset: new API key stored; connecting to " + this.id.host());
      return;
    }
    if (status == 401 || status == 403) {
      logError("reset: reset secret refused (HTTP " + status.toString() + "): cannot recover alone; re-provision the reset secret");
      this.failed(now, Op.RESET, status, Verdict.GONE, retryAfterMs, "reset");
      return;
    }
    this.failed(now, Op.RESET, status, v, retryAfterMs, "reset");
  }

  /** Checks a reset answer and stores it; returns why it was refused, or "". */
  private checkResetAnswer(body: usize, len: i32): string {
    const scan = this.scan;
    if (!scan.scan(body, len)) return "not a JSON object (" + scan.error + ")";
    const deviceId = this.stringMember("deviceId");
    const tenantId = this.stringMember("tenantId");
    const apiKey = this.stringMember("apiKey");
    const environment = this.stringMember("environment");
    if (deviceId == null || !validId(deviceId!) || deviceId! != this.id.deviceId) return "deviceId is not ours";
    if (tenantId == null || !validId(tenantId!) || tenantId! != this.id.tenantId) return "tenantId is not ours";
    if (apiKey == null || !validKey(apiKey!)) return "apiKey malformed";
    if (environment == null) return "environment missing";
    const problem = environmentProblem(environment!, this.cfg.dev);
    if (problem.length > 0) return "environment refused: " + problem;
    const u = parseEnvironment(environment!);
    if (!hostAllowed(u, this.id.host(), this.cfg.allowHosts)) return "environment host " + u.host + " is not on the allow-list";
    if (storeCred(this.id, environment!, apiKey!) != 0) return "key-value store refused the new key";
    return "";
  }

  private stringMember(name: string): string | null {
    const i = this.scan.find(name);
    if (i < 0) return null;
    const m = this.scan.members[i];
    if (m.kind != J_STRING) return null;
    return decodeString(m.start, m.end);
  }

  private onSendAnswer(now: i64, status: i32, v: Verdict, retryAfterMs: i64, body: usize, len: i32, truncated: bool): void {
    if (v == Verdict.OK || v == Verdict.DUPLICATE) {
      if (this.sentCount > 1 && v == Verdict.OK && (truncated || !this.scan.scan(body, len) || this.scan.find("accepted") < 0)) {
        logDebug("backfill: body unreadable; status acks it");
      }
      if (this.log.ack(this.sentLastId) != LOG_OK) logError("uplink log: ack not stored; may resend");
      this.acked += <u64>this.sentCount;
      this.succeeded();
      return;
    }
    if (v == Verdict.TOO_LARGE && this.sentCount > 1) {
      this.batchLimit = this.sentCount / 2;
      logInfo("backfill: 413, halving the batch to " + this.batchLimit.toString());
      return;
    }
    if (v == Verdict.RESET) this.connected = false;
    this.failed(now, Op.SEND, status, v == Verdict.TOO_LARGE ? Verdict.RETRY : v, retryAfterMs, this.sentCount > 1 ? "backfill" : "uplink");
  }

  // ---- back-off ----------------------------------------------------------------------------

  private succeeded(): void {
    if (this.st.backoffAttempt != 0) {
      this.st.backoffAttempt = 0;
      this.st.backoffWaitMs = 0;
      this.st.backoffResume = <u32>Op.NONE;
      this.persistState();
    }
  }

  private failed(now: i64, op: Op, status: i32, v: Verdict, retryAfterMs: i64, what: string): void {
    if (v == Verdict.RESET) {
      this.connected = false;
      if (!this.resetJustDone) {
        logWarn(what + ": HTTP 401, API key invalid: resetting");
        this.needReset = true;
        return;
      }
      // A fresh key refused at once: reset again, but not in a tight loop.
      this.resetJustDone = false;
      op = Op.RESET;
      v = Verdict.RETRY;
    }
    let policy: BackoffPolicy = TRANSIENT;
    if (v == Verdict.FORBIDDEN) policy = FORBIDDEN;
    else if (v == Verdict.GONE) policy = LONG;
    this.st.backoffAttempt++;
    let wait = backoffDelay(policy, <i32>min<u32>(this.st.backoffAttempt, 30));
    if (retryAfterMs > wait) wait = retryAfterMs;
    this.waitUntil = now + wait;
    // After a wait, what failed is tried again; an uplink failure reconnects first only on 401.
    this.resumeOp = op == Op.RESET ? Op.RESET : op == Op.CONNECT ? Op.CONNECT : Op.SEND;
    this.state = State.BACKING_OFF;
    this.st.backoffWaitMs = wait;
    this.st.backoffResume = <u32>(this.resumeOp == Op.SEND ? Op.CONNECT : this.resumeOp);
    this.persistState();
    const reason = v == Verdict.FORBIDDEN ? " (key lacks scope or device disabled)" : v == Verdict.GONE ? " (device unknown; data kept)" : "";
    logWarn(what + ": " + statusText(status) + reason + "; retry " + this.st.backoffAttempt.toString() + " in " + (wait / 1000).toString() + " s");
  }

  private persistState(): void {
    if (storeState(this.st) != 0) logError("key-value store: state not stored");
  }

  stat(which: i32): i64 {
    if (which == 0) return <i64>this.recorded;
    if (which == 1) return <i64>this.acked;
    if (which == 2) return <i64>this.log.count();
    if (which == 3) return <i64>this.st.resets;
    if (which == 4) return <i64>this.st.dropped;
    if (which == 5) return <i64>(this.nextId - 1);
    if (which == 6) return <i64>this.state;
    if (which == 7) return <i64>this.st.boots;
    if (which == 8) return <i64>this.st.traps;
    if (which == 9) return this.clock.known ? 1 : 0;
    if (which == 10) return <i64>this.st.backoffAttempt;
    if (which == 11) return <i64>this.requests;
    if (which >= 12 && which < 12 + SETTING_NAMES.length) return <i64>settingGet(this.settings, which - 12);
    return -1;
  }
}

// The receive buffer the host writes answers into (ABI.md: rx_buffer / rx_capacity). It is
// the first 4 KiB of the request body's memory: a body is the host's until it delivers the
// answer, and an answer is read before the next body is written, so the two never need the
// memory at once (request_body.ts).
export const RX_CAPACITY: i32 = 4096;
export const rxBase: usize = RequestBody.pointer();
