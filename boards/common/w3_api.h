/*
 * w3_api.h - the wasm3 calls the glue makes, in the shape it wants them.
 *
 * The boards build wasm3 0.5.0 (boards/common/wasm3.cmake; its configuration is
 * wasm3.defines). agent_host.c uses wasm3's public API plus what this header offers;
 * w3_api.c is the only file that reads wasm3's internal structures (for the unresolved
 * import check and the value-stack measure), so a wasm3 upgrade is checked here first.
 */
#ifndef TRACKAGENT_W3_API_H
#define TRACKAGENT_W3_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wasm3.h"

#ifdef __cplusplus
extern "C" {
#endif

#if M3_VERSION_MAJOR != 0 || M3_VERSION_MINOR < 5
#  error "the boards need wasm3 0.5.0 or later (bulk memory): see boards/common/wasm3.cmake"
#endif

/*
 * A host function. Declare one with W3_HOST_FUNCTION(name); inside it,
 * W3_HOST_USERDATA is the pointer given to w3_link, `runtime` the runtime, and the
 * W3_ARG_* / W3_RETURN macros read arguments and write the result. Arguments are read in
 * order, once each.
 */
#define W3_HOST_FUNCTION(NAME) \
    static const void *NAME(IM3Runtime runtime, IM3ImportContext w3_ctx_, uint64_t *w3_sp_, void *w3_mem_)
#define W3_HOST_USERDATA (w3_ctx_->userdata)
typedef M3RawCall w3_host_fn_t;

/* Start of a host function that returns a value: reserves the result slot. */
#define W3_RESULT_SLOT  uint64_t *w3_ret_ = w3_sp_++; (void)w3_mem_; (void)runtime
/* Start of a host function that returns nothing. */
#define W3_NO_RESULT    (void)w3_mem_; (void)runtime

#define W3_ARG_I32(NAME)  int32_t  NAME = (int32_t)(*(uint32_t *)(void *)(w3_sp_++))
#define W3_ARG_U32(NAME)  uint32_t NAME = *(uint32_t *)(void *)(w3_sp_++)
#define W3_RETURN_I32(V)  do { *w3_ret_ = 0; *(int32_t *)(void *)w3_ret_ = (int32_t)(V); return m3Err_none; } while (0)
#define W3_RETURN_VOID    return m3Err_none

/* Links one import of module `module_name`. m3Err_functionLookupFailed means the module
 * does not import it: not an error for the caller to report. */
M3Result w3_link(IM3Module module, const char *module_name, const char *name,
                 const char *signature, w3_host_fn_t fn, void *userdata);

/* The first function the module imports that nothing was linked to, as "module.name"
 * in `out` (cut to `cap`); false when every import resolved. With lazy compilation wasm3
 * would only find out when a function calling it is first compiled, hours into a run. */
bool w3_unresolved_import(IM3Module module, char *out, size_t cap);

/* Calls an export with `argc` arguments, each in a 64-bit cell (i32 in the low half, f64
 * as its bit pattern). `ret` (may be NULL) receives the result the same way. Any error is
 * a trap or a failure to compile the function. */
M3Result w3_call(IM3Function fn, uint32_t argc, const uint64_t *args, uint64_t *ret);

/* m3_LoadModule; afterwards the module belongs to the runtime whatever the result (a
 * module that failed to load is freed here). */
M3Result w3_load(IM3Runtime runtime, IM3Module module);

/* Measurement of the wasm value stack (compiled in with AGENT_HOST_MEASURE): paint it once
 * after m3_NewRuntime, read the high-water mark in bytes later. Without AGENT_HOST_MEASURE
 * both do nothing and the mark is 0. */
void     w3_stack_paint(IM3Runtime runtime, uint32_t stack_bytes);
uint32_t w3_stack_peak(IM3Runtime runtime, uint32_t stack_bytes);

#ifdef __cplusplus
}
#endif

#endif /* TRACKAGENT_W3_API_H */
