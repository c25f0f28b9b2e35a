// The body of the request being sent: one buffer, sized by the contract's 16 KiB cap,
// written once (UTF-8: all of it ASCII) and handed to host.http_request as it is. A backfill of any backlog
// costs this buffer and nothing more: no body string grows, nothing is re-encoded.
//
// json-as stays the writer of every JSON value: appendJson has it serialize the value into
// its own staging buffer (json-as's `bs`, one unmanaged block it reuses) exactly as
// JSON.stringify does, and copies the result here instead of into a new string.
import { bs } from "json-as/lib/as-bs";
import { BACKFILL_MAX_BODY } from "./cloud";

export const BODY_CAPACITY: i32 = BACKFILL_MAX_BODY;

// Shared with the receive buffer (agent.ts, rxBase): a body is needed only during
// host.http_request, an answer only from on_http_response until it has been read.
const base: usize = memory.data(BODY_CAPACITY, 16);
let used: i32 = 0;

export namespace RequestBody {
  /** Empties the body (a request without one sends length 0). */
  export function reset(): void { used = 0; }

  /** Bytes written so far. */
  export function length(): i32 { return used; }

  /** Where the body starts in linear memory. */
  export function pointer(): usize { return base; }

  /** Appends `text` if it fits in the buffer; false, and nothing appended, if it does not. */
  export function append(text: string): bool {
    return appendAscii(changetype<usize>(text), <usize>text.length, BODY_CAPACITY);
  }

  /**
   * Appends `prefix` and then `value` as json-as writes it (a @json class), both or neither:
   * false, and nothing appended, if they do not fit within `limit` bytes of body.
   */
  export function appendJson<T>(prefix: string, value: T, limit: i32): bool {
    const start = bs.offset - bs.buffer; // json-as's buffer is empty between its calls
    // @ts-ignore: __SERIALIZE is what the json-as transform adds to a @json class; JSON.stringify calls it the same way
    value.__SERIALIZE(changetype<usize>(value));
    const mark = used;
    const ok = appendAscii(changetype<usize>(prefix), <usize>prefix.length, limit)
      && appendAscii(bs.buffer + start, (bs.offset - bs.buffer - start) >> 1, limit);
    if (!ok) used = mark;
    // Leave json-as's buffer as JSON.stringify leaves it.
    bs.offset = bs.buffer + start;
    bs.stackSize = 0;
    return ok;
  }
}

/**
 * The UTF-16 code units at `src` after the body, one byte each, all or nothing: every text
 * the agent sends is ASCII by construction (json/wire.ts), and a code unit outside ASCII is
 * written as `?`, as wire.ts's quoted() does.
 */
function appendAscii(src: usize, units: usize, limit: i32): bool {
  let out = base + <usize>used;
  if (out + units > base + <usize>min(limit, BODY_CAPACITY)) return false;
  const srcEnd = src + (units << 1);
  while (src < srcEnd) {
    // Four characters at a time while they are ASCII: 2% of the instructions per uplink.
    if (src + 8 <= srcEnd) {
      const four = load<u64>(src);
      if ((four & 0xFF80FF80FF80FF80) == 0) {
        store<u32>(out, <u32>(four & 0xFF) | <u32>((four >> 8) & 0xFF00) | <u32>((four >> 16) & 0xFF0000) | <u32>((four >> 24) & 0xFF000000));
        src += 8;
        out += 4;
        continue;
      }
    }
    const c = <u32>load<u16>(src);
    store<u8>(out, c < 0x80 ? c : 0x3F);
    src += 2;
    out++;
  }
  used = <i32>(out - base);
  return true;
}
