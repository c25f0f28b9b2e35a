// The proof's flash and key-value store: the simulator's own, with the cut plan in front of
// every operation (a cut is armed right before the named one) and the oracle watching every
// 'R' entry the log programs and every erase. A flash operation is interrupted by the
// NorFlash itself (cutAfter(0): what lands follows the model); a KV set lands whole or not
// at all and then PowerCut is thrown. Either way the exception leaves the module like the
// board dying; the driver (scenario.ts) catches it, powers on and reboots.
import { NorFlash, PowerCut, type FlashModel } from '../../host-sim/hal/flash.ts';
import { MemoryKv, type KvStore } from '../../host-sim/hal/kv.ts';
import type { FlashGeometry } from '../../host-sim/sim-device.ts';
import type { CutPlan } from './cut-plan.ts';
import type { UplinkLedger } from './oracle.ts';
import { recordOf } from './wire.ts';

/** The NOR flash with the operation counter and the 'R'-entry observer in front. */
export class ProofFlash extends NorFlash {
  constructor(private readonly plan: CutPlan, private readonly ledger: UplinkLedger, geometry: FlashGeometry, model: FlashModel, seed: number) {
    super({ ...geometry, model, seed });
  }

  override program(addr: number, data: Uint8Array): number {
    if (!this.powered || data.length === 0) return super.program(addr, data);
    const cut = this.plan.beforeOp('program', String(addr));
    if (cut) this.cutAfter(0);
    const r = recordOf(data, this.progSize);
    const id = r ? r.uid : -1;
    if (r) this.ledger.recordIssued(r.uid, r.epoch);
    try {
      const rc = super.program(addr, data);
      if (rc === 0 && id >= 0) this.ledger.recordWritten(id, Math.floor(addr / this.sectorSize));
      return rc;
    } catch (e) {
      // The 'R' program interrupted keeps its id uncertain (recordIssued already ran).
      if (e instanceof PowerCut && cut) this.plan.cutLanded(this.lastCut?.landed ?? 0);
      throw e;
    }
  }

  override erase(sector: number): number {
    if (!this.powered) return super.erase(sector);
    const cut = this.plan.beforeOp('erase', String(sector));
    if (cut) this.cutAfter(0);
    this.ledger.sectorErased(sector);
    try {
      return super.erase(sector);
    } catch (e) {
      if (e instanceof PowerCut && cut) this.plan.cutLanded(this.lastCut?.landed ?? 0);
      throw e;
    }
  }
}

/** The KV store, atomic per key (like ESP-IDF NVS), with the operation counter in front. */
export class ProofKv implements KvStore {
  readonly inner = new MemoryKv();
  constructor(private readonly plan: CutPlan) {}
  get(key: string) { return this.inner.get(key); }
  keys() { return this.inner.keys(); }
  set(key: string, value: Uint8Array): number {
    if (this.plan.noteCredCommits && key === 'cred') this.plan.noteCred();
    const cut = this.plan.beforeOp('kv', key);
    if (!cut) return this.inner.set(key, value);
    const lands = this.plan.kvLands();
    if (lands) this.inner.set(key, value);
    this.plan.cutLanded(lands);
    throw new PowerCut(`power cut during kv set of ${key} (${lands ? 'landed' : 'not landed'})`);
  }
}
