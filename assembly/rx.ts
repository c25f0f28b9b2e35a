// The receive buffer the host writes answers (and, before agent_start, the board
// configuration) into: ABI.md, rx_buffer / rx_capacity. It is the first 4 KiB of the request
// body's memory: a body is the host's until it delivers the answer, and an answer is read
// before the next body is written, so the two never need the memory at once
// (request_body.ts). Static, so it never moves or grows.
import { RequestBody } from "./request_body";

export const RX_CAPACITY: i32 = 4096;
export const rxBase: usize = RequestBody.pointer();
