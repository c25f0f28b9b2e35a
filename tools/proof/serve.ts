// Serving the device's HTTP in a proof world: the observer of the in-process transport
// (hal/http.ts MemoryTransport). Every request is checked before the cloud sees it (under an
// environment the cloud told, with that generation's apiKey; a reset only to a proof host),
// its uplinks noted, and the answer counted: deliveries, resets, backfills.
import { NET_REFUSED, type ExchangeObserver, type HttpRequest, type HttpResult } from '../../host-sim/hal/http.ts';
import type { Findings } from './findings.ts';
import type { IdentityLedger, UplinkLedger } from './oracle.ts';
import { uplinksOfBody } from './wire.ts';

const EMPTY = new Uint8Array(0);
const RESET_PATH = '/connections/reset';
const UPLINKS_PATH = '/uplinks';
const BACKFILL_PATH = '/uplinks/backfill';
/** Where a reset may go: the proof's hosts (world.ts HOSTS), a generation's path. */
const RESET_ENVIRONMENT = /^https:\/\/[a-c]\.proof\.test\/g\d+$/;

export class ProofExchanges implements ExchangeObserver {
  resetsServed = 0;
  backfillRequestsOk = 0;
  /** Uplink ids of the request being served (noted when it is sent, counted when answered). */
  private sending: number[] | null = null;

  constructor(private readonly findings: Findings, private readonly identity: IdentityLedger, private readonly ledger: UplinkLedger) {}

  sent(req: HttpRequest): { path: string } | { answer: HttpResult } {
    const url = req.url;
    this.sending = null;
    // https://host/gN/api/... : the environment is scheme, host and first path segment.
    const hostEnd = url.startsWith('https://') ? url.indexOf('/', 8) : -1;
    const envEnd = hostEnd < 0 ? -1 : url.indexOf('/', hostEnd + 1);
    if (envEnd < 0) {
      this.findings.violation('identity', `request to ${url.slice(0, 60)}: not under an environment the cloud told`);
      return { answer: { status: NET_REFUSED, headers: {}, body: EMPTY, virtualMs: 0 } };
    }
    const env = url.slice(0, envEnd);
    const path = url.slice(envEnd);
    if (!path.endsWith(RESET_PATH)) {
      let key = '';
      for (const k in req.headers) if (k.toLowerCase() === 'x-api-key') key = req.headers[k];
      this.identity.checkRequest(path, env, key);
    } else if (!RESET_ENVIRONMENT.test(env)) {
      this.findings.violation('identity', `reset sent to ${env}`);
    }
    const backfill = path.endsWith(BACKFILL_PATH);
    if (backfill || path.endsWith(UPLINKS_PATH)) {
      const body = uplinksOfBody(req.body, backfill);
      if ('wrong' in body) {
        this.findings.violation('wire', body.wrong);
        this.sending = [];
      } else {
        this.sending = this.ledger.noteSent(body.uplinks);
      }
    }
    return { path };
  }

  answered(_req: HttpRequest, path: string, r: HttpResult): void {
    const ids = this.sending;
    this.sending = null;
    if (path.endsWith(RESET_PATH) && r.status === 200) this.resetsServed++;
    if (path.endsWith(BACKFILL_PATH) && r.status === 200) this.backfillRequestsOk++;
    // Delivered: the cloud took them (2xx) or already had them (409).
    if (ids !== null && ((r.status >= 200 && r.status < 300) || r.status === 409)) this.ledger.delivered(ids);
  }
}
