// HTTP for a simulated board: one request at a time per device, answers reduced to what the
// module reads (status, date, retry-after, body). Two transports with one interface: real
// sockets (keep-alive, no redirects), or straight into a FakeCloud in this process.
import http from 'node:http';
import https from 'node:https';
import type { FakeCloud } from '../cloud/fake-cloud.ts';
import { NET_TIMEOUT, NET_REFUSED, NET_BROKEN, NET_TLS } from '../abi-constants.ts';

export { NET_TIMEOUT, NET_REFUSED, NET_BROKEN, NET_TLS };

export interface HttpRequest {
  method: 'GET' | 'POST';
  url: string;
  /** As the module gave them; they hold the key: never log them. */
  headers: Record<string, string>;
  body: Uint8Array;
  timeoutMs: number;
}

export interface HttpResult {
  /** HTTP status, or a transport error NET_*. */
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: Uint8Array;
  /** Virtual time the exchange took (a timeout costs the whole timeout). */
  virtualMs: number;
}

export interface HttpTransport {
  request(req: HttpRequest): Promise<HttpResult>;
  /**
   * Optional: the same answer at once, for in-process transports. The host still delivers it
   * later (from the scheduler, never from inside the module's http_request call); this only
   * saves the promise round trip per request of a large in-process fleet. `req.body` may be a
   * view of the module's memory, valid only during the call: copy it to keep it.
   */
  requestSync?(req: HttpRequest): HttpResult;
  /** TCP (or TLS) connections opened so far: keep-alive matters on a battery. */
  readonly connectionsOpened: number;
  close(): void;
}

const EMPTY = new Uint8Array(0);

function transportError(code: string | undefined): number {
  if (!code) return NET_BROKEN;
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return NET_TIMEOUT;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EAI_AGAIN') return NET_REFUSED;
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'DEPTH_ZERO_SELF_SIGNED_CERT') return NET_TLS;
  return NET_BROKEN;
}

export interface SocketTransportOptions {
  /** Longest real wait for an answer, ms; the module's own timeout is charged in virtual time. */
  realTimeoutCapMs?: number;
  /** Extra CA certificates (PEM) to trust, for a fake cloud over TLS. */
  ca?: string | Buffer;
  /** Body bytes kept at most; more is cut (the module's receive buffer is smaller anyway). */
  maxBody?: number;
  /**
   * The device's virtual clock, ms. With it, the transport keeps connections and TLS
   * sessions as long in virtual time as a server would in real time: an idle connection older
   * than `keepAliveMs` is closed before the next request, and a session older than
   * `sessionLifetimeMs` forgotten (the TLS fake cloud honours it that long). Without it, the
   * agent's sockets and session cache live in real time only.
   */
  virtualNow?: () => number;
  keepAliveMs?: number;
  sessionLifetimeMs?: number;
}

export class SocketTransport implements HttpTransport {
  connectionsOpened = 0;
  private httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  private httpsAgent: https.Agent;
  private seen = new WeakSet<object>();
  private lastEnd = -Infinity;
  private sessionAt = -Infinity;

  constructor(private opts: SocketTransportOptions = {}) {
    this.httpsAgent = this.newHttpsAgent();
  }

  // Keep-alive sockets, and (https.Agent's own cache) the TLS sessions the server issued:
  // a new connection offers the last session, so the server can resume it.
  private newHttpsAgent() {
    return new https.Agent({ keepAlive: true, maxSockets: 1, ca: this.opts.ca });
  }

  /** Before a request at virtual `t`: drop what a server would have dropped by now. */
  private age(t: number) {
    const o = this.opts;
    if (t - this.lastEnd > (o.keepAliveMs ?? Infinity)) {
      this.httpAgent.destroy();
      this.httpsAgent.destroy();
    }
    if (t - this.sessionAt > (o.sessionLifetimeMs ?? Infinity)) {
      this.httpsAgent.destroy();
      this.httpsAgent = this.newHttpsAgent();
    }
  }

  request(req: HttpRequest): Promise<HttpResult> {
    const now = this.opts.virtualNow;
    if (now) {
      const t = now();
      this.age(t);
      return this.exchange(req).then((r) => {
        this.lastEnd = t;
        if (this.connected) this.sessionAt = t;
        this.connected = false;
        return r;
      });
    }
    return this.exchange(req);
  }

  /** A new connection was made by the exchange in progress (its handshake renews the session). */
  private connected = false;

  private exchange(req: HttpRequest): Promise<HttpResult> {
    const cap = this.opts.realTimeoutCapMs ?? req.timeoutMs;
    const maxBody = this.opts.maxBody ?? 64 * 1024;
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: HttpResult) => {
        if (settled) return;
        settled = true;
        resolve(r);
      };
      let url: URL;
      try {
        url = new URL(req.url);
      } catch {
        done({ status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 });
        return;
      }
      const isHttps = url.protocol === 'https:';
      const lib = isHttps ? https : http;
      const r = lib.request(url, {
        method: req.method,
        headers: { ...req.headers, 'content-length': String(req.body.length) },
        agent: isHttps ? this.httpsAgent : this.httpAgent,
      });
      r.on('socket', (s) => {
        if (!this.seen.has(s)) {
          this.seen.add(s);
          this.connectionsOpened++;
          this.connected = true;
        }
      });
      const timer = setTimeout(() => {
        r.destroy();
        done({ status: NET_TIMEOUT, headers: {}, body: EMPTY, virtualMs: req.timeoutMs });
      }, cap);
      r.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        done({ status: transportError(e.code), headers: {}, body: EMPTY, virtualMs: 0 });
      });
      r.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          if (size < maxBody) chunks.push(c.subarray(0, maxBody - size));
          size += c.length;
        });
        res.on('error', () => {
          clearTimeout(timer);
          done({ status: NET_BROKEN, headers: {}, body: EMPTY, virtualMs: 0 });
        });
        res.on('aborted', () => {
          clearTimeout(timer);
          done({ status: NET_BROKEN, headers: {}, body: EMPTY, virtualMs: 0 });
        });
        res.on('end', () => {
          clearTimeout(timer);
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') headers[k] = v;
          done({ status: res.statusCode ?? NET_BROKEN, headers, body: new Uint8Array(Buffer.concat(chunks)), virtualMs: 0 });
        });
      });
      r.end(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.length));
    });
  }

  close() {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

/**
 * Watches (and may steer) every exchange of a MemoryTransport: what the device sent, before
 * the cloud sees it, and what the device is told. The test harness records requests to any
 * host with it; the power-cut proof checks identities and counts deliveries.
 */
export interface ExchangeObserver {
  /**
   * Before anything else: `{ path }` serves the request at that cloud path (default the URL's
   * path and query), `{ answer }` answers it without the cloud, nothing lets it go on.
   */
  sent?(req: HttpRequest): { path: string } | { answer: HttpResult } | void;
  /** The answer the device gets (a transport error NET_* included), and the path served. */
  answered?(req: HttpRequest, path: string, result: HttpResult): void;
}

/** Straight into a FakeCloud: no sockets, for large fleets, the tests and the power-cut proof. */
export class MemoryTransport implements HttpTransport {
  connectionsOpened = 0;
  private connectedTo = '';
  // The cloud's host, parsed once per change of cloud.baseUrl rather than per request.
  private baseUrl: string | undefined;
  private baseHost: string | undefined;
  constructor(private cloud: FakeCloud, private observer: ExchangeObserver = {}) {}

  async request(req: HttpRequest): Promise<HttpResult> {
    return this.requestSync(req);
  }

  requestSync(req: HttpRequest): HttpResult {
    const o = this.observer;
    const steer = o.sent?.(req);
    if (steer && 'answer' in steer) return steer.answer;
    const r = this.exchange(req, steer ? steer.path : null);
    if (o.answered) o.answered(req, r.path, r.result);
    return r.result;
  }

  private exchange(req: HttpRequest, steered: string | null): { path: string; result: HttpResult } {
    const refused = (path: string) => ({ path, result: { status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 } });
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return refused(steered ?? '');
    }
    const path = steered ?? url.pathname + url.search;
    if (this.cloud.baseUrl !== this.baseUrl) {
      this.baseUrl = this.cloud.baseUrl;
      this.baseHost = this.baseUrl ? new URL(this.baseUrl).host : undefined;
    }
    if (this.baseHost !== undefined && url.host !== this.baseHost) return refused(path);
    if (this.connectedTo !== url.host) {
      this.connectedTo = url.host;
      this.connectionsOpened++;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
    // cloud.serve is what cloud.handle does, without the promise: drop -> connection reset,
    // hang -> the whole timeout in virtual time; delays cost nothing in process.
    let outcome: ReturnType<FakeCloud['serve']>;
    try {
      outcome = this.cloud.serve({ method: req.method, path, headers, body: req.body, remoteAddress: '127.0.0.1' });
    } catch {
      this.connectedTo = '';
      return { path, result: { status: NET_BROKEN, headers: {}, body: EMPTY, virtualMs: 0 } };
    }
    if (outcome.kind === 'respond') return { path, result: { status: outcome.response.status, headers: outcome.response.headers, body: outcome.response.body, virtualMs: 0 } };
    this.connectedTo = '';
    if (outcome.kind === 'hang') return { path, result: { status: NET_TIMEOUT, headers: {}, body: EMPTY, virtualMs: req.timeoutMs } };
    return { path, result: { status: NET_BROKEN, headers: {}, body: EMPTY, virtualMs: 0 } };
  }

  close() {}
}
