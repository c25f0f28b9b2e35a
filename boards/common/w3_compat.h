/*
 * w3_compat.h - the few places where wasm3 versions differ, behind one API.
 *
 * The Linux board builds the wasm3 that the crates.io crate `wasm3-sys` bundles
 * (0.4.7); an ESP-IDF build is likely to use 0.5 or later. They differ in how an
 * export is called with arguments, how its result is read, and the shape of a
 * host function. agent_host.c uses only what this header offers, so it compiles
 * against both; everything version-specific lives in w3_compat.c.
 */
#ifndef TRACKAGENT_W3_COMPAT_H
#define TRACKAGENT_W3_COMPAT_H

#include <stdbool.h>
#include <stdint.h>

#include "wasm3.h"

#ifdef __cplusplus
extern "C" {
#endif

#if M3_VERSION_MAJOR > 0 || M3_VERSION_MINOR >= 5
#  define W3_API_05 1
#else
#  define W3_API_05 0
#endif

/*
 * A host function. Declare one with W3_HOST_FUNCTION(name); inside it,
 * W3_HOST_USERDATA is the pointer given to w3_link, `runtime` the runtime, and
 * the W3_ARG_* / W3_RETURN macros read arguments and write the result.
 * Arguments are read in order, once each, before W3_RETURN (in 0.4 the result
 * overwrites the first argument's slot).
 */
#if W3_API_05
#  define W3_HOST_FUNCTION(NAME) \
     static const void *NAME(IM3Runtime runtime, IM3ImportContext w3_ctx_, uint64_t *w3_sp_, void *w3_mem_)
#  define W3_HOST_USERDATA (w3_ctx_->userdata)
typedef M3RawCall w3_host_fn_t;
#else
#  define W3_HOST_FUNCTION(NAME) \
     static const void *NAME(IM3Runtime runtime, uint64_t *w3_sp_, void *w3_mem_, void *w3_cookie_)
#  define W3_HOST_USERDATA (w3_cookie_)
typedef M3RawCallEx w3_host_fn_t;
#endif

/* Start of a host function that returns a value: reserves the result slot. */
#if W3_API_05
#  define W3_RESULT_SLOT  uint64_t *w3_ret_ = w3_sp_++; (void)w3_mem_; (void)runtime
#else
#  define W3_RESULT_SLOT  uint64_t *w3_ret_ = w3_sp_; (void)w3_mem_; (void)runtime
#endif
/* Start of a host function that returns nothing. */
#define W3_NO_RESULT      (void)w3_mem_; (void)runtime

#define W3_ARG_I32(NAME)  int32_t  NAME = (int32_t)(*(uint32_t *)(void *)(w3_sp_++))
#define W3_ARG_U32(NAME)  uint32_t NAME = *(uint32_t *)(void *)(w3_sp_++)
#define W3_RETURN_I32(V)  do { *w3_ret_ = 0; *(int32_t *)(void *)w3_ret_ = (int32_t)(V); return m3Err_none; } while (0)
#define W3_RETURN_VOID    return m3Err_none

/* Links one import of module `module_name`. m3Err_functionLookupFailed means
 * the module does not import it: not an error for the caller to report. */
M3Result w3_link(IM3Module module, const char *module_name, const char *name,
                 const char *signature, w3_host_fn_t fn, void *userdata);

/* Calls an export with `argc` arguments, each in a 64-bit cell (i32 in the low
 * half, f64 as its bit pattern). `ret` (may be NULL) receives the result the
 * same way. Any error is a trap or a failure to compile the function. */
M3Result w3_call(IM3Runtime runtime, IM3Function fn, uint32_t argc, const uint64_t *args, uint64_t *ret);

/* m3_LoadModule, and afterwards the module belongs to the runtime whatever the
 * result (0.4 may keep a module it failed to load; 0.5 never does). */
M3Result w3_load(IM3Runtime runtime, IM3Module module);

/* Runs the module's start function if this wasm3 version does not do it in
 * m3_LoadModule (0.4 does). */
M3Result w3_run_start(IM3Module module);

/* Compiles every function now (0.5; 0.4 compiles on first call only): a module
 * this wasm3 cannot compile fails at load, not as a "trap" hours later, and no
 * code page is allocated mid-run. */
M3Result w3_compile_all(IM3Module module);

/* Measurement of the wasm value stack (compiled in with AGENT_HOST_MEASURE):
 * paint it once after m3_NewRuntime, read the high-water mark in bytes later.
 * Without AGENT_HOST_MEASURE both do nothing and the mark is 0. */
void     w3_stack_paint(IM3Runtime runtime, uint32_t stack_bytes);
uint32_t w3_stack_peak(IM3Runtime runtime, uint32_t stack_bytes);

#ifdef __cplusplus
}
#endif

#endif /* TRACKAGENT_W3_COMPAT_H */
