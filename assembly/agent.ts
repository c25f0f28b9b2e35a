// The agent: a short composer of its parts, and the only place where they meet I/O.
//  - sampler.ts decides when to record a position or a health uplink;
//  - ids.ts names each uplink (epoch, id), log/ keeps it in flash until acknowledged;
//  - session.ts decides which request to make and what each answer means for the next one;
//  - budget.ts is the backstop under every request, whatever the session decides;
//  - answers.ts judges answers before anything is committed.
// At most one HTTP request is in flight. Nothing here blocks: the host calls step() and the
// on_* events, and sleeps until the time step() returns.
import { host_http_request, host_battery_percent, host_random } from "./host";
import { logError, logWarn, logInfo } from "./logger";
import { Identity, loadIdentity, storeCred } from "./identity";
import { Settings, applySettings, settingGet } from "./settings";
import { AgentCounters, loadState, storeState, loadSettings, storeSettings } from "./persist";
import { UtcClock, parseIso, HINT_DATE, HINT_GNSS } from "./clock";
import { statusText, endpointUrl, requestHeaders, parseResponseHeaders, ENDPOINT_CONNECT, ENDPOINT_RESET, ENDPOINT_UPLINK, ENDPOINT_BACKFILL } from "./cloud";
import { ObjectScan, J_STRING, decodeString } from "./json/scan";
import { ConnectReport, quoted, int } from "./json/wire";
import { UplinkRecord, BootPlace, KIND_POSITION, KIND_HEALTH, RECORD_MAX, setFix, recordUtc } from "./uplink";
import { RequestBody, BODY_CAPACITY } from "./request_body";
import { appendUplink } from "./uplink_body";
import { UplinkLog, LOG_OK, LOG_ERR_CORRUPT } from "./log";
import { IdAllocator, EPOCH_KEPT, EPOCH_FIRST, EPOCH_NO_RECORD, EPOCH_LOG_LOST } from "./ids";
import { RequestBudget, BUDGET_PER_HOUR } from "./budget";
import { Sampler, SAMPLE_POSITION, SAMPLE_HEALTH, SAMPLE_GNSS_LATE, fixUtcMs, fixUsable } from "./sampler";
import {
  Session, REQ_NONE, REQ_CONNECT, REQ_RESET, REQ_SEND, OUT_OK, OUT_TRANSIENT, OUT_SECRET_REFUSED,
  ACT_ACK, ACT_HALVE, ACT_PERSIST, S_BACKING_OFF, S_STOPPED, S_RESET_DUE, S_IDLE,
} from "./session";
import { judgeConnect, judgeReset, judgeSend } from "./answers";
import { BoardConfig } from "./board_config";
import { RX_CAPACITY, rxBase } from "./rx";
import {
  START_OK, START_BAD_IDENTITY, NET_TIMEOUT, NET_BROKEN, METHOD_POST, RESPONSE_BODY_CUT, GNSS_FIX, IMPORT_OK,
  STAT_RECORDED, STAT_ACKED, STAT_BUFFERED, STAT_RESETS, STAT_DROPPED, STAT_LAST_ID, STAT_STATE, STAT_BOOTS,
  STAT_TRAPS, STAT_UTC_KNOWN, STAT_BACKOFF_ATTEMPT, STAT_REQUESTS, STAT_UPLINK_INTERVAL_S, STAT_SEND_INTERVAL_S,
  STAT_EPOCH, STAT_UNVERIFIED_ANSWERS, STAT_BUDGET_REMAINING, STAT_BUDGET_WAITS, STAT_EPOCH_ORDINAL,
} from "./abi_constants";


const HTTP_TIMEOUT_MS: i32 = 30_000;
// If the host never reports on a request, the agent gives up on it after this long.
const HTTP_WATCHDOG_MS: i64 = 45_000;
const MAX_SLEEP_MS: i64 = 3_600_000;
/** After an uplink could not be read for sending, sending waits this long (no tight loop). */
const SEND_HOLD_MS: i64 = 1_000;

const CONNECT_MEMBERS: StaticArray<string> = ["settings", "keyExpires"];

export class Agent {
  cfg: BoardConfig;
  id: Identity = new Identity();
  settings: Settings = new Settings();
  counters: AgentCounters = new AgentCounters();
  clock: UtcClock = new UtcClock();
  uplinks: UplinkLog;
  ids: IdAllocator = new IdAllocator();
  session: Session = new Session();
  budget: RequestBudget = new RequestBudget();
  sampler: Sampler = new Sampler();
  private here: BootPlace = new BootPlace();
  private connectScan: ObjectScan = new ObjectScan(CONNECT_MEMBERS);
  private rec: UplinkRecord = new UplinkRecord();
  private recBuf: usize = heap.alloc(RECORD_MAX + 8);
  private keyBuf: usize = heap.alloc(8);

  // statistics of this power-on (agent_stat)
  recorded: u64 = 0;
  acked: u64 = 0;
  requests: u64 = 0;

  // the request in flight
  private reqId: i32 = 0;
  private sentCount: i32 = 0;
  private sentLastKey: u64 = 0;
  private rejectionSent: string = "";
  private batchLimit: i32 = 0; // 0: settings.backfillBatchSize
  private sendHoldUntil: i64 = 0;
  private budgetHeld: bool = false;
  private droppedSeen: u64 = 0;
  private lastNow: i64 = 0;
  // Uplinks of this boot wait in the log without UTC: a second answer can date them.
  private undated: bool = false;
  private timeChecked: bool = false;
  // Batching (sendIntervalS, DEVICE-API.md "Batching"): buffered uplinks are sent once
  // `flushing`, and then until the log is drained.
  private flushing: bool = false;
  // When the oldest buffered uplink is sendIntervalS old, worked out once per oldest record.
  private dueAt: i64 = 0;
  private dueKey: u64 = 0;
  private dueTrusted: bool = false;
  private dueInterval: i32 = -1;
  // The problems the last health uplink reported: a health uplink with a new one goes at once.
  private reportedDropped: u64 = 0;
  private reportedRejected: u32 = 0;
  private reportedTraps: u32 = 0;

  constructor(cfg: BoardConfig, sectorSize: u32, sectorCount: u32, progSize: u32) {
    this.cfg = cfg;
    this.uplinks = new UplinkLog(sectorSize, sectorCount, progSize);
  }

  start(now: i64, afterTrap: bool): i32 {
    this.id = loadIdentity(this.cfg.dev);
    if (this.id.failed) { // loadIdentity logged why
      this.session.stop();
      return START_BAD_IDENTITY;
    }
    const rc = this.uplinks.mount();
    if (rc != LOG_OK) logError("uplink log: mount failed ({}): will retry; check the flash partition", rc);
    this.settings = loadSettings();
    this.counters = loadState();
    this.reportedDropped = this.counters.dropped;
    this.reportedRejected = this.counters.settingsRejectedCount;
    this.reportedTraps = this.counters.traps;
    if (afterTrap) this.counters.traps++;
    this.ids.start(this.uplinks.highestId(), host_random());
    this.logEpoch();
    this.here.epoch = this.ids.epoch;
    this.here.boot = this.ids.boots;
    this.budget.load(now, this.ids.why == EPOCH_FIRST, afterTrap);
    const c = this.counters;
    this.session.restore(now, c.backoffAttempt, c.backoffFailed, c.backoffResume, c.backoffPolicy, c.backoffWaitMs);
    if (this.session.state == S_BACKING_OFF) {
      logInfo("back-off resumed: next try in {} s", (this.session.waitUntil - now) / 1000);
    }
    this.persistState();
    this.sampler.start(now);
    logInfo("started: device {}, epoch {} boot {}, {} uplinks buffered, next id {}",
      this.id.deviceId, this.ids.epoch, this.ids.boots, this.uplinks.count(), this.ids.lastId() + 1);
    return START_OK;
  }

  private logEpoch(): void {
    const why = this.ids.why;
    if (why == EPOCH_KEPT || why == EPOCH_FIRST) return;
    const epoch = this.ids.epoch;
    if (why == EPOCH_NO_RECORD) logWarn("uplink ids: id counter record missing or damaged: new epoch {} (no id is reused)", epoch);
    else if (why == EPOCH_LOG_LOST) logWarn("uplink ids: the uplink log lost the ids in use: new epoch {} (no id is reused)", epoch);
    else logWarn("uplink ids: the uplink log holds another id sequence: new epoch {} (no id is reused)", epoch);
  }

  // ---- the step --------------------------------------------------------------------------

  step(now: i64): i64 {
    this.lastNow = now;
    if (this.session.state == S_STOPPED) return now + MAX_SLEEP_MS;
    this.stepSampling(now);
    this.stepNetwork(now);
    return this.nextWake(now);
  }

  /** Uplinks are to be sent now. */
  private buffered(now: i64): bool {
    return this.flushing && this.uplinks.count() > 0 && now >= this.sendHoldUntil;
  }

  /** Starts sending what is buffered when the oldest uplink has waited sendIntervalS; stops when drained. */
  private updateFlushing(now: i64): void {
    if (this.uplinks.count() == 0) this.flushing = false;
    else if (!this.flushing && now >= this.sendDueAt(now)) this.flushing = true;
  }

  /**
   * When the oldest buffered uplink is sendIntervalS old (monotonic ms). Its age is read from
   * the log once per oldest record (and again when the clock becomes trusted). An age that
   * cannot be known (a record of an earlier boot, the clock not yet trusted, or unreadable)
   * is taken as due: it is at least as old as this boot.
   */
  private sendDueAt(now: i64): i64 {
    const interval = this.settings.sendIntervalS;
    if (interval == 0) return now;
    const key = this.uplinks.oldestId();
    if (key != this.dueKey || this.clock.trusted != this.dueTrusted || interval != this.dueInterval) {
      this.dueKey = key;
      this.dueTrusted = this.clock.trusted;
      this.dueInterval = interval;
      const age = this.oldestBufferedAgeS(now);
      this.dueAt = age < 0 ? now : now + (<i64>interval - <i64>age) * 1000;
    }
    return this.dueAt;
  }

  private nextWake(now: i64): i64 {
    let wake = min(now + MAX_SLEEP_MS, this.sampler.wakeAt());
    const s = this.session;
    if (s.inFlight != REQ_NONE) {
      wake = min(wake, s.inFlightSince + HTTP_WATCHDOG_MS);
    } else {
      let want = s.wakeAt(now, this.buffered(now));
      if (this.uplinks.count() > 0 && this.sendHoldUntil > now) want = min(want, this.sendHoldUntil);
      if (this.uplinks.count() > 0 && !this.flushing) want = min(want, max(this.sendDueAt(now), now + 1));
      if (want <= now) want = this.budget.wakeAt(now);
      wake = min(wake, want);
    }
    // Never ask to be woken in the past: that is how a hot loop starts.
    return max(wake, now + 1);
  }

  // ---- sampling ----------------------------------------------------------------------------

  private stepSampling(now: i64): void {
    const due = this.sampler.step(now, this.settings);
    if ((due & SAMPLE_GNSS_LATE) != 0) logWarn("GNSS: no answer in time; recorded without a fix");
    if ((due & SAMPLE_POSITION) != 0) this.recordPosition(now, false, 0, 0, 0);
    if ((due & SAMPLE_HEALTH) != 0) this.recordHealth(now);
  }

  onGnss(now: i64, reqId: i32, status: i32, lat: f64, lon: f64, acc: f64, utcS: f64): void {
    if (!this.sampler.takeFix(reqId)) return;
    const utc = fixUtcMs(status, utcS);
    if (utc >= 0) this.clock.hint(utc, now, HINT_GNSS);
    const fix = fixUsable(status, lat, lon, acc);
    if (status == GNSS_FIX && !fix) logWarn("GNSS: fix out of range ignored");
    this.recordPosition(now, fix, lat, lon, acc);
  }

  /** Names the record's time: UTC seconds once the clock is trusted, else seconds of this boot. */
  private stamp(r: UplinkRecord, now: i64): void {
    r.epoch = this.ids.epoch;
    r.boot = this.ids.boots;
    r.utcKnown = this.clock.trusted;
    if (!r.utcKnown) this.undated = true;
    r.time = <u32>((this.clock.trusted ? this.clock.utcAt(now) : now) / 1000);
    const b = host_battery_percent();
    r.battery = b >= 0 && b <= 100 ? b : -1;
  }

  private recordPosition(now: i64, fix: bool, lat: f64, lon: f64, acc: f64): void {
    const r = this.rec;
    r.kind = KIND_POSITION;
    this.stamp(r, now);
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
    this.stamp(r, now);
    r.bootCount = this.ids.boots;
    r.buffered = this.uplinks.count();
    r.oldestAgeS = this.oldestBufferedAgeS(now);
    r.dropped = <u32>this.counters.dropped;
    r.settingsRejected = this.counters.settingsRejectedCount;
    r.resets = this.counters.resets;
    r.traps = this.counters.traps;
    this.append(r);
    // A health uplink that reports a new problem goes at once, and carries what is buffered.
    const st = this.counters;
    if (st.dropped > this.reportedDropped || st.settingsRejectedCount > this.reportedRejected || st.traps > this.reportedTraps) {
      this.flushing = true;
      this.reportedDropped = st.dropped;
      this.reportedRejected = st.settingsRejectedCount;
      this.reportedTraps = st.traps;
    }
  }

  private oldestBufferedAgeS(now: i64): i32 {
    if (this.uplinks.count() == 0) return -1;
    const len = this.uplinks.read(0, this.recBuf, RECORD_MAX, this.keyBuf);
    const old = new UplinkRecord();
    if (len <= 0 || !old.decode(this.recBuf, len)) return -1;
    if (!old.utcKnown && old.epoch == this.here.epoch && old.boot == this.here.boot) return <i32>(now / 1000 - <i64>old.time);
    const t = recordUtc(old, this.clock, this.here);
    if (t < 0 || !this.clock.trusted) return -1;
    return <i32>max<i64>(0, (this.clock.utcAt(now) - t) / 1000);
  }

  /** Writes a record to the log under the next id of the epoch. */
  private append(r: UplinkRecord): void {
    const id = this.ids.take();
    if (this.ids.storeFailed) logError("key-value store: id reservation not stored; ids stay unique while the log holds them");
    const len = r.encode(this.recBuf);
    const rc = this.uplinks.append(this.ids.key(id), this.recBuf, len);
    if (rc != LOG_OK) {
      logError("uplink log: append failed ({}); uplink {} lost", rc, id);
      this.counters.dropped++;
      this.persistState();
      return;
    }
    this.recorded++;
    const lost = this.uplinks.droppedSinceMount();
    if (lost > this.droppedSeen) {
      this.counters.dropped += lost - this.droppedSeen;
      this.droppedSeen = lost;
      logWarn("log full: {} oldest uplinks dropped so far", this.counters.dropped);
      this.persistState();
    }
  }

  // ---- network -----------------------------------------------------------------------------

  private stepNetwork(now: i64): void {
    const s = this.session;
    if (s.inFlight != REQ_NONE) {
      if (now - s.inFlightSince >= HTTP_WATCHDOG_MS) {
        logWarn("HTTP: no answer to request {}; timed out", this.reqId);
        this.onHttpAnswer(now, this.reqId, NET_TIMEOUT, 0, 0, 0);
      }
      return;
    }
    // One Date alone is not trusted to date uplinks (clock.ts); rather than send this boot's
    // undated uplinks without a time, ask a second answer once: a connect, as soon as its
    // Date can confirm the first (clock.ts: agreeing Dates must be a minute apart). The
    // uplinks wait for it; the wait is at most that minute.
    if (this.undated && this.clock.known && !this.clock.trusted && !this.timeChecked && s.state == S_IDLE) {
      const at = this.clock.confirmableAt();
      if (at > now) {
        this.sendHoldUntil = max(this.sendHoldUntil, at);
      } else {
        this.timeChecked = true;
        s.connectNow(now);
      }
    }
    this.updateFlushing(now);
    // A wait of zero (the reset right after a 401) leads to the next request in this step;
    // the bound keeps a host that fails every request at once from looping here.
    for (let i = 0; i < 3 && s.inFlight == REQ_NONE; i++) {
      const req = s.due(now, this.buffered(now));
      if (req == REQ_NONE) return;
      if (!this.budget.allows(now)) {
        if (!this.budgetHeld) {
          this.budgetHeld = true;
          this.budget.waits++;
          logWarn("request budget spent ({} an hour): next request in {} s", BUDGET_PER_HOUR, (this.budget.readyAt(now) - now) / 1000);
        }
        return;
      }
      this.budgetHeld = false;
      if (req == REQ_CONNECT) this.sendConnect(now);
      else if (req == REQ_RESET) {
        if (now >= s.rotateAt) logInfo("API key expires soon: rotating");
        RequestBody.reset();
        this.begin(now, REQ_RESET, ENDPOINT_RESET);
      } else if (!this.beginUplinks(now)) {
        // Nothing could be sent (a record unreadable, a flash error): not in a tight loop.
        this.sendHoldUntil = now + SEND_HOLD_MS;
        return;
      }
    }
  }

  /**
   * Sends what RequestBody holds (empty: no body). The body shares memory with the receive
   * buffer (request_body.ts): it is built only after the last answer was read.
   */
  private begin(now: i64, req: u8, endpoint: string): void {
    const url = String.UTF8.encode(endpointUrl(this.id, endpoint));
    const headers = String.UTF8.encode(requestHeaders(this.id, endpoint, RequestBody.length() > 0));
    if (this.budget.take(now) != 0) logError("key-value store: request budget not stored");
    this.reqId++;
    this.requests++;
    this.session.started(req, now);
    const rc = host_http_request(this.reqId, METHOD_POST,
      changetype<usize>(url), url.byteLength,
      changetype<usize>(headers), headers.byteLength,
      RequestBody.pointer(), RequestBody.length(),
      HTTP_TIMEOUT_MS);
    if (rc != IMPORT_OK) this.onHttpAnswer(now, this.reqId, NET_BROKEN, 0, 0, 0);
  }

  private sendConnect(now: i64): void {
    const r = new ConnectReport();
    r.firmware = quoted(this.cfg.firmware);
    r.epoch = int(<i64>this.ids.epoch);
    r.bufferedUplinks = int(this.uplinks.count());
    r.lastUplinkId = int(<i64>this.ids.lastId());
    r.droppedUplinks = int(<i64>this.counters.dropped);
    if (this.counters.pendingRejection.length > 0) r.settingsRejected = quoted(this.counters.pendingRejection);
    this.rejectionSent = this.counters.pendingRejection;
    RequestBody.reset();
    RequestBody.appendJson<ConnectReport>("", r, BODY_CAPACITY);
    this.begin(now, REQ_CONNECT, ENDPOINT_CONNECT);
  }

  /** Starts /uplinks (one record, nothing else buffered) or /uplinks/backfill; false if not. */
  private beginUplinks(now: i64): bool {
    const count = this.uplinks.count();
    // Backfill: oldest first, within the batch size and 16 KiB of body. One record alone goes
    // live to /uplinks.
    let limit = this.settings.backfillBatchSize;
    if (this.batchLimit > 0 && this.batchLimit < limit) limit = this.batchLimit;
    const backfill = count > 1;
    RequestBody.reset();
    if (backfill) RequestBody.append("{\"uplinks\":[");
    const room = backfill ? BODY_CAPACITY - 2 : BODY_CAPACITY; // the closing "]}"
    let n: i32 = 0;
    let lastKey: u64 = 0;
    for (let i: u32 = 0; i < count && n < limit; i++) {
      const len = this.uplinks.read(i, this.recBuf, RECORD_MAX, this.keyBuf);
      if (len < 0) {
        if (n == 0) this.unreadableOldest(len);
        break; // send what precedes it; it is dealt with when it is the oldest
      }
      const key = load<u64>(this.keyBuf);
      if (!this.rec.decode(this.recBuf, len)) {
        if (n == 0) this.skipUnreadable(key);
        break;
      }
      if (!appendUplink(n > 0 ? "," : "", IdAllocator.idOf(key), this.rec, this.clock, this.here, room)) break;
      n++;
      lastKey = key;
    }
    if (n == 0) return false;
    if (backfill) RequestBody.append("]}");
    this.sentCount = n;
    this.sentLastKey = lastKey;
    this.begin(now, REQ_SEND, backfill ? ENDPOINT_BACKFILL : ENDPOINT_UPLINK);
    return true;
  }

  /** The oldest record cannot be read. A torn one (cut while it was written) is skipped. */
  private unreadableOldest(rc: i32): void {
    if (rc == LOG_ERR_CORRUPT) this.skipUnreadable(this.uplinks.oldestId());
    else logError("uplink log: read failed ({}); retrying", rc);
  }

  /** A log record of no shape this firmware knows cannot be sent; it must not block the rest. */
  private skipUnreadable(key: u64): void {
    logError("uplink log: record {} unreadable, skipped", IdAllocator.idOf(key));
    this.counters.dropped++;
    this.persistState();
    this.uplinks.ack(key);
  }

  onHttpAnswer(now: i64, reqId: i32, status: i32, hdrLen: i32, bodyLen: i32, flags: i32): void {
    const s = this.session;
    if (s.inFlight == REQ_NONE || reqId != this.reqId) return;
    // The host's lengths are checked like any other input.
    if (hdrLen < 0 || bodyLen < 0 || hdrLen > RX_CAPACITY || bodyLen > RX_CAPACITY - hdrLen) {
      logError("HTTP: answer overflows rx buffer");
      status = NET_BROKEN;
      hdrLen = 0;
      bodyLen = 0;
    }
    const headers = parseResponseHeaders(String.UTF8.decodeUnsafe(rxBase, hdrLen), this.clock, now);
    // The server wrote its Date somewhere between the request and the answer: placed midway,
    // a slow answer misleads the clock by at most half its round trip.
    if (status > 0 && headers.dateMs >= 0) this.clock.hint(headers.dateMs, s.inFlightSince + (now - s.inFlightSince) / 2, HINT_DATE);
    if (headers.retryAfterClamped) logWarn("Retry-After over 7 days: waiting 7 days");
    const truncated = (flags & RESPONSE_BODY_CUT) != 0;
    const body = rxBase + <usize>hdrLen;
    const req = s.inFlight;
    let outcome: u8 = OUT_TRANSIENT;
    let what = "uplink";
    if (req == REQ_CONNECT) {
      what = "connect";
      outcome = judgeConnect(status);
      if (outcome == OUT_OK) this.connected(now, body, bodyLen, truncated);
    } else if (req == REQ_RESET) {
      what = "reset";
      outcome = this.resetAnswered(status, body, bodyLen, truncated);
    } else {
      if (this.sentCount > 1) what = "backfill";
      const j = judgeSend(status, body, bodyLen, truncated, this.sentCount, what);
      outcome = j.outcome;
      if (j.unverified) this.counters.unverified++; // judgeSend logged why
    }
    const act = s.answered(now, outcome, headers.retryAfterMs, <i64>this.settings.heartbeatS * 1000, host_random());
    if ((act & ACT_ACK) != 0) {
      if (this.uplinks.ack(this.sentLastKey) != LOG_OK) logError("uplink log: ack not stored; may resend");
      this.acked += <u64>this.sentCount;
      this.budget.giveBack();
    }
    if ((act & ACT_HALVE) != 0) {
      this.batchLimit = max(1, this.sentCount / 2);
      logInfo("backfill: 413, halving the batch to {}", this.batchLimit);
    }
    if ((act & ACT_PERSIST) != 0) this.persistState();
    if (outcome == OUT_SECRET_REFUSED) {
      logError("reset: reset secret refused (HTTP {}): cannot recover alone; re-provision the reset secret", status);
    }
    if (outcome != OUT_OK && (act & ACT_HALVE) == 0) {
      const failed = statusText(status), policy = Session.policyName(s.policy), waitS = s.waitMs / 1000;
      if (s.resume == S_RESET_DUE) logWarn("{}: {}{}; retry {} in {} s, then reset", what, failed, policy, s.attempt, waitS);
      else logWarn("{}: {}{}; retry {} in {} s", what, failed, policy, s.attempt, waitS);
    }
  }

  /** A connect answered 2xx: the settings and keyExpires it carries. */
  private connected(now: i64, body: usize, len: i32, truncated: bool): void {
    this.batchLimit = 0;
    // The connection is open and the radio on: what is buffered goes now, on it, rather than
    // on a wake of its own (a heartbeat or power-on connect and the uplinks fall together).
    if (this.uplinks.count() > 0) this.flushing = true;
    // The rejection we reported has been delivered.
    if (this.rejectionSent.length > 0 && this.counters.pendingRejection == this.rejectionSent) {
      this.counters.pendingRejection = "";
      this.persistState();
    }
    const scan = this.connectScan;
    if (truncated || !scan.scan(body, len)) {
      this.rejectSettings("settings: answer unreadable (" + (truncated ? "body too large" : scan.error) + ")");
      return;
    }
    const k = scan.find("keyExpires");
    let expires: i64 = -2;
    if (k >= 0) {
      const m = scan.members[k];
      const text = m.kind == J_STRING ? decodeString(m.start, m.end) : null;
      expires = text == null ? -1 : parseIso(text!);
      if (expires < 0) logWarn("connect: keyExpires ignored: unreadable");
    }
    const si = scan.find("settings");
    if (si >= 0) {
      const result = applySettings(this.settings, scan.members[si]);
      if (result.settings == null) {
        this.rejectSettings(result.rejection);
      } else if (!result.settings!.equals(this.settings)) {
        this.settings = result.settings!;
        if (storeSettings(this.settings) != 0) logError("key-value store: settings applied, not stored");
        logInfo("settings updated");
      }
    }
    if (expires >= 0) this.keyExpires(now, expires);
  }

  private keyExpires(now: i64, expiresUtc: i64): void {
    if (!this.clock.trusted) {
      logWarn("connect: keyExpires ignored: UTC not yet trusted");
      return;
    }
    if (this.session.scheduleRotation(now, expiresUtc - this.clock.utcAt(now))) {
      logWarn("connect: keyExpires asks for a rotation within the hour of the last: held back an hour");
    }
  }

  private rejectSettings(why: string): void {
    logWarn("settings rejected, last good kept: {}", why);
    this.counters.pendingRejection = why;
    this.counters.settingsRejectedCount++;
    this.persistState();
  }

  /** Judges a reset answer and commits a good one: key and environment stored together. */
  private resetAnswered(status: i32, body: usize, len: i32, truncated: bool): u8 {
    const j = judgeReset(status, body, len, truncated, this.id, this.cfg.dev, this.cfg.allowHosts);
    if (j.outcome != OUT_OK) return j.outcome; // a refused 2xx: judgeReset logged why
    if (storeCred(this.id, j.environment, j.apiKey) != 0) {
      logError("reset: key-value store refused the new key; the reset is tried again");
      return OUT_TRANSIENT;
    }
    this.counters.resets++;
    this.persistState();
    logInfo("reset: new API key stored; connecting to {}", this.id.host());
    return OUT_OK;
  }

  private persistState(): void {
    const s = this.session;
    const c = this.counters;
    c.backoffAttempt = s.attempt;
    c.backoffFailed = s.failed;
    c.backoffResume = s.resume;
    c.backoffPolicy = s.policy;
    c.backoffWaitMs = s.attempt > 0 ? s.waitMs : 0;
    if (storeState(c) != 0) logError("key-value store: state not stored");
  }

  stat(which: i32): i64 {
    if (which == STAT_RECORDED) return <i64>this.recorded;
    if (which == STAT_ACKED) return <i64>this.acked;
    if (which == STAT_BUFFERED) return <i64>this.uplinks.count();
    if (which == STAT_RESETS) return <i64>this.counters.resets;
    if (which == STAT_DROPPED) return <i64>this.counters.dropped;
    if (which == STAT_LAST_ID) return <i64>this.ids.lastId();
    if (which == STAT_STATE) return <i64>this.session.state;
    if (which == STAT_BOOTS) return <i64>this.ids.boots;
    if (which == STAT_TRAPS) return <i64>this.counters.traps;
    if (which == STAT_UTC_KNOWN) return this.clock.trusted ? 1 : 0;
    if (which == STAT_BACKOFF_ATTEMPT) return <i64>this.session.attempt;
    if (which == STAT_REQUESTS) return <i64>this.requests;
    // The settings' ids follow settings.ts's order (settingGet).
    if (which >= STAT_UPLINK_INTERVAL_S && which <= STAT_SEND_INTERVAL_S) return <i64>settingGet(this.settings, which - STAT_UPLINK_INTERVAL_S);
    if (which == STAT_EPOCH) return <i64>this.ids.epoch;
    if (which == STAT_UNVERIFIED_ANSWERS) return <i64>this.counters.unverified;
    if (which == STAT_BUDGET_REMAINING) return this.budget.remaining(this.lastNow);
    if (which == STAT_BUDGET_WAITS) return <i64>this.budget.waits;
    if (which == STAT_EPOCH_ORDINAL) return <i64>this.ids.ordinal;
    return -1;
  }
}
