#!/usr/bin/env bash
# Limits of the agent under wasm3, as one JSON object on stdout (logs on stderr).
#
#   board.*    the Linux board against the fake cloud, 2 virtual hours:
#              massif (peak heap of the whole process), memcheck with traps every
#              10 steps (definitely lost bytes, errors), callgrind (instructions
#              per acknowledged uplink, libcurl and loopback HTTP included), and
#              the board's own wasm3 figures (heap meter, value stack, native
#              stack on a painted 256 KiB thread).
#   sim.*      the glue on the simulated platform (no network), 24 virtual
#              hours: callgrind (deterministic instructions per acked uplink),
#              wasm3 heap as a 64-bit and as a 32-bit program, and the native
#              stack with wasm3 built without sibling calls, as on Xtensa.
#
# The ESP32 fit and the 2,000-record backlog drain under wasm3 are tools/bench's
# (wasm3/, esp32-fit.ts).
# Needs valgrind, CMake, node (fake cloud), build/trackagent.wasm; gcc-multilib
# for the 32-bit figures (skipped without it). Takes about a minute.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. "$here/cloud.sh"
work=$(mktemp -d)
trap 'stop_cloud; rm -rf "$work"' EXIT
log() { echo "measure: $*" >&2; }

out=$("$here/build.sh" native)
bin="$out/trackagent-linux"
start_cloud "$work/cloud"
run=("$bin" "${IDENTITY[@]}" --dev --hours 2 --json --log-level 0 --seed 1)

log "board: plain run"
"${run[@]}" --stack-kib 256 >"$work/plain.json"
log "board: massif"
valgrind --tool=massif --massif-out-file="$work/massif.out" "${run[@]}" >"$work/massif.json" 2>"$work/massif.err"
log "board: memcheck, traps every 10 steps"
valgrind --leak-check=full --errors-for-leak-kinds=definite "${run[@]}" --fault-injection --trap-every 10 \
  >"$work/memcheck.json" 2>"$work/memcheck.err"
log "board: callgrind"
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" "${run[@]}" >"$work/callgrind.json" 2>"$work/callgrind.err"
stop_cloud

log "sim: 24 h, native, and under callgrind"
boards/common/test/run.sh measure 24 0 8 >"$work/sim64.json"
sim_bin="$out/glue_test"
valgrind --tool=callgrind --callgrind-out-file="$work/simcg.out" "$sim_bin" measure build/trackagent.wasm 24 0 8 \
  >"$work/simcg.json" 2>"$work/simcg.err"
m32=false
if echo 'int main(void){return 0;}' | cc -m32 -x c - -o "$work/m32" 2>/dev/null; then
  m32=true
  log "sim: 32-bit, eager and lazy compile; 32-bit without sibling calls"
  boards/common/test/run.sh --m32 measure 24 0 8 >"$work/sim32.json"
  boards/common/test/run.sh --m32 measure 24 0 8 lazy >"$work/sim32lazy.json"
  boards/common/test/run.sh --m32 --no-tail-calls measure 24 0 8 >"$work/sim32nt.json"
  boards/common/test/run.sh --no-tail-calls measure 24 0 8 >"$work/sim64nt.json"
fi

WORK="$work" M32="$m32" node -e '
const fs = require("fs"), w = process.env.WORK;
const read = (f) => fs.readFileSync(w + "/" + f, "utf8");
const lines = (f) => read(f).trim().split("\n").map((l) => JSON.parse(l));
const massifPeak = () => {
  let peak = 0, heap = 0;
  for (const l of read("massif.out").split("\n")) {
    if (l.startsWith("mem_heap_B=")) heap = +l.slice(11);
    if (l.startsWith("mem_heap_extra_B=")) peak = Math.max(peak, heap + +l.slice(17));
  }
  return peak;
};
const callgrindIr = (f) => +(/^(?:summary|totals): (\d+)/m.exec(read(f)) || [0, 0])[1];
const mc = read("memcheck.err");
const num = (re) => { const m = re.exec(mc); return m ? +m[1].replace(/,/g, "") : null; };
const plain = JSON.parse(read("plain.json")), cg = JSON.parse(read("callgrind.json"));
const memj = JSON.parse(read("memcheck.json"));
const [sim64, sim64stack] = lines("sim64.json");
const [simcg] = lines("simcg.json");
const out = {
  wasm3: plain.wasm3.version,
  moduleBytes: plain.wasm3.moduleBytes,
  board: {
    hours: 2, uplinksAcked: plain.uplinksAcked,
    processHeapPeakBytes: massifPeak(),
    wasm3HeapPeakBytes: plain.wasm3.heapPeakBytes,
    linearMemoryBytes: plain.wasm3.linearMemoryBytes,
    wasmStackBytes: plain.wasm3.wasmStackBytes, wasmStackPeakBytes: plain.wasm3.wasmStackPeakBytes,
    nativeStackPeakBytes: plain.wasm3.nativeStackPeakBytes,
    importDepthPeakBytes: plain.wasm3.importDepthPeakBytes,
    memcheck: {
      traps: memj.trapsThisRun, uplinksAcked: memj.uplinksAcked,
      definitelyLostBytes: num(/definitely lost: ([\d,]+) bytes/) ?? 0,
      indirectlyLostBytes: num(/indirectly lost: ([\d,]+) bytes/) ?? 0,
      errors: num(/ERROR SUMMARY: ([\d,]+) errors/),
    },
    instructions: callgrindIr("callgrind.out"),
    instructionsPerAckedUplink: Math.round(callgrindIr("callgrind.out") / Math.max(1, cg.uplinksAcked)),
  },
  sim: {
    hours: 24, uplinksAcked: simcg.uplinksAcked,
    instructions: callgrindIr("simcg.out"),
    instructionsPerAckedUplink: Math.round(callgrindIr("simcg.out") / Math.max(1, simcg.uplinksAcked)),
    heap64PeakBytes: sim64.heapPeakBytes,
    nativeStackPeak64Bytes: sim64stack.nativeStackPeakBytes,
  },
};
if (process.env.M32 === "true") {
  const [s32, s32stack] = lines("sim32.json"), [lazy] = lines("sim32lazy.json");
  const [, nt32] = lines("sim32nt.json"), [nt64m, nt64] = lines("sim64nt.json");
  const [nt32m] = lines("sim32nt.json");
  Object.assign(out.sim, {
    heap32PeakBytes: s32.heapPeakBytes, heap32LazyPeakBytes: lazy.heapPeakBytes,
    nativeStackPeak32Bytes: s32stack.nativeStackPeakBytes,
    nativeStackPeakNoTailCalls64Bytes: nt64.nativeStackPeakBytes,
    nativeStackPeakNoTailCalls32Bytes: nt32.nativeStackPeakBytes,
    importDepthNoTailCalls32Bytes: nt32m.importDepthPeakBytes,
  });
  // Whether it fits an ESP32 is computed from measured figures and the free heap ESP-IDF
  // documents, in tools/bench/esp32-fit.ts (npm run bench), not assumed here.
}
console.log(JSON.stringify(out));
'
