#!/usr/bin/env bash
# The Linux board's checks, for CI: builds it (CMake, build.sh), runs the glue
# tests on the simulated platform (natively, and as 32-bit when gcc-multilib is
# there) and the key-value store's damage test, then runs the board against the
# fake cloud and checks what arrived. Ends with "N passed, N failed"; exit 0
# only when none failed.
#
# Needs: build/trackagent.wasm (npm run build), node_modules, CMake, a C
# compiler, libcurl headers (boards/linux/ci.sh installs the Debian packages).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
. "$here/cloud.sh"
work=$(mktemp -d)
trap 'stop_cloud; rm -rf "$work"' EXIT
passed=0 failed=0
check() { # check NAME CONDITION-EXIT-STATUS [detail]
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1 ${3:-}"; fi
}
json() { node -e "const j=JSON.parse(require('fs').readFileSync('$1','utf8'));console.log(eval('j.'+process.argv[1]))" "$2"; }

out=$("$here/build.sh" native 2>"$work/build.log")
check "cmake build" $? "$(tail -5 "$work/build.log")"
bin="$out/trackagent-linux"

mkdir "$work/kv"
res=$("$out/kv_store_test" "$work/kv" 2>&1); rc=$?
check "key-value store under damage: $(echo "$res" | grep flips | sed 's/^kv_store_test: //')" $rc "$(echo "$res" | grep FAIL)"

out=$(boards/common/test/run.sh 2>&1); rc=$?
check "glue tests (native): $(echo "$out" | tail -1)" $rc "$(echo "$out" | grep FAIL)"
if echo 'int main(void){return 0;}' | cc -m32 -x c - -o "$work/m32" 2>/dev/null; then
  out=$(boards/common/test/run.sh --m32 2>&1); rc=$?
  check "glue tests (32-bit): $(echo "$out" | tail -1)" $rc "$(echo "$out" | grep FAIL)"
fi

start_cloud "$work/cloud" || { echo "0 passed, 1 failed"; exit 1; }

"$bin" "${IDENTITY[@]}" --dev --hours 2 --json --log-level 1 >"$work/run.json" 2>"$work/run.err"
rc=$?
check "board runs 2 virtual hours (exit $rc)" $rc "$(tail -3 "$work/run.err")"
acked=$(json "$work/run.json" uplinksAcked)
recorded=$(json "$work/run.json" uplinksRecorded)
[ "$acked" -ge 20 ] && [ "$acked" = "$recorded" ]; check "every uplink acknowledged ($acked of $recorded)" $?
n=$(cloud_uplinks)
[ "$n" = "$acked" ]; check "the cloud holds them ($n)" $?
grep -q -- "$API_KEY\|$RESET_SECRET" "$work/run.err"; [ $? = 1 ]; check "no key or secret in the log" $?

"$bin" "${IDENTITY[@]}" --dev --hours 2 --json --log-level 1 --flash "$work/dev" \
  --fault-injection --trap-every 10 >"$work/trap.json" 2>"$work/trap.err"
rc=$?
check "board survives traps (exit $rc)" $rc
traps=$(json "$work/trap.json" trapsThisRun); mtraps=$(json "$work/trap.json" traps)
[ "$traps" -ge 5 ] && [ "$traps" = "$mtraps" ]; check "traps recovered and counted ($traps, module $mtraps)" $?

"$bin" "${IDENTITY[@]}" --dev --hours 0.5 --json --log-level 1 --flash "$work/dev" >"$work/again.json" 2>"$work/again.err"
boots=$(json "$work/again.json" boots)
[ "$boots" = $((traps + 2)) ] && grep -q "identity flags ignored" "$work/again.err"
check "state kept across runs in --flash (boots $boots)" $?

# A bit flipped in the module's `state` entry on disk: it reads as missing, the
# identity and the other entries survive, the board says so and keeps running.
node -e '
const fs = require("fs"), f = process.argv[1], b = fs.readFileSync(f);
let hit = 0;
for (let at = 32; at + 64 <= b.length; at += 32) {  // 32-byte slots; an entry header has "TAKE"
  if (b.toString("latin1", at, at + 4) !== "TAKE") continue;
  const key = b.toString("latin1", at + 32, at + 32 + b[at + 4]);
  if (key === "state") { b[at + 32 + b[at + 4]] ^= 0x04; hit++; }
}
fs.writeFileSync(f, b);
if (hit !== 1) process.exit(1);
' "$work/dev.kv"
check "flipped a bit in the stored state" $?
"$bin" "${IDENTITY[@]}" --dev --hours 1 --json --log-level 1 --flash "$work/dev" >"$work/damaged.json" 2>"$work/damaged.err"
rc=$?
acked=$(json "$work/damaged.json" uplinksAcked); recorded=$(json "$work/damaged.json" uplinksRecorded)
[ $rc = 0 ] && [ "$acked" -ge 10 ] && [ "$acked" = "$recorded" ] && grep -q "identity flags ignored" "$work/damaged.err" &&
  grep -q "1 damaged entry read as missing (state)" "$work/damaged.err"
check "damaged entries read as missing, identity kept, board runs (exit $rc, $acked of $recorded acked)" $? "$(grep -i 'damaged\|error' "$work/damaged.err" | head -3)"
[ "$(stat -c %a "$work/dev.kv")" = 600 ]; check "key-value store file is mode 0600" $?

"$bin" --hours 1 >/dev/null 2>"$work/bad.err"; rc=$?
[ $rc = 2 ]; check "empty store without identity flags: exit 2" $?
"$bin" --no-such-flag >/dev/null 2>&1; [ $? = 2 ]; check "unknown flag: exit 2" $?
"$bin" "${IDENTITY[@]}" --hours 0.1 >/dev/null 2>&1; [ $? = 3 ]; check "http:// refused without --dev: exit 3" $?

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
