// One world of the power-cut proof: the fake cloud in process, one device (the release module
// on a DeviceHost, wired by sim-device.ts) with a NOR flash of one power-loss model and an
// atomic-per-key KV store, a scheduler in virtual time. The world only composes; each job is
// a file of its own:
//
//   cut-plan.ts   which operation to cut, counted in three index spaces
//   proof-hal.ts  the flash and store that count operations, fire cuts and show 'R' entries
//   oracle.ts     the bookkeeping: what the device recorded, what the cloud must end up with,
//                 which identity the store may hold
//   wire.ts       decoding a flash program's 'R' entry and a request body's uplinks
//   serve.ts      the in-process transport's observer: identity checks, deliveries
//   findings.ts   the violations, error lines and log tail of a run
import { DeviceHost, STAT, SESSION_STATE, type BoardSettings, type DeviceHal } from '../../host-sim/device-host.ts';
import { FakeCloud } from '../../host-sim/cloud/fake-cloud.ts';
import type { KeyPurpose } from '../../host-sim/cloud/keys.ts';
import type { FlashModel } from '../../host-sim/hal/flash.ts';
import { provision } from '../../host-sim/hal/kv.ts';
import { MemoryTransport } from '../../host-sim/hal/http.ts';
import type { MotionSource } from '../../host-sim/hal/gnss.ts';
import { Rng, mixSeed } from '../../host-sim/hal/random.ts';
import { SIM_START_UTC, Scheduler } from '../../host-sim/scheduler.ts';
import { simDevice, type FlashGeometry } from '../../host-sim/sim-device.ts';
import { CutPlan, planKey, type CutPoint } from './cut-plan.ts';
import { Findings } from './findings.ts';
import { IdentityLedger, UplinkLedger, latitudeAt, type LedgerCounts } from './oracle.ts';
import { ProofFlash, ProofKv } from './proof-hal.ts';
import { ProofExchanges } from './serve.ts';

export type { CutPoint, CutEvent, CredCommit, OpSpace } from './cut-plan.ts';
export type { Violation } from './findings.ts';

export const T0 = SIM_START_UTC;
export const TENANT = 'proof';
export const DEVICE_ID = 'proof-1';
/** Hosts the environment moves between on resets; all on the board's allow-list. */
export const HOSTS = ['a.proof.test', 'b.proof.test', 'c.proof.test'];
export const GEOMETRY: FlashGeometry = { sectorSize: 4096, sectorCount: 16, progSize: 4 };

/** Environment told with the apiKey of generation g (0: the factory one). */
export function environmentOf(g: number): string {
  return `https://${HOSTS[g % HOSTS.length]}/g${g}`;
}

export interface WorldOptions {
  model: FlashModel;
  /** The scenario seed: the device's randomness, secrets. Same seed, same run (until a cut). */
  seed: number;
  /** Seed of the flash's tear decisions (and of KV landing coins); default from seed + plan. */
  flashSeed?: number;
  module: WebAssembly.Module;
  /** Cuts to make, fired in order (a later one is armed once the earlier has fired). */
  cuts?: CutPoint[];
  /** Note every `cred` set (baseline runs). */
  noteCredCommits?: boolean;
  /** Module log lines kept for a failure report. */
  logTail?: number;
}

/** The GNSS route: still, at a latitude that encodes the UTC second. */
class ClockRoute implements MotionSource {
  constructor(private utcStartMs: number) {}
  positionAt(t: number) {
    return { lat: latitudeAt(this.utcStartMs + t), lon: 8.5, moving: false };
  }
}

export interface WorldCounts extends LedgerCounts {
  dropped: number;
  traps: number;
  startFailures: number;
  boots: number;
  resets: number;
  backfillRequests: number;
  flashOps: number;
  kvOps: number;
  cuts: number;
  identityChecks: number;
}

export class World {
  readonly sched = new Scheduler(T0);
  readonly cloud: FakeCloud;
  readonly findings: Findings;
  readonly plan: CutPlan;
  readonly ledger: UplinkLedger;
  readonly identity: IdentityLedger;
  readonly exchanges: ProofExchanges;
  readonly flash: ProofFlash;
  readonly kv: ProofKv;
  readonly device: ProofDevice;
  readonly model: FlashModel;
  readonly seed: number;
  /** Fault hook of the scenario (outages). */
  faults: ((endpoint: string) => 'drop' | null) | null = null;
  private keysIssued = 0;
  private secretCounter = 0;

  constructor(opts: WorldOptions) {
    this.model = opts.model;
    this.seed = opts.seed >>> 0;
    const cuts = opts.cuts ?? [];
    const modelKey = opts.model === 'atomic' ? 1 : opts.model === 'torn' ? 2 : 3;
    const flashSeed = opts.flashSeed ?? mixSeed(this.seed, modelKey, ...planKey(cuts));
    const now = () => this.sched.now;
    this.findings = new Findings(now, opts.logTail ?? 40);
    this.plan = new CutPlan(cuts, new Rng(mixSeed(flashSeed, 0x6b76)), now, this.findings, opts.noteCredCommits ?? false);
    this.ledger = new UplinkLedger((which) => this.device.stat(which), this.findings, () => this.findings.logTail());
    this.identity = new IdentityLedger(this.findings);
    this.exchanges = new ProofExchanges(this.findings, this.identity, this.ledger);

    this.cloud = new FakeCloud({
      now: () => this.sched.utcNow(),
      makeSecret: (purpose) => this.makeSecret(purpose),
      faults: (ctx) => {
        if (ctx.endpoint === 'operator') return null;
        return this.faults?.(ctx.endpoint) === 'drop' ? { kind: 'drop' } : null;
      },
    });
    const d = this.cloud.createDevice({
      tenantId: TENANT,
      deviceId: DEVICE_ID,
      // sendIntervalS 0: the drain at the end waits for an empty log while a position is recorded
      // every 10 s, which only sending each at once reaches (batching is the chaos run's).
      settings: { type: 'tracker', uplinkIntervalS: 10, movingIntervalS: 10, heartbeatS: 600, backfillBatchSize: 50, gnssTimeoutS: 30, sendIntervalS: 0 },
    });
    this.flash = new ProofFlash(this.plan, this.ledger, GEOMETRY, opts.model, flashSeed);
    this.kv = new ProofKv(this.plan);
    // Into the store behind the counter: provisioning is the factory's, not an operation.
    provision(this.kv.inner, { tenantId: TENANT, deviceId: DEVICE_ID, environment: environmentOf(0), apiKey: d.apiKey, resetSecret: d.resetSecret });
    this.device = simDevice({
      module: opts.module,
      kv: this.kv,
      flash: this.flash,
      http: new MemoryTransport(this.cloud, this.exchanges),
      gnss: { route: new ClockRoute(T0), rng: new Rng(mixSeed(this.seed, 0x67)), options: { timeoutRate: 0, fixMinMs: 1_000, fixMaxMs: 1_000 } },
      rng: new Rng(mixSeed(this.seed, 0x72)),
      log: (level, line) => this.findings.log(level, line),
      board: { dev: true, firmware: 'proof', allowHosts: HOSTS },
      host: (module, hal, board) => new ProofDevice(module, hal, board, this),
      scheduler: this.sched,
    }) as ProofDevice;
  }

  // ---- secrets and environments ----

  private makeSecret(purpose: KeyPurpose): string {
    const n = this.secretCounter++;
    const tag = purpose === 'apiKey' ? 'ak' : purpose === 'resetSecret' ? 'rs' : 'sk';
    const h = (salt: number) => mixSeed(this.seed, n, salt).toString(36).padStart(7, '0');
    const secret = `${tag}_${this.seed.toString(36)}_${n.toString(36)}_${h(1)}${h(2)}`;
    if (purpose === 'apiKey') {
      const gen = this.keysIssued++;
      this.identity.issue(secret, gen, environmentOf(gen));
      // The reset answer reads the environment after issuing the key: tell this key's.
      this.cloud?.setEnvironment(DEVICE_ID, environmentOf(gen));
    }
    return secret;
  }

  /** The cloud's apiKey generations issued so far. */
  get apiKeysIssued(): number { return this.keysIssued; }

  // ---- the device's calls ----

  /** After agent_start returned (a new instance). */
  bootDone(rc: number): void {
    this.ledger.bootDone(rc);
    if (rc === 0) this.noteBackoff();
  }

  /** After a module call completed (no cut). */
  callDone(): void {
    if (this.device.stat(STAT.lastId) < 0) return;
    this.noteBackoff();
    this.ledger.callDone();
  }

  /** Whether the agent waits out a back-off now (agent_stat 6, the session's state codes). */
  private noteBackoff(): void {
    this.plan.inBackoff = this.device.stat(STAT.state) === SESSION_STATE.backingOff;
  }

  /** The store holds no identity but one the cloud issued, whole (see IdentityLedger). */
  checkIdentity(when: string): void { this.identity.checkStore(this.kv.inner, when); }

  // ---- the end ----

  /** Checks everything against the cloud; returns the counts. */
  verify(): WorldCounts {
    const ledger = this.ledger.verify(this.cloud.uplinksOf(DEVICE_ID));
    const dropped = this.device.started ? this.device.stat(STAT.dropped) : -1;
    if (this.device.traps > 0) this.findings.violation('trap', `the module trapped ${this.device.traps} times`);
    this.checkIdentity('at the end');
    return {
      ...ledger,
      dropped,
      traps: this.device.traps,
      startFailures: this.ledger.startFailures,
      boots: this.ledger.boots,
      resets: this.exchanges.resetsServed,
      backfillRequests: this.exchanges.backfillRequestsOk,
      flashOps: this.plan.flashOps,
      kvOps: this.plan.kvOps,
      cuts: this.plan.cuts.length,
      identityChecks: this.identity.identityChecks,
    };
  }
}

/** The DeviceHost with the world's hooks after every completed call. */
export class ProofDevice extends DeviceHost {
  constructor(module: WebAssembly.Module, hal: DeviceHal, board: BoardSettings, private w: World) {
    super(module, hal, board);
  }

  override boot(now: number, afterTrap = false): number {
    const rc = super.boot(now, afterTrap);
    this.w.bootDone(rc);
    return rc;
  }

  override step(now: number): void {
    super.step(now);
    this.w.callDone();
  }
}
