#!/usr/bin/env bash
# What CI runs for the boards (the lead's .ci/run calls it): installs the Debian
# packages the Linux board needs when they are missing, then boards/linux/smoke.sh
# (build, glue tests native and 32-bit, the board against the fake cloud).
# Expects build/trackagent.wasm and node_modules (npm ci && npm run build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
need=()
pkg-config --exists libcurl 2>/dev/null || need+=(libcurl4-openssl-dev pkg-config)
echo 'int main(void){return 0;}' | cc -m32 -x c - -o /dev/null 2>/dev/null || need+=(gcc-multilib)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "boards/linux/ci.sh: missing Debian packages: ${need[*]}" >&2
  fi
fi
exec "$here/smoke.sh"
