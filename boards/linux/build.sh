#!/usr/bin/env bash
# Configures and builds one variant of boards/linux/CMakeLists.txt into
# build/boards/VARIANT at the repository root, quietly; prints the build directory.
#
#   boards/linux/build.sh [native|m32|native-notail|m32-notail]   (default native)
#
# m32 variants build the tests only (no 32-bit libcurl): they need gcc-multilib.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
variant=${1:-native}
args=()
case "$variant" in
  native) ;;
  native-notail) args+=(-DTRACKAGENT_NO_TAIL_CALLS=ON) ;;
  m32) args+=(-DCMAKE_C_FLAGS=-m32 -DTRACKAGENT_LINUX_BOARD=OFF) ;;
  m32-notail) args+=(-DCMAKE_C_FLAGS=-m32 -DTRACKAGENT_LINUX_BOARD=OFF -DTRACKAGENT_NO_TAIL_CALLS=ON) ;;
  *) echo "build.sh: unknown variant $variant (native, m32, native-notail, m32-notail)" >&2; exit 2 ;;
esac
out="$root/build/boards/$variant"
gen=()
[ -f "$out/CMakeCache.txt" ] || { command -v ninja >/dev/null && gen=(-G Ninja); }
log="$out.log"
mkdir -p "$out"
if ! { cmake -S "$here" -B "$out" "${gen[@]}" "${args[@]}" && cmake --build "$out" -j 2; } >"$log" 2>&1; then
  grep -E "error|Error|FATAL" "$log" | head -20 >&2 || tail -20 "$log" >&2
  echo "build.sh: the $variant build failed (whole log: $log)" >&2
  exit 1
fi
echo "$out"
