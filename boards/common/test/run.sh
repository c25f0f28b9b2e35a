#!/usr/bin/env bash
# Builds (boards/linux/build.sh, CMake) and runs the glue tests: glue_test.c on
# sim_platform.c, against the same wasm3 0.5.0 and configuration as every board.
#
#   boards/common/test/run.sh                 tests, natively
#   boards/common/test/run.sh --m32           tests, as a 32-bit program (needs gcc-multilib)
#   boards/common/test/run.sh [--m32] --no-tail-calls ...
#                                             wasm3 built without sibling calls (as on Xtensa)
#   boards/common/test/run.sh [--m32] [--no-tail-calls] measure HOURS [TRAP_EVERY [WASM_STACK_KIB [lazy]]]
#                                             one measuring run, JSON on stdout
#
# Needs: build/trackagent.wasm (npm run build), node_modules (binaryen's wasm-as
# assembles probe.wat), CMake and a C compiler.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
variant=native
if [ "${1:-}" = "--m32" ]; then variant=m32; shift; fi
if [ "${1:-}" = "--no-tail-calls" ]; then variant="$variant-notail"; shift; fi

module=${TRACKAGENT_MODULE:-$root/build/trackagent.wasm}
[ -f "$module" ] || { echo "run.sh: $module missing: npm run build" >&2; exit 2; }
out=$("$root/boards/linux/build.sh" "$variant")
bin="$out/glue_test"

if [ "${1:-}" = "measure" ]; then
  shift
  exec "$bin" measure "$module" "$@"
fi

# The probe module three ways: ABI 2 (this one), ABI 3, and importing what no board provides.
wasm_as="$root/node_modules/.bin/wasm-as"
probe() { # probe NAME ABI EXTRA_IMPORT
  sed -e "s/ABI_VERSION/$2/" -e "s/EXTRA_IMPORT/$3/" "$here/probe.wat" > "$out/$1.wat"
  "$wasm_as" "$out/$1.wat" -o "$out/$1.wasm"
}
probe probe 2 ''
probe probe2 3 ''
probe probe_unresolved 2 '(import "env" "abort" (func (param i32 i32 i32 i32)))'
"$bin" test "$module" "$out/probe.wasm" "$out/probe2.wasm" "$out/probe_unresolved.wasm"
