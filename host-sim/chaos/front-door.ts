// The chaos cloud's front door: every request a device makes goes through it into a fake cloud
// of its own (host-sim/cloud/fake-cloud.ts). It records the request and the answer the device
// was given (trace.ts), draws the answer from the schedule (schedule.ts, chaos-cloud.ts) and
// acts it out: through the fake cloud's fault hook when the answer replaces the cloud's own
// (before or after handling), or by rewriting the handled answer (connect and reset tricks,
// true acknowledgements in another form, Date tricks, delays). Clock-agnostic: world.ts runs it
// in virtual time in process, board.ts behind a real HTTP server in real time.
import { FakeCloud } from '../cloud/fake-cloud.ts';
import type { FaultAction } from '../cloud/faults.ts';
import type { KeyPurpose } from '../cloud/keys.ts';
import { NET_BROKEN, NET_REFUSED, NET_TIMEOUT, type HttpRequest, type HttpResult } from '../hal/http.ts';
import { Rng, mixSeed } from '../hal/random.ts';
import { endpointOf } from './checker.ts';
import {
  HONEST, labelOf, renderCountsLie, renderDate, renderRetryAfter, rewriteConnect, rewriteReset,
  type ChaosDecision, type DrawContext,
} from './chaos-cloud.ts';
import { TENANT, active, requestDecision, type ChaosProfile, type DevicePlan, type EventMask, type TimeEvent } from './schedule.ts';
import type { DeviceTrace, RequestObs } from './trace.ts';

/** Answer bodies kept in the trace (the checker reads acknowledgements, a few dozen bytes). */
const ANSWER_KEEP = 4096;
/** Beyond these the device is stopped: a storm that would take forever to simulate. */
const STORM_PER_SECOND = 200;
const STORM_PER_HOUR = 1_000;
/**
 * Network latency in ms: an HTTP answer takes 100-600 ms, a refused or broken connection
 * 5-80 ms. So a device waiting for each answer makes at most 10 requests a second (the
 * liveness bound) unless it retries failed connections without waiting.
 */
const ANSWER_MS: [number, number] = [100, 600];
const FAILURE_MS: [number, number] = [5, 80];
const SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

const dec = new TextDecoder();
const enc = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Stops a device's run: it cannot go on in reasonable time. */
export class RunAbort extends Error {}

export interface FrontDoorOptions {
  plan: DevicePlan;
  profile: ChaosProfile;
  mask: EventMask;
  /** The run's clock: ms since it began (virtual or real). */
  now: () => number;
  utcStart: number;
  trace: DeviceTrace;
  fire: (id: string, what: string) => void;
  /** The factory environment (its host is the factory host). */
  factoryEnvironment: string;
  /** Host names that reach this cloud (factory and allow-list). */
  hosts: string[];
  /** URL schemes the cloud answers on (`https:`; a development board also `http:`). */
  schemes: string[];
  /** Where a drawn reset move really points in this world (identity in process). */
  place: (url: string) => string;
  /** Outage windows of the schedule (active ones, within the run). */
  outages: TimeEvent[];
  drawContext: DrawContext;
}

export class ChaosFrontDoor {
  readonly cloud: FakeCloud;
  readonly apiKey: string;
  readonly resetSecret: string;
  private readonly plan: DevicePlan;
  private readonly mask: EventMask;
  private readonly hosts: Set<string>;
  private readonly drawCtx: DrawContext;
  private readonly outages: TimeEvent[];
  private readonly outagesFired = new Set<string>();
  private readonly secretRng: Rng;
  private pending: FaultAction | null = null;
  private requestCount = 0;
  private second = -1;
  private inSecond = 0;
  private hour = -1;
  private inHour = 0;

  constructor(private readonly o: FrontDoorOptions) {
    this.plan = o.plan;
    this.mask = o.mask;
    this.hosts = new Set(o.hosts.map((h) => h.toLowerCase()));
    this.drawCtx = o.drawContext;
    this.outages = o.outages;
    this.secretRng = new Rng(mixSeed(o.plan.seed, 0x73656372));
    this.cloud = new FakeCloud({
      now: () => o.utcStart + o.now(),
      baseUrl: o.factoryEnvironment,
      apiKeyTtlMs: o.plan.apiKeyTtlMs,
      makeSecret: (purpose) => this.makeSecret(purpose),
      faults: () => this.pending,
    });
    // Error bodies carry a request id made of a random instance tag: fixed here, so that a run
    // repeats byte for byte.
    (this.cloud as unknown as { instanceTag: string }).instanceTag = 'chaos';
    const d = this.cloud.createDevice({ tenantId: TENANT, deviceId: o.plan.deviceId, settings: structuredClone(o.profile.settings) });
    this.apiKey = d.apiKey;
    this.resetSecret = d.resetSecret;
  }

  private makeSecret(purpose: KeyPurpose): string {
    let s = purpose === 'apiKey' ? 'K' : purpose === 'resetSecret' ? 'S' : 'O';
    for (let i = 0; i < 31; i++) s += SECRET_CHARS[this.secretRng.int(0, SECRET_CHARS.length - 1)];
    if (purpose === 'apiKey' || purpose === 'resetSecret') this.o.trace.secrets.push({ kind: purpose, value: s });
    return s;
  }

  /** Answers one request; `virtualMs` of the result is how long the answer takes to come. */
  serve(req: HttpRequest): HttpResult {
    const at = this.o.now();
    const sec = Math.floor(at / 1000);
    if (sec !== this.second) { this.second = sec; this.inSecond = 0; }
    if (++this.inSecond > STORM_PER_SECOND) throw new RunAbort(`request storm: more than ${STORM_PER_SECOND} requests in one second`);
    const hour = Math.floor(at / 3_600_000);
    if (hour !== this.hour) { this.hour = hour; this.inHour = 0; }
    if (++this.inHour > STORM_PER_HOUR) throw new RunAbort(`request storm: more than ${STORM_PER_HOUR} requests in one hour`);
    const n = ++this.requestCount;
    const headers: Record<string, string> = {};
    for (const k in req.headers) headers[k.toLowerCase()] = req.headers[k];
    const obs: RequestObs = { at, method: req.method, url: req.url, headers, body: dec.decode(req.body), status: 0, answerBody: '', chaos: 'honest' };
    this.o.trace.requests.push(obs);
    const latency = new Rng(mixSeed(this.plan.seed, 0x6c6174, n));
    const done = (r: HttpResult): HttpResult => {
      if (r.status !== NET_TIMEOUT) {
        const [lo, hi] = r.status < 0 ? FAILURE_MS : ANSWER_MS;
        r = { ...r, virtualMs: r.virtualMs + latency.int(lo, hi) };
      }
      obs.status = r.status;
      obs.answerBody = r.body.length > ANSWER_KEEP ? dec.decode(r.body.subarray(0, ANSWER_KEEP)) : dec.decode(r.body);
      return r;
    };

    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      obs.chaos = 'no such host';
      return done({ status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 });
    }
    // Only the cloud's hosts answer, and only over its scheme: anything else does not resolve.
    if (!this.hosts.has(url.hostname.toLowerCase()) || !this.o.schemes.includes(url.protocol)) {
      obs.chaos = 'no such host';
      return done({ status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 });
    }
    const endpoint = endpointOf(url.pathname);
    const honest = at >= this.o.trace.honestAt;

    const outage = honest ? undefined : this.outages.find((e) => at >= e.at && at < e.at + e.durationMs!);
    if (outage) {
      if (!this.outagesFired.has(outage.id)) { this.outagesFired.add(outage.id); this.o.fire(outage.id, `outage (${outage.mode}) for ${Math.round(outage.durationMs! / 60_000)} min`); }
      obs.chaos = `outage ${outage.mode}`;
      if (outage.mode === 'drop') return done({ status: NET_BROKEN, headers: {}, body: EMPTY, virtualMs: 0 });
      if (outage.mode === 'refused') return done({ status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 });
      this.pending = { kind: 'status', status: 503 };
    }

    let d: ChaosDecision = HONEST;
    if (!outage && !honest && active(this.mask, `r${n}`)) d = requestDecision(this.plan, n, endpoint, this.drawCtx);
    const label = labelOf(d);
    if (label !== 'honest') { obs.chaos = label; this.o.fire(`r${n}`, `${endpoint}: ${label}`); }
    const a = d.answer;
    const utcNow = this.o.utcStart + at;
    const sent = () => uplinkCount(endpoint, obs.body);

    if (!outage) {
      switch (a.kind) {
        case 'status':
          this.pending = { kind: 'status', status: a.status, afterHandling: a.after, ...(a.retryAfter !== undefined ? { headers: { 'retry-after': renderRetryAfter(a.retryAfter, utcNow) } } : {}) };
          break;
        case 'redirect':
          this.pending = { kind: 'status', status: a.status, afterHandling: a.after, headers: { location: a.location } };
          break;
        case 'body':
          this.pending = { kind: 'body', status: a.status, body: a.body, afterHandling: a.after };
          break;
        case 'counts':
          this.pending = { kind: 'body', status: a.status, body: renderCountsLie(a.lie, sent()), afterHandling: a.after };
          break;
        case 'drop':
          this.pending = { kind: 'drop', afterHandling: a.after };
          break;
        case 'hang':
          this.pending = { kind: 'hang', afterHandling: a.after };
          break;
        default:
          break;
      }
      if (endpoint === 'reset') this.cloud.setEnvironment(this.plan.deviceId, a.kind === 'reset' && a.move !== undefined ? this.o.place(a.move) : undefined);
    }

    const hook = this.pending;
    let outcome: ReturnType<FakeCloud['serve']>;
    try {
      outcome = this.cloud.serve({ method: req.method, path: url.pathname + url.search, headers, body: req.body, remoteAddress: '127.0.0.1' });
    } finally {
      this.pending = null;
    }
    const log = this.cloud.requests;
    const entry = log[log.length - 1];
    obs.handledStatus = hook === null ? entry.status : hook.kind !== 'delay' && hook.afterHandling ? entry.handledStatus : undefined;
    log.length = 0; // the world keeps its own record

    if (outcome.kind === 'drop') return done({ status: NET_BROKEN, headers: {}, body: EMPTY, virtualMs: 0 });
    if (outcome.kind === 'hang') return done({ status: NET_TIMEOUT, headers: {}, body: EMPTY, virtualMs: req.timeoutMs });

    let { status, body } = outcome.response;
    if (status < 200 || status >= 300) body = deterministicIds(body, n);
    const respHeaders: Record<string, string> = { ...outcome.response.headers };
    let virtualMs = 0;
    const stored = obs.handledStatus !== undefined && ((obs.handledStatus >= 200 && obs.handledStatus <= 299) || obs.handledStatus === 409);
    if (a.kind === 'ack' && stored) {
      // True acknowledgements in another form than the cloud's own: it has them.
      if (a.form === '409') { status = 409; body = EMPTY; }
      else { status = 200; body = enc.encode(JSON.stringify({ accepted: sent(), duplicates: 0 })); }
    } else if (a.kind === 'connect' && status === 200) {
      body = enc.encode(rewriteConnect(dec.decode(body), a, utcNow, this.o.utcStart + this.plan.repeatedExpiryOffsetMs));
    } else if (a.kind === 'reset' && a.rewrite && status === 200) {
      body = enc.encode(rewriteReset(dec.decode(body), a.rewrite));
    } else if (a.kind === 'slow') {
      if (a.ms + ANSWER_MS[1] >= req.timeoutMs) return done({ status: NET_TIMEOUT, headers: {}, body: EMPTY, virtualMs: req.timeoutMs });
      virtualMs = a.ms;
    }
    const date = renderDate(d.date, utcNow, respHeaders['date']);
    if (date === undefined) delete respHeaders['date'];
    else respHeaders['date'] = date;
    return done({ status, headers: respHeaders, body, virtualMs });
  }
}

/**
 * The fake cloud's error objects carry random errorId and traceId values: replaced by ones made
 * from the request number (same lengths), so that a run repeats byte for byte.
 */
function deterministicIds(body: Uint8Array, n: number): Uint8Array {
  const text = dec.decode(body);
  if (!text.includes('"errorId":"')) return body;
  const hex = n.toString(16).padStart(16, '0').slice(-16);
  return enc.encode(text
    .replace(/"errorId":"[^"]*"/, `"errorId":"00000000-0000-4000-8000-${hex.slice(-12)}"`)
    .replace(/"traceId":"[^"]*"/, `"traceId":"${hex}"`));
}

function uplinkCount(endpoint: string, body: string): number {
  if (endpoint !== 'backfill') return 1;
  try {
    const p = JSON.parse(body) as { uplinks?: unknown };
    return Array.isArray(p.uplinks) ? p.uplinks.length : 1;
  } catch {
    return 1;
  }
}
