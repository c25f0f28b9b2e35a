// The module's log: a message id and its arguments, never English text (issue 11, phase 2).
//
// Call sites read as text, `logWarn("uplink: HTTP {}; retry {} in {} s", status, n, s)`: a
// string literal with one `{}` per argument. The build's transform (tools/log-dictionary/)
// rewrites each call into `__logN(level, id, args...)` below, where id is the text's hash,
// and writes the dictionary the hosts expand the line from (build/log-dictionary.json,
// build/log_dictionary.c). Arguments are written into one fixed buffer, tagged by type; the
// encoding is assembly/ABI.md's ("log"). No allocation per call. Callers pass nothing that
// holds a key or secret: identity.ts masks what it reports.
import { host_log } from "./host";

// Levels (0 error, 1 warn, 2 info, 3 debug: ABI.md) are the transform's, by the name called.

// Argument tags (ABI.md, assembly/abi.json). Narrower integers are widened to 32 bits.
import { ARG_I32, ARG_U32, ARG_I64, ARG_U64, ARG_F64, ARG_BOOL, ARG_STR, ARG_NULL, LOG_ARGS_MAX } from "./abi_constants";

/** The argument record's size: a longer string is cut to what fits (UTF-8, whole characters). */
const ARGS_CAP: i32 = LOG_ARGS_MAX;
const STR_HEADER: i32 = 3; // tag, u16 byte length
const args: usize = memory.data(ARGS_CAP);
let used: i32 = 0;

function putString(s: string): void {
  const room = ARGS_CAP - used - STR_HEADER;
  if (room < 0) return;
  let units = s.length;
  if (String.UTF8.byteLength(s) > room) {
    units = room / 3; // at most 3 bytes a UTF-16 unit: this many always fit
    if (units > 0 && (load<u16>(changetype<usize>(s) + ((<usize>units - 1) << 1)) & 0xfc00) == 0xd800) units--; // not half a pair
  }
  const at = args + <usize>used;
  const n = <i32>String.UTF8.encodeUnsafe(changetype<usize>(s), units, at + STR_HEADER);
  store<u8>(at, ARG_STR);
  store<u16>(at, <u16>n, 1);
  used += STR_HEADER + n;
}

// @ts-ignore: decorator
@inline function putFixed(tag: u8, size: i32): usize {
  if (used + 1 + size > ARGS_CAP) return 0;
  const at = args + <usize>used;
  store<u8>(at, tag);
  used += 1 + size;
  return at + 1;
}

// @ts-ignore: decorator
@inline function put<T>(v: T): void {
  if (isBoolean<T>()) {
    const at = putFixed(ARG_BOOL, 1);
    if (at != 0) store<u8>(at, v ? 1 : 0);
  } else if (isInteger<T>()) {
    if (sizeof<T>() == 8) {
      const at = putFixed(isSigned<T>() ? ARG_I64 : ARG_U64, 8);
      if (at != 0) store<i64>(at, <i64>v);
    } else {
      const at = putFixed(isSigned<T>() ? ARG_I32 : ARG_U32, 4);
      if (at != 0) store<i32>(at, isSigned<T>() ? <i32>v : <i32><u32>v);
    }
  } else if (isFloat<T>()) {
    const at = putFixed(ARG_F64, 8);
    if (at != 0) store<f64>(at, <f64>v);
  } else if (isString<T>()) {
    if (changetype<usize>(v) == 0) putFixed(ARG_NULL, 0);
    else putString(changetype<string>(v));
  } else {
    ERROR("a log argument must be an integer, a float, a bool or a string");
  }
}

function send(level: i32, id: u32): void {
  host_log(level, id, args, used);
  used = 0;
}

// What the transform calls, by the number of arguments. Global: a call site imports only the
// logError..logDebug it wrote.
// @ts-ignore: decorator
@global export function __log0(level: i32, id: u32): void { used = 0; send(level, id); }
// @ts-ignore: decorator
@global export function __log1<A>(level: i32, id: u32, a: A): void { used = 0; put<A>(a); send(level, id); }
// @ts-ignore: decorator
@global export function __log2<A, B>(level: i32, id: u32, a: A, b: B): void { used = 0; put<A>(a); put<B>(b); send(level, id); }
// @ts-ignore: decorator
@global export function __log3<A, B, C>(level: i32, id: u32, a: A, b: B, c: C): void {
  used = 0; put<A>(a); put<B>(b); put<C>(c); send(level, id);
}
// @ts-ignore: decorator
@global export function __log4<A, B, C, D>(level: i32, id: u32, a: A, b: B, c: C, d: D): void {
  used = 0; put<A>(a); put<B>(b); put<C>(c); put<D>(d); send(level, id);
}
// @ts-ignore: decorator
@global export function __log5<A, B, C, D, E>(level: i32, id: u32, a: A, b: B, c: C, d: D, e: E): void {
  used = 0; put<A>(a); put<B>(b); put<C>(c); put<D>(d); put<E>(e); send(level, id);
}
// @ts-ignore: decorator
@global export function __log6<A, B, C, D, E, F>(level: i32, id: u32, a: A, b: B, c: C, d: D, e: E, f: F): void {
  used = 0; put<A>(a); put<B>(b); put<C>(c); put<D>(d); put<E>(e); put<F>(f); send(level, id);
}

// What call sites write. The transform replaces every call by these names (and fails the
// build on one it cannot read); a call it did not see (another name, no transform) reaches
// one of these and fails the build here.
// (ERROR takes a literal: a constant would be static data of the module even unused.)
export function logError(format: string): void { ERROR("a log call the log dictionary transform did not rewrite: call logError by this name"); }
export function logWarn(format: string): void { ERROR("a log call the log dictionary transform did not rewrite: call logWarn by this name"); }
export function logInfo(format: string): void { ERROR("a log call the log dictionary transform did not rewrite: call logInfo by this name"); }
export function logDebug(format: string): void { ERROR("a log call the log dictionary transform did not rewrite: call logDebug by this name"); }
