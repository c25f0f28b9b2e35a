#!/usr/bin/env bash
# The boards for CI and `npm test`: Debian packages when missing (deps.sh), then
# boards/linux/smoke.sh (CMake build, glue tests native and 32-bit, the store's damage
# test, the board against the fake cloud) and boards/riscv/run.sh (the glue, wasm3 and the
# module bare-metal on a 32-bit RISC-V core under QEMU). `--build-only` stops after the
# Linux build. Expects build/trackagent.wasm, build/log_dictionary.c (both from npm run build)
# and node_modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/../deps.sh"
if [ "${1:-}" = "--build-only" ]; then
  "$here/build.sh" native >/dev/null
  exit 0
fi
rc=0
"$here/smoke.sh" || rc=1
"$here/../riscv/run.sh" check || rc=1
exit $rc
