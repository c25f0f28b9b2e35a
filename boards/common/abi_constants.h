/*
 * Generated from assembly/abi.json by tools/abi/generate.js; do not edit: change the table, then npm run build.
 */
#ifndef TRACKAGENT_ABI_CONSTANTS_H
#define TRACKAGENT_ABI_CONSTANTS_H

#define AGENT_ABI_VERSION 2

/* agent_start flags: bits of its flags argument. */
#define AGENT_FLAG_DEV 1 /* development configuration: a reset may move to plain http:// */
#define AGENT_FLAG_AFTER_TRAP 2 /* this start follows a trap in the previous instance */
#define AGENT_FLAG_FAULT_INJECTION 4 /* debug_trap is armed */

/* agent_start's result. */
#define AGENT_START_OK 0 /* started */
#define AGENT_START_BAD_IDENTITY (-1) /* identity missing or malformed */
#define AGENT_START_BAD_CONFIG (-2) /* board configuration malformed */
#define AGENT_START_BAD_FLASH (-3) /* flash geometry unusable */

/* agent_stat ids (-1: unknown id, or no instance). */
#define AGENT_STAT_RECORDED 0 /* uplinks recorded (this boot) */
#define AGENT_STAT_ACKED 1 /* uplinks acknowledged by the cloud (this boot) */
#define AGENT_STAT_BUFFERED 2 /* uplinks buffered now */
#define AGENT_STAT_RESETS 3 /* resets performed (persisted) */
#define AGENT_STAT_DROPPED 4 /* uplinks lost: dropped by a full log, given up when their append failed, or skipped as unreadable in flash (persisted) */
#define AGENT_STAT_LAST_ID 5 /* last uplink id issued in the current epoch (0: none yet) */
#define AGENT_STAT_STATE 6 /* session state (assembly/session.ts, stable codes) */
#define AGENT_STAT_BOOTS 7 /* starts in the current epoch (persisted) */
#define AGENT_STAT_TRAPS 8 /* traps recovered (persisted) */
#define AGENT_STAT_UTC_KNOWN 9 /* UTC trusted (1/0) */
#define AGENT_STAT_BACKOFF_ATTEMPT 10 /* consecutive failed attempts of the current back-off */
#define AGENT_STAT_REQUESTS 11 /* HTTP requests started (this boot) */
#define AGENT_STAT_UPLINK_INTERVAL_S 12 /* setting in force: uplinkIntervalS */
#define AGENT_STAT_MOVING_INTERVAL_S 13 /* setting in force: movingIntervalS */
#define AGENT_STAT_HEARTBEAT_S 14 /* setting in force: heartbeatS */
#define AGENT_STAT_BACKFILL_BATCH_SIZE 15 /* setting in force: backfillBatchSize */
#define AGENT_STAT_GNSS_TIMEOUT_S 16 /* setting in force: gnssTimeoutS */
#define AGENT_STAT_SEND_INTERVAL_S 17 /* setting in force: sendIntervalS */
#define AGENT_STAT_EPOCH 32 /* the current epoch (unsigned 32-bit) */
#define AGENT_STAT_UNVERIFIED_ANSWERS 33 /* 2xx answers to uplinks that acknowledged nothing (persisted) */
#define AGENT_STAT_BUDGET_REMAINING 34 /* requests the budget still allows within the hour */
#define AGENT_STAT_BUDGET_WAITS 35 /* times a request waited for the budget (this boot) */
#define AGENT_STAT_EPOCH_ORDINAL 36 /* the epoch's ordinal */

/* Transport failures, passed to on_http_response in place of an HTTP status. */
#define AGENT_NET_TIMEOUT (-1) /* no answer within the request's timeout */
#define AGENT_NET_REFUSED (-2) /* refused, no route, DNS */
#define AGENT_NET_BROKEN (-3) /* connection broken, malformed answer */
#define AGENT_NET_TLS (-4) /* TLS failure */

/* What an import returns (kv_get's value length aside); the same code for the same fault in every import and every host. */
#define AGENT_IMPORT_OK 0 /* done */
#define AGENT_IMPORT_NOT_FOUND (-1) /* kv_get: no such key */
#define AGENT_IMPORT_IO (-2) /* the store, the flash, the radio or the network stack failed */
#define AGENT_IMPORT_BAD_POINTER (-3) /* a pointer and length not inside linear memory (or a negative length) */
#define AGENT_IMPORT_MISALIGNED (-4) /* flash_program: address or length not a multiple of the program unit */
#define AGENT_IMPORT_OUT_OF_RANGE (-5) /* flash: address, length or sector outside the partition */
#define AGENT_IMPORT_BAD_KEY (-6) /* kv: a key empty, longer than the key limit, or with a character outside [A-Za-z0-9_.-] */
#define AGENT_IMPORT_BUSY (-7) /* http_request while one is in flight (the one in flight goes on) */
#define AGENT_IMPORT_INVALID (-8) /* another argument out of range (method, empty url, negative timeout) */

/* on_gnss_fix status. */
#define AGENT_GNSS_FIX 0 /* a fix */
#define AGENT_GNSS_TIMED_OUT 1 /* no fix within the timeout */
#define AGENT_GNSS_RECEIVER_ERROR 2 /* the receiver failed */

/* http_request method. */
#define AGENT_METHOD_GET 0 /* GET */
#define AGENT_METHOD_POST 1 /* POST */

/* on_http_response flags. */
#define AGENT_RESPONSE_BODY_CUT 1 /* the body was longer than the rx buffer and was cut */

/* log levels. */
#define AGENT_LEVEL_ERROR 0 /* error */
#define AGENT_LEVEL_WARN 1 /* warning */
#define AGENT_LEVEL_INFO 2 /* information */
#define AGENT_LEVEL_DEBUG 3 /* debug */

/* log argument record: the tag byte before each argument. */
#define AGENT_ARG_I32 1 /* i32 and narrower signed: 4 bytes */
#define AGENT_ARG_U32 2 /* u32 and narrower unsigned: 4 bytes */
#define AGENT_ARG_I64 3 /* i64: 8 bytes */
#define AGENT_ARG_U64 4 /* u64: 8 bytes */
#define AGENT_ARG_F64 5 /* f64: 8 bytes, IEEE 754 */
#define AGENT_ARG_BOOL 6 /* bool: 1 byte, 0 or 1 */
#define AGENT_ARG_STR 7 /* string: u16 byte length, then that many bytes of UTF-8 */
#define AGENT_ARG_NULL 8 /* null string: no bytes */

/* Sizes every host and the module agree on. */
#define AGENT_KV_KEY_MAX 15 /* bytes of a key-value key (ESP-IDF NVS's limit) */
#define AGENT_KV_VALUE_MAX 512 /* bytes of a key-value value */
#define AGENT_LOG_ARGS_MAX 384 /* bytes of one log argument record */

#endif /* TRACKAGENT_ABI_CONSTANTS_H */
