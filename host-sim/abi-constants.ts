// Generated from assembly/abi.json by tools/abi/generate.js; do not edit: change the table, then npm run build.

export const ABI_VERSION = 2;

// agent_start flags: bits of its `flags` argument.
export const FLAG_DEV = 1; // development configuration: a reset may move to plain http://
export const FLAG_AFTER_TRAP = 2; // this start follows a trap in the previous instance
export const FLAG_FAULT_INJECTION = 4; // debug_trap is armed
export const START_FLAG = { dev: 1, afterTrap: 2, faultInjection: 4 } as const;

// agent_start's result.
export const START_OK = 0; // started
export const START_BAD_IDENTITY = -1; // identity missing or malformed
export const START_BAD_CONFIG = -2; // board configuration malformed
export const START_BAD_FLASH = -3; // flash geometry unusable
export const START_STATUS = { ok: 0, badIdentity: -1, badConfig: -2, badFlash: -3 } as const;

// agent_stat ids (-1: unknown id, or no instance).
export const STAT_RECORDED = 0; // uplinks recorded (this boot)
export const STAT_ACKED = 1; // uplinks acknowledged by the cloud (this boot)
export const STAT_BUFFERED = 2; // uplinks buffered now
export const STAT_RESETS = 3; // resets performed (persisted)
export const STAT_DROPPED = 4; // uplinks lost: dropped by a full log, given up when their append failed, or skipped as unreadable in flash (persisted)
export const STAT_LAST_ID = 5; // last uplink id issued in the current epoch (0: none yet)
export const STAT_STATE = 6; // session state (assembly/session.ts, stable codes)
export const STAT_BOOTS = 7; // starts in the current epoch (persisted)
export const STAT_TRAPS = 8; // traps recovered (persisted)
export const STAT_UTC_KNOWN = 9; // UTC trusted (1/0)
export const STAT_BACKOFF_ATTEMPT = 10; // consecutive failed attempts of the current back-off
export const STAT_REQUESTS = 11; // HTTP requests started (this boot)
export const STAT_UPLINK_INTERVAL_S = 12; // setting in force: uplinkIntervalS
export const STAT_MOVING_INTERVAL_S = 13; // setting in force: movingIntervalS
export const STAT_HEARTBEAT_S = 14; // setting in force: heartbeatS
export const STAT_BACKFILL_BATCH_SIZE = 15; // setting in force: backfillBatchSize
export const STAT_GNSS_TIMEOUT_S = 16; // setting in force: gnssTimeoutS
export const STAT_SEND_INTERVAL_S = 17; // setting in force: sendIntervalS
export const STAT_EPOCH = 32; // the current epoch (unsigned 32-bit)
export const STAT_UNVERIFIED_ANSWERS = 33; // 2xx answers to uplinks that acknowledged nothing (persisted)
export const STAT_BUDGET_REMAINING = 34; // requests the budget still allows within the hour
export const STAT_BUDGET_WAITS = 35; // times a request waited for the budget (this boot)
export const STAT_EPOCH_ORDINAL = 36; // the epoch's ordinal
export const STAT = { recorded: 0, acked: 1, buffered: 2, resets: 3, dropped: 4, lastId: 5, state: 6, boots: 7, traps: 8, utcKnown: 9, backoffAttempt: 10, requests: 11, uplinkIntervalS: 12, movingIntervalS: 13, heartbeatS: 14, backfillBatchSize: 15, gnssTimeoutS: 16, sendIntervalS: 17, epoch: 32, unverifiedAnswers: 33, budgetRemaining: 34, budgetWaits: 35, epochOrdinal: 36 } as const;

// Transport failures, passed to on_http_response in place of an HTTP status.
export const NET_TIMEOUT = -1; // no answer within the request's timeout
export const NET_REFUSED = -2; // refused, no route, DNS
export const NET_BROKEN = -3; // connection broken, malformed answer
export const NET_TLS = -4; // TLS failure
export const NET = { timeout: -1, refused: -2, broken: -3, tls: -4 } as const;

// What an import returns (kv_get's value length aside); the same code for the same fault in every import and every host.
export const IMPORT_OK = 0; // done
export const IMPORT_NOT_FOUND = -1; // kv_get: no such key
export const IMPORT_IO = -2; // the store, the flash, the radio or the network stack failed
export const IMPORT_BAD_POINTER = -3; // a pointer and length not inside linear memory (or a negative length)
export const IMPORT_MISALIGNED = -4; // flash_program: address or length not a multiple of the program unit
export const IMPORT_OUT_OF_RANGE = -5; // flash: address, length or sector outside the partition
export const IMPORT_BAD_KEY = -6; // kv: a key empty, longer than the key limit, or with a character outside [A-Za-z0-9_.-]
export const IMPORT_BUSY = -7; // http_request while one is in flight (the one in flight goes on)
export const IMPORT_INVALID = -8; // another argument out of range (method, empty url, negative timeout)
export const IMPORT_STATUS = { ok: 0, notFound: -1, io: -2, badPointer: -3, misaligned: -4, outOfRange: -5, badKey: -6, busy: -7, invalid: -8 } as const;

// on_gnss_fix status.
export const GNSS_FIX = 0; // a fix
export const GNSS_TIMED_OUT = 1; // no fix within the timeout
export const GNSS_RECEIVER_ERROR = 2; // the receiver failed
export const GNSS = { fix: 0, timedOut: 1, receiverError: 2 } as const;

// http_request method.
export const METHOD_GET = 0; // GET
export const METHOD_POST = 1; // POST
export const METHOD = { get: 0, post: 1 } as const;

// on_http_response flags.
export const RESPONSE_BODY_CUT = 1; // the body was longer than the rx buffer and was cut
export const RESPONSE = { bodyCut: 1 } as const;

// log levels.
export const LEVEL_ERROR = 0; // error
export const LEVEL_WARN = 1; // warning
export const LEVEL_INFO = 2; // information
export const LEVEL_DEBUG = 3; // debug
export const LEVEL = { error: 0, warn: 1, info: 2, debug: 3 } as const;

// log argument record: the tag byte before each argument.
export const ARG_I32 = 1; // i32 and narrower signed: 4 bytes
export const ARG_U32 = 2; // u32 and narrower unsigned: 4 bytes
export const ARG_I64 = 3; // i64: 8 bytes
export const ARG_U64 = 4; // u64: 8 bytes
export const ARG_F64 = 5; // f64: 8 bytes, IEEE 754
export const ARG_BOOL = 6; // bool: 1 byte, 0 or 1
export const ARG_STR = 7; // string: u16 byte length, then that many bytes of UTF-8
export const ARG_NULL = 8; // null string: no bytes
export const ARG = { i32: 1, u32: 2, i64: 3, u64: 4, f64: 5, bool: 6, str: 7, null: 8 } as const;

// Sizes every host and the module agree on.
export const KV_KEY_MAX = 15; // bytes of a key-value key (ESP-IDF NVS's limit)
export const KV_VALUE_MAX = 512; // bytes of a key-value value
export const LOG_ARGS_MAX = 384; // bytes of one log argument record
export const LIMIT = { kvKeyMax: 15, kvValueMax: 512, logArgsMax: 384 } as const;
