/* w3_compat.c - see w3_compat.h. The only file that reads wasm3 internals. */
#include "w3_compat.h"

#include <stdio.h>
#include <string.h>

/*
 * wasm3 0.4 has no public way to read a function's result: it stays in the first
 * slot of the runtime's value stack, which only the internal runtime struct
 * reaches. The same struct gives the stack for the high-water measurement. The
 * internal header must see the configuration wasm3 itself was compiled with
 * (d_m3Use32BitSlots, d_m3LogOutput): the board's build passes the same defines.
 */
#if !W3_API_05 || defined(AGENT_HOST_MEASURE)
#  include "m3_env.h"
#  define W3_INTERNALS 1
#else
#  define W3_INTERNALS 0
#endif

#define W3_STACK_PAINT 0xA5u

M3Result w3_link(IM3Module module, const char *module_name, const char *name,
                 const char *signature, w3_host_fn_t fn, void *userdata)
{
    return m3_LinkRawFunctionEx(module, module_name, name, signature, fn, userdata);
}

#if W3_API_05

M3Result w3_call(IM3Runtime runtime, IM3Function fn, uint32_t argc, const uint64_t *args, uint64_t *ret)
{
    const void *argp[12];
    (void)runtime;
    if (argc > sizeof argp / sizeof argp[0]) return m3Err_argumentCountMismatch;
    for (uint32_t i = 0; i < argc; i++) argp[i] = &args[i]; /* little-endian: i32 is the low half */
    M3Result r = m3_Call(fn, argc, argp);
    if (r != m3Err_none) return r;
    if (ret != NULL) {
        *ret = 0;
        if (m3_GetRetCount(fn) == 1) {
            const void *retp[1] = { ret };
            r = m3_GetResults(fn, 1, retp);
        }
    }
    return r;
}

M3Result w3_load(IM3Runtime runtime, IM3Module module)
{
    M3Result r = m3_LoadModule(runtime, module);
    if (r != m3Err_none) m3_FreeModule(module); /* 0.5: a failed load leaves it ours */
    return r;
}

M3Result w3_run_start(IM3Module module)
{
    return m3_RunStart(module);
}

M3Result w3_compile_all(IM3Module module)
{
    return m3_CompileModule(module);
}

#else /* wasm3 0.4 */

M3Result w3_call(IM3Runtime runtime, IM3Function fn, uint32_t argc, const uint64_t *args, uint64_t *ret)
{
    /* 0.4 takes arguments as decimal text, parsed with strtoul/strtoull into the
     * slot's bits (not "human friendly": f64 is its bit pattern, negatives are
     * their two's complement). */
    char text[12][24];
    const char *argv[12];
    if (argc > sizeof argv / sizeof argv[0]) return m3Err_argumentCountMismatch;
    for (uint32_t i = 0; i < argc; i++) {
        snprintf(text[i], sizeof text[i], "%llu", (unsigned long long)args[i]);
        argv[i] = text[i];
    }
    M3Result r = m3_CallWithArgs(fn, argc, argv);
    if (r == m3Err_none && ret != NULL) memcpy(ret, runtime->stack, sizeof *ret);
    return r;
}

M3Result w3_load(IM3Runtime runtime, IM3Module module)
{
    M3Result r = m3_LoadModule(runtime, module);
    /* 0.4 links the module into the runtime before running its start function:
     * if that fails, the runtime frees it; if loading failed earlier, we must. */
    if (r != m3Err_none && runtime->modules != module) m3_FreeModule(module);
    return r;
}

M3Result w3_run_start(IM3Module module)
{
    (void)module; /* m3_LoadModule already ran it */
    return m3Err_none;
}

M3Result w3_compile_all(IM3Module module)
{
    (void)module; /* no public way in 0.4 */
    return m3Err_none;
}

#endif

#if W3_INTERNALS && defined(AGENT_HOST_MEASURE)

void w3_stack_paint(IM3Runtime runtime, uint32_t stack_bytes)
{
    if (runtime != NULL && runtime->stack != NULL) memset(runtime->stack, W3_STACK_PAINT, stack_bytes);
}

uint32_t w3_stack_peak(IM3Runtime runtime, uint32_t stack_bytes)
{
    if (runtime == NULL || runtime->stack == NULL) return 0;
    const uint8_t *s = (const uint8_t *)runtime->stack;
    uint32_t n = stack_bytes;
    while (n > 0 && s[n - 1] == W3_STACK_PAINT) n--;
    return n;
}

#else

void w3_stack_paint(IM3Runtime runtime, uint32_t stack_bytes)
{
    (void)runtime;
    (void)stack_bytes;
}

uint32_t w3_stack_peak(IM3Runtime runtime, uint32_t stack_bytes)
{
    (void)runtime;
    (void)stack_bytes;
    return 0;
}

#endif
