// The receive buffer the host writes answers (and, before agent_start, the board
// configuration) into: ABI.md, rx_buffer / rx_capacity. Static, so it never moves or grows.
export const RX_CAPACITY: i32 = 4096;
export const rxBase: usize = memory.data(RX_CAPACITY, 16);
