// Generated from assembly/abi.json by tools/abi/generate.js; do not edit: change the table, then npm run build.

export const ABI_VERSION: i32 = 2;

// agent_start flags: bits of its `flags` argument.
export const FLAG_DEV: i32 = 1; // development configuration: a reset may move to plain http://
export const FLAG_AFTER_TRAP: i32 = 2; // this start follows a trap in the previous instance
export const FLAG_FAULT_INJECTION: i32 = 4; // debug_trap is armed

// agent_start's result.
export const START_OK: i32 = 0; // started
export const START_BAD_IDENTITY: i32 = -1; // identity missing or malformed
export const START_BAD_CONFIG: i32 = -2; // board configuration malformed
export const START_BAD_FLASH: i32 = -3; // flash geometry unusable

// agent_stat ids (-1: unknown id, or no instance).
export const STAT_RECORDED: i32 = 0; // uplinks recorded (this boot)
export const STAT_ACKED: i32 = 1; // uplinks acknowledged by the cloud (this boot)
export const STAT_BUFFERED: i32 = 2; // uplinks buffered now
export const STAT_RESETS: i32 = 3; // resets performed (persisted)
export const STAT_DROPPED: i32 = 4; // uplinks lost: dropped by a full log, given up when their append failed, or skipped as unreadable in flash (persisted)
export const STAT_LAST_ID: i32 = 5; // last uplink id issued in the current epoch (0: none yet)
export const STAT_STATE: i32 = 6; // session state (assembly/session.ts, stable codes)
export const STAT_BOOTS: i32 = 7; // starts in the current epoch (persisted)
export const STAT_TRAPS: i32 = 8; // traps recovered (persisted)
export const STAT_UTC_KNOWN: i32 = 9; // UTC trusted (1/0)
export const STAT_BACKOFF_ATTEMPT: i32 = 10; // consecutive failed attempts of the current back-off
export const STAT_REQUESTS: i32 = 11; // HTTP requests started (this boot)
export const STAT_UPLINK_INTERVAL_S: i32 = 12; // setting in force: uplinkIntervalS
export const STAT_MOVING_INTERVAL_S: i32 = 13; // setting in force: movingIntervalS
export const STAT_HEARTBEAT_S: i32 = 14; // setting in force: heartbeatS
export const STAT_BACKFILL_BATCH_SIZE: i32 = 15; // setting in force: backfillBatchSize
export const STAT_GNSS_TIMEOUT_S: i32 = 16; // setting in force: gnssTimeoutS
export const STAT_SEND_INTERVAL_S: i32 = 17; // setting in force: sendIntervalS
export const STAT_EPOCH: i32 = 32; // the current epoch (unsigned 32-bit)
export const STAT_UNVERIFIED_ANSWERS: i32 = 33; // 2xx answers to uplinks that acknowledged nothing (persisted)
export const STAT_BUDGET_REMAINING: i32 = 34; // requests the budget still allows within the hour
export const STAT_BUDGET_WAITS: i32 = 35; // times a request waited for the budget (this boot)
export const STAT_EPOCH_ORDINAL: i32 = 36; // the epoch's ordinal

// Transport failures, passed to on_http_response in place of an HTTP status.
export const NET_TIMEOUT: i32 = -1; // no answer within the request's timeout
export const NET_REFUSED: i32 = -2; // refused, no route, DNS
export const NET_BROKEN: i32 = -3; // connection broken, malformed answer
export const NET_TLS: i32 = -4; // TLS failure

// What an import returns (kv_get's value length aside); the same code for the same fault in every import and every host.
export const IMPORT_OK: i32 = 0; // done
export const IMPORT_NOT_FOUND: i32 = -1; // kv_get: no such key
export const IMPORT_IO: i32 = -2; // the store, the flash, the radio or the network stack failed
export const IMPORT_BAD_POINTER: i32 = -3; // a pointer and length not inside linear memory (or a negative length)
export const IMPORT_MISALIGNED: i32 = -4; // flash_program: address or length not a multiple of the program unit
export const IMPORT_OUT_OF_RANGE: i32 = -5; // flash: address, length or sector outside the partition
export const IMPORT_BAD_KEY: i32 = -6; // kv: a key empty, longer than the key limit, or with a character outside [A-Za-z0-9_.-]
export const IMPORT_BUSY: i32 = -7; // http_request while one is in flight (the one in flight goes on)
export const IMPORT_INVALID: i32 = -8; // another argument out of range (method, empty url, negative timeout)

// on_gnss_fix status.
export const GNSS_FIX: i32 = 0; // a fix
export const GNSS_TIMED_OUT: i32 = 1; // no fix within the timeout
export const GNSS_RECEIVER_ERROR: i32 = 2; // the receiver failed

// http_request method.
export const METHOD_GET: i32 = 0; // GET
export const METHOD_POST: i32 = 1; // POST

// on_http_response flags.
export const RESPONSE_BODY_CUT: i32 = 1; // the body was longer than the rx buffer and was cut

// log levels.
export const LEVEL_ERROR: i32 = 0; // error
export const LEVEL_WARN: i32 = 1; // warning
export const LEVEL_INFO: i32 = 2; // information
export const LEVEL_DEBUG: i32 = 3; // debug

// log argument record: the tag byte before each argument.
export const ARG_I32: u8 = 1; // i32 and narrower signed: 4 bytes
export const ARG_U32: u8 = 2; // u32 and narrower unsigned: 4 bytes
export const ARG_I64: u8 = 3; // i64: 8 bytes
export const ARG_U64: u8 = 4; // u64: 8 bytes
export const ARG_F64: u8 = 5; // f64: 8 bytes, IEEE 754
export const ARG_BOOL: u8 = 6; // bool: 1 byte, 0 or 1
export const ARG_STR: u8 = 7; // string: u16 byte length, then that many bytes of UTF-8
export const ARG_NULL: u8 = 8; // null string: no bytes

// Sizes every host and the module agree on.
export const KV_KEY_MAX: i32 = 15; // bytes of a key-value key (ESP-IDF NVS's limit)
export const KV_VALUE_MAX: i32 = 512; // bytes of a key-value value
export const LOG_ARGS_MAX: i32 = 384; // bytes of one log argument record
