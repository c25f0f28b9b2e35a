// The trace of one device's chaos run: everything the checker judges, recorded from outside the
// module (the cloud's front door, the flash, the board). Plain data, so that the checker is a
// pure function and its own tests can write traces by hand.
//
// Times are simulation milliseconds since the run began (`utcStart` is their UTC origin): the
// world's true clock, never the device's idea of it.

/** One request as the cloud's front door received it, and the answer the device was given. */
export interface RequestObs {
  at: number;
  method: string;
  url: string;
  /** As sent, names in lower case (x-api-key included: the checker looks at where keys go). */
  headers: Record<string, string>;
  body: string;
  /**
   * What the device got back: an HTTP status, or a transport error (-1 timeout, -2 refused,
   * -3 broken: no answer).
   */
  status: number;
  answerBody: string;
  /**
   * The status of the cloud's own handling when the cloud handled the request (its state
   * changed: an uplink stored, a key rotated), whatever the device was told; undefined when
   * the request never reached the handlers (dropped, refused, answered by a fault instead).
   */
  handledStatus?: number;
  /** The chaos applied, for reports (`honest` when none). */
  chaos: string;
}

/** One 'R' entry program the flash saw (assembly/log/README.md; decoded by record-format.ts). */
export interface RecordObs {
  /** `${epoch}:${id}`, epoch `-` when the record carries none. */
  key: string;
  epoch: number | null;
  id: number;
  kind: number;
  /** When the program was started (the module's step in which it recorded the uplink). */
  at: number;
  /** The program completed (false: a power cut interrupted it; the record is uncertain). */
  complete: boolean;
  /** FNV-1a of the payload (record-format.ts). */
  payloadHash: number;
  /** The start of the erase of the sector holding it, when that came (the record is then gone). */
  erasedAt?: number;
}

export interface LogObs {
  at: number;
  level: number;
  line: string;
}

export interface TrapObs {
  at: number;
  /** Made on purpose by the world (debug_trap); false: the module trapped by itself. */
  injected: boolean;
  where: string;
}

export interface WakeObs {
  at: number;
  /** Device monotonic time of the call, and the wake-up agent_step asked for. */
  now: number;
  wake: number;
}

export interface SecretObs {
  kind: 'apiKey' | 'resetSecret';
  value: string;
}

export interface DeviceTrace {
  deviceId: string;
  /** Index of the device in the run (seeded streams derive from it). */
  index: number;
  utcStart: number;
  /** Host of the factory environment, and the board's allow-list (`allow_host`). */
  factoryHost: string;
  allowHosts: string[];
  /** The cloud answers as the plain fake cloud from this time on. */
  honestAt: number;
  /** Uplinks recorded before this must all be delivered by `endAt` (faults stop here too). */
  recordUntil: number;
  /** End of the run (the honest drain after recordUntil). */
  endAt: number;
  secrets: SecretObs[];
  records: RecordObs[];
  requests: RequestObs[];
  logs: LogObs[];
  traps: TrapObs[];
  /** Calls of agent_step that asked to be woken before their own `now`. */
  pastWakes: WakeObs[];
  /** KV entries damaged between boots (drop counts may legitimately restart after one). */
  kvDamage: { at: number; key: string }[];
  /** agent_start returning an error. */
  startFailures: { at: number; status: number }[];
  /** URL schemes requests may use (default https only; a development board also http). */
  schemes?: string[];
  /**
   * Whether delivery, drop counts, density and recovery can be judged (default true): not in a
   * real-time slice too short for the module's back-offs to run out.
   */
  judgeDelivery?: boolean;
  /** The world stopped the device early (a request storm, a hot loop). */
  aborted?: { at: number; reason: string };
}
