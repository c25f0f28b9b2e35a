#!/usr/bin/env bash
# Builds and runs the glue tests (glue_test.c on sim_platform.c) with the
# system C compiler, against the same wasm3 sources and configuration as the
# Linux board.
#
#   boards/common/test/run.sh                 tests, natively
#   boards/common/test/run.sh --m32           tests, as a 32-bit program (needs gcc-multilib)
#   boards/common/test/run.sh [--m32] --no-tail-calls ...
#                                             wasm3 built without sibling calls (as on Xtensa)
#   boards/common/test/run.sh [--m32] measure HOURS [TRAP_EVERY [WASM_STACK_KIB [lazy]]]
#                                             one measuring run, JSON on stdout
#
# Needs: build/trackagent.wasm (npm run build), node_modules (for binaryen's
# wasm-as, which assembles probe.wat), and wasm3's sources: WASM3_SOURCE_DIR or
# those the Linux board's cargo build fetched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
common="$here/.."
arch=()
m3flags=()
suffix=native
if [ "${1:-}" = "--m32" ]; then arch=(-m32); suffix=m32; shift; fi
# Xtensa's windowed ABI has no sibling calls: each wasm3 operation nests a real
# call. -fno-optimize-sibling-calls makes x86 do the same, to see that depth.
if [ "${1:-}" = "--no-tail-calls" ]; then
  m3flags=(-fno-optimize-sibling-calls -DTRACKAGENT_NO_TAIL_CALLS); suffix="$suffix-notail"; shift
fi

w3=${WASM3_SOURCE_DIR:-$root/boards/linux/target/wasm3-src/pywasm3-0.5.0/wasm3}
if [ ! -f "$w3/wasm3.h" ]; then
  echo "run.sh: fetching wasm3 through the Linux board's build" >&2
  cargo build --release --manifest-path "$root/boards/linux/Cargo.toml" >&2
fi
module=${TRACKAGENT_MODULE:-$root/build/trackagent.wasm}
[ -f "$module" ] || { echo "run.sh: $module missing: npm run build" >&2; exit 2; }

out="$root/boards/linux/target/glue-test-$suffix"
mkdir -p "$out"
defs=()
while IFS= read -r line; do
  line=${line%%#*}; line=$(echo "$line" | tr -d '[:space:]')
  [ -n "$line" ] && defs+=("-D$line")
done < "$common/wasm3.defines"
meter=(-Dcalloc=trackagent_m3_calloc -Dmalloc=trackagent_m3_malloc -Drealloc=trackagent_m3_realloc -Dfree=trackagent_m3_free)

bin="$out/glue_test"
stamp="$out/stamp"
sources=("$common"/*.c "$common"/*.h "$here"/*.c "$here"/*.h "$common/wasm3.defines" "$root/boards/linux/heap_meter.c")
if [ ! -x "$bin" ] || [ -n "$(find "${sources[@]}" -newer "$stamp" 2>/dev/null | head -1)" ]; then
  echo "run.sh: compiling ($suffix)" >&2
  cc=${CC:-cc}
  rm -f "$out"/*.o
  (cd "$out" && "$cc" "${arch[@]}" -O2 -g -w "${m3flags[@]}" "${defs[@]}" "${meter[@]}" -I"$w3" -c "$w3"/*.c)
  "$cc" "${arch[@]}" -O2 -g -std=c99 -Wall -Wextra -Werror "${m3flags[@]}" "${defs[@]}" -DAGENT_HOST_MEASURE=1 \
    -I"$common" -I"$here" -I"$root/boards/linux" -isystem "$w3" \
    "$common"/*.c "$here"/*.c "$root/boards/linux/heap_meter.c" "$out"/*.o -lm -lpthread -o "$bin"
  touch "$stamp"
fi

if [ "${1:-}" = "measure" ]; then
  shift
  exec "$bin" measure "$module" "$@"
fi

wasm_as="$root/node_modules/.bin/wasm-as"
sed 's/ABI_VERSION/1/' "$here/probe.wat" > "$out/probe.wat"
sed 's/ABI_VERSION/2/' "$here/probe.wat" > "$out/probe2.wat"
"$wasm_as" "$out/probe.wat" -o "$out/probe.wasm"
"$wasm_as" "$out/probe2.wat" -o "$out/probe2.wasm"
"$bin" test "$module" "$out/probe.wasm" "$out/probe2.wasm"
