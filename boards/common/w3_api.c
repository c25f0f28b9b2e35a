/* w3_api.c - see w3_api.h. The only file that reads wasm3 internals: the internal
 * header must see the configuration wasm3 itself was compiled with (wasm3.defines), which
 * every build passes to the glue too. */
#include "w3_api.h"

#include <stdio.h>
#include <string.h>

#include "m3_env.h"

#define W3_STACK_PAINT 0xA5u

M3Result w3_link(IM3Module module, const char *module_name, const char *name,
                 const char *signature, w3_host_fn_t fn, void *userdata)
{
    return m3_LinkRawFunctionEx(module, module_name, name, signature, fn, userdata);
}

bool w3_unresolved_import(IM3Module module, char *out, size_t cap)
{
    for (uint32_t i = 0; i < module->numFunctions; i++) {
        const M3Function *f = &module->functions[i];
        /* An import has its names; linking gave it compiled code (the call trampoline). */
        if (f->import.moduleUtf8 != NULL && f->compiled == NULL) {
            if (cap > 0) snprintf(out, cap, "%s.%s", f->import.moduleUtf8, f->import.fieldUtf8 ? f->import.fieldUtf8 : "?");
            return true;
        }
    }
    if (cap > 0) out[0] = '\0';
    return false;
}

M3Result w3_call(IM3Function fn, uint32_t argc, const uint64_t *args, uint64_t *ret)
{
    const void *argp[12];
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
    if (r != m3Err_none) m3_FreeModule(module); /* a failed load leaves it ours */
    return r;
}

#if defined(AGENT_HOST_MEASURE)

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
