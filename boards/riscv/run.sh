#!/usr/bin/env bash
# The RV32 target: builds boards/riscv (CMake, rv32-toolchain.cmake) into
# build/boards/rv32, runs it bare-metal on qemu-system-riscv32 -machine virt with
# semihosting, once with eager and once with lazy compilation, each a power-on that runs
# the agent on the simulated platform for 24 virtual hours (rv32_main.c).
#
#   boards/riscv/run.sh check     checks every uplink was acknowledged, nothing trapped or
#                                 leaked, and the figures against their budgets (the rv32*
#                                 entries of test/budgets.json); prints "N passed, N failed"
#                                 (npm test, CI)
#   boards/riscv/run.sh measure   one JSON object of the figures on stdout (npm run bench)
#
# Instructions are minstret under -icount shift=0,sleep=off: QEMU retires exactly one count
# per instruction, so the figures are deterministic. Code size is what the linked image
# holds of each library (.text + .rodata + .data, from the link map, after
# --gc-sections). Needs gcc-riscv64-unknown-elf, picolibc-riscv64-unknown-elf,
# qemu-system-misc (boards/deps.sh), CMake, node, build/trackagent.wasm.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
mode=${1:-check}
out="$root/build/boards/rv32"
log="$out.log"
QEMU_LIMIT_S=600 # a hang, not a measurement: a run takes a few seconds

[ -f "$root/build/trackagent.wasm" ] || { echo "riscv: build/trackagent.wasm missing: npm run build" >&2; exit 2; }
mkdir -p "$out"
gen=()
[ -f "$out/CMakeCache.txt" ] || { command -v ninja >/dev/null && gen=(-G Ninja); }
if ! { cmake -S "$here" -B "$out" "${gen[@]}" -DCMAKE_TOOLCHAIN_FILE="$here/rv32-toolchain.cmake" &&
       cmake --build "$out" -j 2; } >"$log" 2>&1; then
  grep -E "error|Error|FATAL" "$log" | head -20 >&2
  echo "riscv: the rv32 build failed (whole log: $log)" >&2
  [ "$mode" = check ] && echo "0 passed, 1 failed"
  exit 1
fi
elf="$out/trackagent-rv32.elf"

run_qemu() { # run_qemu eager|lazy -> the program's output (semihosting console, via a file)
  local text="$out/qemu-$1.out" rc
  rm -f "$text"
  timeout "$QEMU_LIMIT_S" qemu-system-riscv32 -machine virt -m 64M -bios none -display none \
    -monitor none -serial none -icount shift=0,sleep=off -chardev file,id=semihost,path="$text" \
    -semihosting-config enable=on,target=native,chardev=semihost,arg=trackagent-rv32,arg="$1" \
    -kernel "$elf" </dev/null
  rc=$?
  cat "$text" 2>/dev/null
  return $rc
}
eager=$(run_qemu eager); eager_rc=$?
lazy=$(run_qemu lazy); lazy_rc=$?

EAGER="$eager" LAZY="$lazy" EAGER_RC=$eager_rc LAZY_RC=$lazy_rc MAP="$out/trackagent-rv32.map" MODE="$mode" \
  BUDGETS="$root/test/budgets.json" node -e '
const fs = require("fs"), env = process.env;
const parse = (text) => { const m = /^\{.*\}$/m.exec(text); return m ? JSON.parse(m[0]) : null; };
// Bytes each library contributes to the linked image, from the link map (after
// --gc-sections): input sections .text*, .rodata*, .srodata*, .data*, .sdata*.
const code = { wasm3: 0, glue: 0 };
const lines = fs.readFileSync(env.MAP, "utf8").split("\n");
let inMap = false, pending = null;
for (const line of lines) {
  if (line.startsWith("Linker script and memory map")) { inMap = true; continue; }
  if (!inMap) continue;
  const head = /^ (\.[\w.$]+)\s*(.*)$/.exec(line);
  let name = pending, rest = line;
  if (head) { name = head[1]; rest = head[2]; pending = rest.trim() ? null : name; if (!rest.trim()) continue; }
  else pending = null;
  const m = /^\s*0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$/.exec(rest);
  if (!name || !m || !/^\.(text|rodata|srodata|data|sdata)/.test(name)) continue;
  const size = parseInt(m[1], 16);
  if (m[2].startsWith("libwasm3.a(")) code.wasm3 += size;
  else if (m[2].startsWith("libtrackagent_glue.a(")) code.glue += size;
}
const eager = parse(env.EAGER), lazy = parse(env.LAZY);
const out = {
  target: "rv32imc/ilp32, qemu-system-riscv32 -machine virt, picolibc, gcc -O2",
  codeBytes: code, eager, lazy,
};
if (env.MODE === "measure") { console.log(JSON.stringify(out)); process.exit(eager && lazy ? 0 : 1); }
let passed = 0, failed = 0;
const check = (name, ok, detail = "") => { if (ok) { passed++; console.log(`ok   ${name}`); } else { failed++; console.log(`FAIL ${name} ${detail}`); } };
for (const [mode, r, rc, text] of [["eager", eager, env.EAGER_RC, env.EAGER], ["lazy", lazy, env.LAZY_RC, env.LAZY]]) {
  check(`rv32 ${mode}: runs to the end under QEMU (exit ${rc})`, r !== null && rc === "0" && /^RV32 ok$/m.test(text), text.split("\n").slice(-3).join(" | "));
  if (!r) continue;
  check(`rv32 ${mode}: ${r.hours} virtual hours, every uplink acknowledged (${r.uplinksAcked} of ${r.uplinksRecorded}, cloud ${r.cloudUplinks})`,
        r.hours >= 24 && r.uplinksAcked >= 24 * 12 && r.uplinksAcked === r.uplinksRecorded && r.cloudUplinks === r.uplinksAcked);
  check(`rv32 ${mode}: no trap, no error line, no wasm3 heap left`, r.traps === 0 && r.errorLines === 0 && r.heapEndBytes === 0);
  check(`rv32 ${mode}: ${r.instructionsPerAckedUplink.toLocaleString("en-US")} instructions per acknowledged uplink, ${r.bootInstructions.toLocaleString("en-US")} per boot, heap peak ${r.heapPeakBytes.toLocaleString("en-US")} B, native stack peak ${r.nativeStackPeakBytes.toLocaleString("en-US")} B`,
        r.instructionsPerAckedUplink > 0 && r.bootInstructions > 0 && r.heapPeakBytes > 0 && r.nativeStackPeakBytes > 0);
}
check(`rv32 code size: wasm3 ${code.wasm3.toLocaleString("en-US")} B, glue ${code.glue.toLocaleString("en-US")} B`, code.wasm3 > 0 && code.glue > 0);
if (eager && lazy) {
  const budgets = JSON.parse(fs.readFileSync(env.BUDGETS, "utf8"));
  const figures = {
    rv32InstructionsPerUplink: eager.instructionsPerAckedUplink, rv32BootInstructions: eager.bootInstructions,
    rv32HeapPeakBytes: eager.heapPeakBytes, rv32HeapPeakBytesLazy: lazy.heapPeakBytes,
    rv32NativeStackPeakBytes: Math.max(eager.nativeStackPeakBytes, lazy.nativeStackPeakBytes),
    rv32CodeBytes: code.wasm3 + code.glue,
  };
  for (const [name, value] of Object.entries(figures)) {
    const b = budgets[name];
    check(`budget ${name}: ${value.toLocaleString("en-US")} of ${b ? b.max.toLocaleString("en-US") : "?"} ${b ? b.unit : ""}`,
          b !== undefined && value <= b.max, b ? `(test/budgets.json: ${b.why})` : "(no budget in test/budgets.json)");
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
'
