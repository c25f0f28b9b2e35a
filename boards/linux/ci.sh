#!/usr/bin/env bash
# The Linux board for CI and `npm test`: Debian packages when missing (deps.sh), then
# boards/linux/smoke.sh (build, glue tests native and 32-bit, the board against the fake
# cloud). `--build-only` stops after the build. Expects build/trackagent.wasm and node_modules.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"$here/deps.sh"
if [ "${1:-}" = "--build-only" ]; then
  exec cargo build --release --quiet --manifest-path "$here/Cargo.toml"
fi
exec "$here/smoke.sh"
