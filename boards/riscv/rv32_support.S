/*
 * rv32_support.S - the two things of the RV32 target C cannot say.
 *
 *   void rv32_call_on_stack(void (*fn)(void *), void *arg, void *stack_top)
 *       runs fn(arg) on another stack (the painted one whose deepest use is the native
 *       stack peak), then returns on this one.
 *   uint64_t rv32_instret(void)
 *       minstret/minstreth: instructions retired (QEMU counts them exactly under -icount).
 *       Zicsr is switched on for this function only: -march=rv32imc (which picks the
 *       rv32imc libraries) does not name it.
 *
 * The agent module itself is also here (agent_wasm, agent_wasm_len): .incbin keeps it in
 * the image as on a device's flash, with no conversion step.
 */
    .text
    .globl rv32_call_on_stack
    .type rv32_call_on_stack, @function
rv32_call_on_stack:
    addi sp, sp, -16
    sw ra, 12(sp)
    sw s0, 8(sp)
    mv s0, sp
    andi a2, a2, -16
    mv sp, a2
    mv t0, a0
    mv a0, a1
    jalr t0
    mv sp, s0
    lw s0, 8(sp)
    lw ra, 12(sp)
    addi sp, sp, 16
    ret
    .size rv32_call_on_stack, . - rv32_call_on_stack

    .globl rv32_instret
    .type rv32_instret, @function
    .option push
    .option arch, +zicsr
rv32_instret:
1:  csrr a1, minstreth
    csrr a0, minstret
    csrr t0, minstreth
    bne a1, t0, 1b                   /* the low word wrapped between the reads */
    ret
    .option pop
    .size rv32_instret, . - rv32_instret

    .section .rodata
    .globl agent_wasm
    .globl agent_wasm_len
    .balign 4
agent_wasm:
    .incbin TRACKAGENT_WASM_PATH
agent_wasm_end:
    .balign 4
agent_wasm_len:
    .word agent_wasm_end - agent_wasm
