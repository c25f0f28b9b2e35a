#!/usr/bin/env bash
# The Debian packages the boards' builds and tests need, installed when missing (as root,
# as on CI: `apt-get update` first, only when something is missing); otherwise says which
# to install. The one list, used by .ci/run and by boards/linux/ci.sh (npm test).
#
#   cmake, pkg-config, libcurl4-openssl-dev   the Linux board (CMake build, HTTP(S))
#   python3-pip                               pip download of wasm3's pinned sources (once)
#   gcc-multilib                              the 32-bit glue tests (the ESP32 is 32-bit)
#   gcc-riscv64-unknown-elf,                  the bare-metal RV32 target (boards/riscv)
#   picolibc-riscv64-unknown-elf
#   qemu-system-misc                          qemu-system-riscv32, which runs it
#   valgrind                                  boards/linux/measure.sh (npm run bench, budgets)
#   openssl                                   the test CA of the fake cloud's HTTPS (cloud --tls, the TLS tests)
set -euo pipefail
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v pkg-config >/dev/null || need+=(pkg-config)
pkg-config --exists libcurl 2>/dev/null || need+=(libcurl4-openssl-dev)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
echo 'int main(void){return 0;}' | cc -m32 -x c - -o /dev/null 2>/dev/null || need+=(gcc-multilib)
command -v riscv64-unknown-elf-gcc >/dev/null || need+=(gcc-riscv64-unknown-elf)
[ -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || need+=(picolibc-riscv64-unknown-elf)
command -v qemu-system-riscv32 >/dev/null || need+=(qemu-system-misc)
command -v valgrind >/dev/null || need+=(valgrind)
command -v openssl >/dev/null || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "boards: installing Debian packages: ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "boards: missing Debian packages: sudo apt-get install ${need[*]}" >&2
  exit 1
fi
