// The module's imports: everything the agent asks of the board. Manual: assembly/ABI.md.
// Only flat types cross this line; every pointer is paired with a length.

// One log line as a message id and its argument record (assembly/logger.ts, ABI.md "log").
@external("host", "log")
export declare function host_log(level: i32, msgId: u32, argsPtr: usize, argsLen: i32): void;

@external("host", "random")
export declare function host_random(): u32;

@external("host", "kv_get")
export declare function host_kv_get(keyPtr: usize, keyLen: i32, bufPtr: usize, bufCap: i32): i32;

@external("host", "kv_set")
export declare function host_kv_set(keyPtr: usize, keyLen: i32, valPtr: usize, valLen: i32): i32;

@external("host", "flash_read")
export declare function host_flash_read(addr: u32, ptr: usize, len: i32): i32;

@external("host", "flash_program")
export declare function host_flash_program(addr: u32, ptr: usize, len: i32): i32;

@external("host", "flash_erase")
export declare function host_flash_erase(sector: u32): i32;

@external("host", "http_request")
export declare function host_http_request(
  reqId: i32, method: i32,
  urlPtr: usize, urlLen: i32,
  hdrPtr: usize, hdrLen: i32,
  bodyPtr: usize, bodyLen: i32,
  timeoutMs: i32,
): i32;

@external("host", "gnss_start")
export declare function host_gnss_start(reqId: i32, timeoutMs: i32): i32;

@external("host", "battery_percent")
export declare function host_battery_percent(): i32;

@external("host", "motion")
export declare function host_motion(): i32;
