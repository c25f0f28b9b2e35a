#!/usr/bin/env bash
# Installs the Debian packages the Linux board needs when they are missing (as root, as on
# CI); otherwise says which to install. libcurl for HTTP(S), gcc-multilib for the 32-bit
# glue tests (the ESP32 is 32-bit).
set -euo pipefail
need=()
pkg-config --exists libcurl 2>/dev/null || need+=(libcurl4-openssl-dev pkg-config)
echo 'int main(void){return 0;}' | cc -m32 -x c - -o /dev/null 2>/dev/null || need+=(gcc-multilib)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "boards/linux: missing Debian packages: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
