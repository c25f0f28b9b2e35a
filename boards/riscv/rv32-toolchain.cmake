# rv32-toolchain.cmake - cross-compiling for a bare-metal 32-bit RISC-V core (rv32imc,
# ilp32: an ESP32-C3-class CPU) with Debian's gcc-riscv64-unknown-elf and picolibc
# (picolibc-riscv64-unknown-elf), semihosting for stdio and exit.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR riscv32)
set(CMAKE_C_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_ASM_COMPILER riscv64-unknown-elf-gcc)
set(CMAKE_AR riscv64-unknown-elf-ar CACHE FILEPATH "")
set(CMAKE_RANLIB riscv64-unknown-elf-ranlib CACHE FILEPATH "")
set(CMAKE_SIZE riscv64-unknown-elf-size CACHE FILEPATH "")
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_C_FLAGS_INIT "-march=rv32imc -mabi=ilp32 -specs=picolibc.specs")
set(CMAKE_ASM_FLAGS_INIT "-march=rv32imc -mabi=ilp32 -specs=picolibc.specs")
# (-march, -mabi and -specs reach the link through the C flags.)
set(CMAKE_EXE_LINKER_FLAGS_INIT "--oslib=semihost --crt0=semihost")
