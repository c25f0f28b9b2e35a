#!/usr/bin/env bash
# Builds wasm3_bench (this folder) against the glue (boards/common), its simulated
# platform and heap meter, and wasm3 with the boards' configuration
# (boards/common/wasm3.defines), as boards/common/test/run.sh builds the glue tests.
# Prints the binary's path.
#
#   tools/bench/wasm3/build.sh [--m32]      --m32: a 32-bit program, the ESP32's pointer size
#
# wasm3's sources: WASM3_SOURCE_DIR, else the pinned, hash-checked copy the boards' build
# fetched into build/wasm3-src (npm run build:board; boards/common/wasm3.cmake).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
common="$root/boards/common"
arch=()
suffix=native
if [ "${1:-}" = "--m32" ]; then arch=(-m32); suffix=m32; fi

w3=${WASM3_SOURCE_DIR:-}
if [ -z "$w3" ]; then
  found=$(find "$root/build/wasm3-src" -path '*/pywasm3-0.5.0/wasm3/wasm3.h' -print -quit 2>/dev/null || true)
  w3=${found%/wasm3.h}
fi
if [ -z "$w3" ] || [ ! -f "$w3/wasm3.h" ]; then
  echo "wasm3_bench: wasm3 sources not found: run npm run build:board first, or set WASM3_SOURCE_DIR" >&2
  exit 2
fi

out="$root/build/bench/wasm3-$suffix"
mkdir -p "$out/w3"
defs=()
while IFS= read -r line; do
  line=${line%%#*}; line=$(echo "$line" | tr -d '[:space:]')
  [ -n "$line" ] && defs+=("-D$line")
done < "$common/wasm3.defines"
meter=(-Dcalloc=trackagent_m3_calloc -Dmalloc=trackagent_m3_malloc -Drealloc=trackagent_m3_realloc -Dfree=trackagent_m3_free)

bin="$out/wasm3_bench"
stamp="$out/stamp"
sources=("$common"/*.c "$common"/*.h "$common/test/sim_platform.c" "$common/test/sim_platform.h" "$common/wasm3.defines"
         "$here/wasm3_bench.c" "$here/build.sh")
if [ ! -x "$bin" ] || [ ! -f "$stamp" ] || [ -n "$(find "${sources[@]}" -newer "$stamp" 2>/dev/null | head -1)" ]; then
  echo "wasm3_bench: compiling ($suffix)" >&2
  cc=${CC:-cc}
  rm -f "$out"/w3/*.o
  (cd "$out/w3" && "$cc" "${arch[@]}" -O2 -g -w "${defs[@]}" "${meter[@]}" -I"$w3" -c "$w3"/*.c)
  "$cc" "${arch[@]}" -O2 -g -std=c99 -Wall -Wextra -Werror "${defs[@]}" -DAGENT_HOST_MEASURE=1 \
    -I"$common" -I"$common/test" -I"$root/boards/linux" -isystem "$w3" \
    "$common"/*.c "$common/test/sim_platform.c" "$here/wasm3_bench.c" \
    "$out"/w3/*.o -lm -o "$bin"
  touch "$stamp"
fi
echo "$bin"
